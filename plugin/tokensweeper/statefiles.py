"""Files in the state directory, used only while nobody but root can steer them.

The state directory (var/cpanel/tokensweeper) holds the sweep lock, the CSRF key,
the audit log and caches that decide what is revoked and what the page shows. If
it were ever not root's alone (a mistaken chmod, a restored backup), a local user
could plant a symlink there to truncate a root file through sweep.lock, choose the
CSRF key, or poison a cache. So every state file goes through this module:

- the directory is created 0700 whatever the umask, and is used only while it is
  owned by root (the effective uid) and not writable by group or others;
- a file is opened with O_NOFOLLOW (and O_NONBLOCK: a FIFO never stalls a reader)
  and used only while it is a regular file with one link, owned by root and not
  writable by group or others;
- a file is replaced by writing a new temporary file (O_EXCL, never an existing
  one) and renaming it into place.

Anything else is refused with UntrustedState, whose message names the path and
why, so an administrator can fix it (`chown root`, `chmod go-w`, or delete it).
"""

import binascii
import errno
import os
import stat

from . import paths

DIR_MODE = 0o700
FILE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UntrustedState(Exception):
    """A state directory or file that others could have written: it is not used."""

    def __init__(self, path, why):
        self.path = path
        self.why = why
        super(UntrustedState, self).__init__(
            "refusing to use %s: %s (it must be root's alone: owned by root, not writable by "
            "group or others, not a link)" % (path, why))


def _check_owner_and_mode(path, info, what):
    if info.st_uid != os.geteuid():
        raise UntrustedState(path, "the %s is owned by uid %d, not by root" % (what, info.st_uid))
    if info.st_mode & 0o022:
        raise UntrustedState(path, "the %s is writable by group or others (mode %04o)"
                             % (what, stat.S_IMODE(info.st_mode)))


def check_dir(directory):
    """Raise UntrustedState unless `directory` is a directory root alone can write to.
    A missing directory raises FileNotFoundError."""
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedState(directory, "it is not a directory")
    _check_owner_and_mode(directory, info, "directory")


def ensure_dir(directory=None):
    """The state directory, created 0700 (whatever the umask) when missing, and checked."""
    directory = directory or paths.state_dir()
    try:
        os.makedirs(os.path.dirname(directory) or ".", exist_ok=True)
        os.mkdir(directory, DIR_MODE)
    except FileExistsError:
        pass
    else:
        os.chmod(directory, DIR_MODE)  # mkdir's mode is narrowed by the umask, never widened
    check_dir(directory)
    return directory


def check_file(path, fd):
    """Raise UntrustedState unless the open `fd` is a file root alone could have written."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UntrustedState(path, "it is not a regular file")
    if info.st_nlink != 1:
        # A hard link made while the directory was open could point at any root file.
        raise UntrustedState(path, "it has %d hard links" % info.st_nlink)
    _check_owner_and_mode(path, info, "file")


def open_file(path, flags, mode=FILE_MODE):
    """A file descriptor for a state file, checked. Creating (O_CREAT) also ensures the
    directory; reading a missing file raises FileNotFoundError as open() would."""
    directory = os.path.dirname(path)
    if flags & os.O_CREAT:
        ensure_dir(directory)
    else:
        check_dir(directory)
    try:
        # O_NONBLOCK: opening a FIFO would wait for a writer (no effect on a regular file,
        # which is all check_file lets through).
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UntrustedState(path, "it is a symbolic link")
        raise
    try:
        check_file(path, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path, limit=None):
    """The content of a state file (at most `limit` bytes), checked first."""
    fd = open_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit)


def _temporary_name(path):
    suffix = binascii.hexlify(os.urandom(6)).decode("ascii")
    return os.path.join(os.path.dirname(path), ".%s.%s.tmp" % (os.path.basename(path), suffix))


def _write_new(path, data):
    """Write `data` to a new temporary file next to `path`; returns its name. O_EXCL: an
    existing name (or a planted link) is never written through."""
    temporary = _temporary_name(path)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                 FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as error:
        _unlink_quietly(temporary)
        if error.filename is not None:
            raise
        # A failed write names no file (a full disk: "[Errno 28] No space left on device"):
        # the admin is told which state file could not be written.
        raise OSError(error.errno, error.strerror, path)
    except BaseException:
        _unlink_quietly(temporary)
        raise
    return temporary


def write_atomically(path, data):
    """Replace the state file `path` with `data` (0600). The rename replaces a planted link
    itself, never its target."""
    ensure_dir(os.path.dirname(path))
    temporary = _write_new(path, data)
    try:
        os.rename(temporary, path)
    except BaseException:
        _unlink_quietly(temporary)
        raise


def create_once(path, data):
    """Create the state file `path` with `data` unless it exists (then leave it alone).
    Linked into place whole, so a reader never sees it half written."""
    ensure_dir(os.path.dirname(path))
    temporary = _write_new(path, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        _unlink_quietly(temporary)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def list_names(directory):
    """The names in a state directory (checked first: ours alone). A missing directory has
    none."""
    try:
        check_dir(directory)
    except FileNotFoundError:
        return []
    return sorted(os.listdir(directory))


def remove(path):
    """Remove a state file (unlink never follows a link: a planted one goes, not its
    target). A file already gone is fine."""
    check_dir(os.path.dirname(path))
    _unlink_quietly(path)
