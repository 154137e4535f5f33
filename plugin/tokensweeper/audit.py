"""The append-only audit log: one JSON object per line, 0600, fsynced, each line whole.

Records say what was decided and done to which token, by whom and why; they
never hold a token secret or a hook payload (the callers hand over only
Token.to_dict() facts).
"""

import errno
import fcntl
import json
import os
import time

from . import paths, statefiles


class AuditError(Exception):
    """The audit log could not be written: callers must not revoke anything."""


# time.gmtime rather than datetime.utcfromtimestamp, which Python 3.12 deprecates.
def new_run_id(now):
    import uuid  # not at the top: the overview imports this module and never needs it

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return "%s-%s" % (stamp, uuid.uuid4().hex[:6])


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def write(record, path=None):
    """Append one record durably and whole, or raise AuditError and leave the log as it was.

    A full disk can accept part of a line: the write is repeated until every byte is
    down, and on any failure the file is cut back to its previous length, so a record
    is either all there or not there at all. A line left torn by a crash (no newline at
    the end) is closed first, so a record never starts in the middle of a line. The
    file is locked while this happens: other writers (a hook's note) wait their turn.
    """
    path = path or paths.audit_log()
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        # O_NOFOLLOW, owner and mode checked: never a file others could have planted.
        fd = statefiles.open_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    except OSError as error:
        raise AuditError("cannot write the audit log %s: %s" % (path, error.strerror or error))
    except statefiles.UntrustedState as error:
        raise AuditError("cannot write the audit log: %s" % error)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.fchmod(fd, 0o600)
        _append_whole(fd, line)
    except OSError as error:
        raise AuditError("cannot write the audit log %s: %s" % (path, error.strerror or error))
    finally:
        os.close(fd)  # also drops the flock


def _append_whole(fd, line):
    start = os.fstat(fd).st_size
    if start and os.pread(fd, 1, start - 1) != b"\n":
        line = b"\n" + line  # close the torn line; read() counts it as damaged
    try:
        _write_all(fd, line)
        os.fsync(fd)
    except OSError:
        _cut_back(fd, start)
        raise


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # never seen on a regular file; do not loop forever if it happens
            raise OSError(errno.EIO, "the write stored nothing")
        view = view[written:]


def _cut_back(fd, length):
    """Remove a partly written record. Best effort: the caller reports the first error."""
    try:
        os.ftruncate(fd, length)
        os.fsync(fd)
    except OSError:
        pass


def read(path=None, since=None):
    """Records in file order, skipping a truncated or damaged line instead of failing.

    since: an epoch; older records are left out. Returns (records, damaged_lines).
    """
    path = path or paths.audit_log()
    records, damaged = [], 0
    try:
        handle = os.fdopen(statefiles.open_file(path, os.O_RDONLY), "rb")
    except FileNotFoundError:
        return records, damaged
    with handle:
        for raw in handle:
            try:
                record = json.loads(raw.decode("utf-8"))
            except ValueError:
                damaged += 1
                continue
            if not isinstance(record, dict):
                damaged += 1
                continue
            if since is not None and epoch_of(record) < since:
                continue
            records.append(record)
    return records, damaged


def epoch_of(record):
    """A record's time as written (whole seconds), 0 when it has none that is a number:
    a line edited by hand must not stop the log from being read, filtered or sorted."""
    epoch = record.get("epoch")
    if isinstance(epoch, float) and epoch.is_integer():  # never inf or NaN
        return int(epoch)
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0


class Run(object):
    """One run of the audit log, from its records in file order (intent, then
    outcome / preview / refused; a snapshot or a hook note stands alone)."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.records = []

    @property
    def final(self):
        return self.records[-1]

    @property
    def interrupted(self):
        """An intent with nothing after it: revocation started and never reported back
        (killed, crashed, or the outcome record could not be written)."""
        return self.final.get("event") == "intent"

    @property
    def epoch(self):
        return epoch_of(self.final)

    def tokens(self):
        tokens = self.final.get("tokens")
        return tokens if isinstance(tokens, list) else []

    def counts(self):
        counts = {}
        for token in self.tokens():
            action = token.get("action") if isinstance(token, dict) else None
            counts[str(action)] = counts.get(str(action), 0) + 1
        return sorted(counts.items())


INTERRUPTED_ADVICE = ("recorded its intent to revoke but no outcome: it was interrupted. "
                      "Check what is left with `tokensweeper list`")


def runs(records):
    """The runs of these records, in the order each first appears (the one grouping the
    page and `tokensweeper audit` share)."""
    found, order = {}, []
    for record in records:
        run_id = str(record.get("run_id", ""))
        if run_id not in found:
            found[run_id] = Run(run_id)
            order.append(run_id)
        found[run_id].records.append(record)
    return [found[run_id] for run_id in order]
