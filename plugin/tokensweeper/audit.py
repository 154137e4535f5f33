"""The append-only audit log: one JSON object per line, 0600, fsynced.

Records say what was decided and done to which token, by whom and why; they
never hold a token secret or a hook payload (the callers hand over only
Token.to_dict() facts).
"""

import json
import os
import time
import uuid

from . import paths


class AuditError(Exception):
    """The audit log could not be written: callers must not revoke anything."""


# time.gmtime rather than datetime.utcfromtimestamp, which Python 3.12 deprecates.
def new_run_id(now):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return "%s-%s" % (stamp, uuid.uuid4().hex[:6])


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def write(record, path=None):
    """Append one record durably. Raises AuditError when that is impossible."""
    path = path or paths.audit_log()
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise AuditError("cannot write the audit log %s: %s" % (path, error.strerror or error))


def read(path=None, since=None):
    """Records in file order, skipping a truncated or damaged line instead of failing.

    since: an epoch; older records are left out. Returns (records, damaged_lines).
    """
    path = path or paths.audit_log()
    records, damaged = [], 0
    try:
        handle = open(path, "rb")
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
            if since is not None and record.get("epoch", 0) < since:
                continue
            records.append(record)
    return records, damaged
