"""Small private files in the state dir that only make things faster.

What they hold is never the only copy of anything: a file that is missing,
damaged, or that someone other than us could have written is ignored and
rebuilt, so reading one can only ever cost a cache miss.
"""

import os
import stat

# One read is enough for every file kept here (a rendered page is ~350 KB).
MAX_BYTES = 8 * 1024 * 1024


def trusted(info):
    """Ours, and writable by nobody else: run as root, anything else could be forged."""
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def private_dir(path):
    """True when `path` is a directory we own and nobody else may write to."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return os.path.isdir(path) and trusted(info)


def read(path):
    """The bytes of a regular file we own, or None (missing, a symlink, too big, not ours)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not (trusted(info) and _regular(info)) or info.st_size > MAX_BYTES:
            return None
        data = handle.read(MAX_BYTES + 1)
    return data if len(data) <= MAX_BYTES else None


def write(path, data):
    """Replace `path` atomically with `data` (0600); False when it cannot be done, which is
    harmless: the next reader simply misses. The directory must already be private."""
    directory = os.path.dirname(path)
    if not private_dir(directory):
        return False
    import tempfile  # writes are rare; reads are on every page load

    try:
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)  # 0600
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.rename(temporary, path)
        return True
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return False


def _regular(info):
    return stat.S_ISREG(info.st_mode)
