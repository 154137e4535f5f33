"""One sweep at a time: an fcntl lock in the state directory.

A second run fails at once (it never waits behind a long sweep, so a hook
never stalls an account action) and names the process that holds the lock.
The kernel drops the lock when its holder dies, so a crash never leaves a
stale lock behind.
"""

import errno
import fcntl
import os

from . import statefiles


class LockBusy(Exception):
    def __init__(self, path, holder):
        self.path = path
        self.holder = holder
        who = "process %s" % holder if holder else "another process"
        super(LockBusy, self).__init__("another sweep is running (%s holds %s)" % (who, path))


class SweepLock(object):
    def __init__(self, path):
        self.path = path
        self.fd = None

    @property
    def held(self):
        return self.fd is not None

    def acquire(self):
        # Never through a link planted in the state dir: the pid is written over the file.
        fd = statefiles.open_file(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(fd)
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise LockBusy(self.path, holder)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd):
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or None
    except OSError:
        return None
