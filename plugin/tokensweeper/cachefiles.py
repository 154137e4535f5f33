"""Small private files in the state dir that only make things faster.

What they hold is never the only copy of anything: a file that is missing,
damaged, or that someone other than us could have written is ignored and
rebuilt, so reading one can only ever cost a cache miss. The trust rules are
statefiles' (O_NOFOLLOW, one link, owned by us, not group/other-writable, temp
files with O_EXCL); only the answer to a failure differs: a miss, not an error.
"""

import os

from . import statefiles

# One read is enough for every file kept here (a rendered page is ~350 KB).
MAX_BYTES = 8 * 1024 * 1024


def private_dir(path):
    """True when `path` is a directory we own and nobody else may write to."""
    try:
        statefiles.check_dir(path)
    except (OSError, statefiles.UntrustedState):
        return False
    return True


def read(path):
    """The bytes of a regular file we own, or None (missing, a link, too big, not ours)."""
    try:
        data = statefiles.read_bytes(path, MAX_BYTES + 1)
    except (OSError, statefiles.UntrustedState):
        return None
    return data if len(data) <= MAX_BYTES else None


def write(path, data):
    """Replace `path` atomically with `data` (0600); False when it cannot be done, which is
    harmless: the next reader simply misses. The directory must already be private."""
    if not private_dir(os.path.dirname(path)):
        return False
    try:
        statefiles.write_atomically(path, data)
    except (OSError, statefiles.UntrustedState):
        return False
    return True
