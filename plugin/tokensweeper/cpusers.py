"""cPanel's per-account users file, `var/cpanel/users/USER`, read-only: whether the account
is a linked node's child account, which the MailNodeLinkage protection rule asks, and
whether an account exists (the hook's check that a rename happened).

cPanel makes `MailNodeLinkage` and `MailNodeLinkage-<time>` tokens only for an account it
distributes to a linked node, and gives that account a non-empty `CHILD_WORKLOADS` line
first (`PRIVATE_createacct_child` needs at least one workload; `PRIVATE_set_child_workloads`;
Cpanel/LinkedNode/ChildWorkloads.pm). Only root writes the file, so an account cannot
claim it; any account can name a token MailNodeLinkage (docs/cpanel-notes.md).
"""

import os
import re
import stat

from . import paths

# owners.OWNER_RE's shape (that module is not cheap to import): never a path.
USER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
# A users file is a few kilobytes; a bigger one is not read (the answer is then unknown).
MAX_BYTES = 1 << 20


def users_file(user):
    return paths.cpanel_path("var", "cpanel", "users", user)


def child_workloads(user):
    """True when `user`'s users file names child workloads, False when it names none, None
    when that cannot be known (no such file, a link, not a regular file, too big, a name
    that is no user name): the caller then keeps the protection (fail safe)."""
    if not USER_RE.match(user or ""):
        return None
    try:
        text = _read(users_file(user))
    except OSError:
        return None
    if text is None:
        return None
    return bool(_value(text, "CHILD_WORKLOADS").strip())


def has_users_file(user):
    """True when `user` has a users file (a regular file: cPanel keeps one per account),
    False when there is none, None when that cannot be told (a name that is no user name,
    a link or something else in its place, a directory that cannot be read)."""
    if not USER_RE.match(user or ""):
        return None
    try:
        mode = os.lstat(users_file(user)).st_mode
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return True if stat.S_ISREG(mode) else None


def _read(path):
    """The file's text, or None when it is not a regular file within MAX_BYTES. Never
    follows a link, never waits on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(MAX_BYTES + 1)
    return None if len(data) > MAX_BYTES else data.decode("utf-8", "replace")


def _value(text, key):
    """A key's value as Cpanel::Config::LoadCpUserFile reads it: `KEY=value` lines (blanks
    before `=` ignored), `#` comment lines skipped, the last line of a key wins; "" when
    absent."""
    found = ""
    for line in text.split("\n"):
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if name.rstrip() == key:
            found = value
    return found
