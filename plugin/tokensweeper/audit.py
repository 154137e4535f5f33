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


WINDOW_BLOCK = 16 * 1024
WINDOW_STOP_RECORDS = 16


def read_window(since, path=None, block_size=WINDOW_BLOCK):
    """The records from `since` on (an epoch), read backwards from the end of the log in
    blocks, so that an unattended run's notice step does not read years of history.

    Writers append in time order, so reading stops, going backwards, at the
    WINDOW_STOP_RECORDS-th consecutive record older than `since`, wherever the blocks
    fall. Fewer records out of order (lines an admin pasted back, a clock set back
    for a while) do not stop it: every record from `since` on that lies after such a run
    in the file is found. A record with no valid time (epoch_of 0) counts as older; a
    damaged line neither stops nor continues a run. Returns (records in file order,
    damaged_lines) like read(since=...) over the part read.
    """
    path = path or paths.audit_log()
    try:
        fd = statefiles.open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return [], 0
    found, damaged = [], 0  # found: newest first
    older = _OlderRun()
    try:
        position = os.fstat(fd).st_size
        carry = b""  # the end of a line whose start lies in the block before
        while position > 0 and not older.ends_the_window():
            start = max(0, position - block_size)
            data = _pread_all(fd, position - start, start) + carry
            position = start
            if start > 0:
                cut = data.find(b"\n")
                if cut < 0:  # one line longer than a block: read on backwards
                    carry = data
                    continue
                carry, data = data[:cut + 1], data[cut + 1:]
            damaged += _window_lines(data, since, found, older)
    finally:
        os.close(fd)
    found.reverse()
    return found, damaged


# A record about a token is never older than the token, give or take this much (the
# server's clock and ours may disagree a little): what a reader that looks tokens up by
# identity (creation time included) may read before the oldest token's creation.
CLOCK_SLACK = 86400


def read_about(create_times, path=None):
    """The records that can mention tokens created at these times (read_window from the
    oldest, less CLOCK_SLACK): an unattended run looking up the tokens it lists reads
    their lifetime, not years of history. No times: nothing is read."""
    create_times = list(create_times)
    if not create_times:
        return [], 0
    return read_window(min(create_times) - CLOCK_SLACK, path)


class _OlderRun(object):
    """The run of consecutive records older than the window, newest first, read so far."""

    def __init__(self):
        self.records = 0

    def ends_the_window(self):
        return self.records >= WINDOW_STOP_RECORDS


def _pread_all(fd, length, offset):
    parts = []
    while length > 0:
        part = os.pread(fd, length, offset)
        if not part:
            break  # the file shrank meanwhile (it never does: it is append-only)
        parts.append(part)
        length -= len(part)
        offset += len(part)
    return b"".join(parts)


def _window_lines(data, since, found, older):
    """Add the records from `since` on in these whole lines to `found`, newest first,
    following the run of older ones; returns the number of damaged lines."""
    if not data:
        return 0  # nothing but the end of a line that starts further back
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    damaged = 0
    for raw in reversed(lines):
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:
            damaged += 1
            continue
        if not isinstance(record, dict):
            damaged += 1
            continue
        if epoch_of(record) >= since:
            found.append(record)
            older.records = 0
        else:
            older.records += 1
            if older.ends_the_window():
                break  # what lies before is older still: never read
    return damaged


def epoch_of(record):
    """A record's time as written (whole seconds), 0 when it has none that is a number:
    a line edited by hand must not stop the log from being read, filtered or sorted."""
    epoch = record.get("epoch")
    if isinstance(epoch, float) and epoch.is_integer():  # never inf or NaN
        epoch = int(epoch)
    if isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch <= MAX_EPOCH:
        return epoch  # beyond year 9999 no clock can show it: as good as none
    return 0


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
            action = action_of(token)
            counts[action] = counts.get(action, 0) + 1
        return sorted(counts.items())


RENAME_BLOCKED = "rename-blocked"


def action_of(token):
    """A token's action as the page and `tokensweeper audit` say it: the creation guard
    records a refused rename as `blocked` with `renamed_to` (the name it asked for), shown
    as "rename-blocked" (its token was made long before; the rename is what was stopped)."""
    action = token.get("action") if isinstance(token, dict) else None
    if action == "blocked" and token.get("renamed_to"):
        return RENAME_BLOCKED
    return str(action)


INTERRUPTED_ADVICE = ("recorded its intent to revoke but no outcome: it was interrupted. "
                      "Check what is left with `tokensweeper list`")


def runs(records):
    """The runs of these records, in the order each first appears (the one grouping the
    page and `tokensweeper audit` share). Each run holds readable() copies: a damaged or
    hand-edited line is shown as it is, never a crash."""
    found, order = {}, []
    for record in records:
        record = readable(record)
        run_id = record.get("run_id") or ""
        if run_id not in found:
            found[run_id] = Run(run_id)
            order.append(run_id)
        found[run_id].records.append(record)
    return [found[run_id] for run_id in order]


# -- reading a record that may have been damaged or edited by hand ----------------------
#
# Every reader of the log (the Audit tab, `tokensweeper audit`, the incident report) sees
# records through readable(): each field it knows has the type it expects, whatever JSON a
# line holds there. A value of the wrong type is kept as its JSON text where a text fits (so
# the damage shows), and dropped where a number, a map or a list is needed. The file itself
# is never changed: the download gives the lines as written.

TEXT_FIELDS = ("event", "time", "run_id", "actor", "mode", "refused", "note", "confirmation",
               "started", "finished")
TOKEN_TEXT_FIELDS = ("owner", "name", "action", "reason", "kind", "last_used", "identity",
                     "account_owner", "due", "renamed_to")
TOKEN_NUMBER_FIELDS = ("create_time", "expires_at", "due_epoch", "reminder_days")
TOKEN_FLAG_FIELDS = ("full_access", "ip_limited", "seen_from_truncated")
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: what time.gmtime can show everywhere


def readable(record):
    """A copy of one record with every known field of the type its readers expect."""
    out = dict(record)
    for field in TEXT_FIELDS:
        if field in out:
            out[field] = _text(out[field])
    out["run_id"] = out.get("run_id") or ""
    if "epoch" in out:
        out["epoch"] = epoch_of(out)
    for field in ("selectors", "owner_errors", "held_back"):
        if field in out:
            out[field] = _mapping(out[field], field == "selectors")
    if "problems" in out:
        out["problems"] = [_shown(p) for p in _list(out["problems"]) if p is not None]
    if "mail" in out:
        out["mail"] = [{"to": _text(m.get("to")) or "", "outcome": _text(m.get("outcome")) or ""}
                       for m in _list(out["mail"]) if isinstance(m, dict)]
    if "tokens" in out:
        out["tokens"] = [_token(t) for t in _list(out["tokens"]) if isinstance(t, dict)]
    return out


def _token(entry):
    out = dict(entry)
    for field in TOKEN_TEXT_FIELDS:
        if field in out:
            out[field] = _text(out[field])
    for field in TOKEN_NUMBER_FIELDS:
        if field in out:
            out[field] = _number(out[field])
    for field in TOKEN_FLAG_FIELDS:
        if field in out:
            out[field] = out[field] is True or out[field] == 1
    if "recipients" in out:
        out["recipients"] = [_shown(r) for r in _list(out["recipients"]) if r is not None]
    if "seen_from" in out:
        out["seen_from"] = [
            {"ip": _text(use.get("ip")), "uses": _number(use.get("uses")) or 0,
             "first": _text(use.get("first")), "last": _text(use.get("last"))}
            for use in _list(out["seen_from"]) if isinstance(use, dict)]
    return out


def _text(value):
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _shown(value):
    """Always a text: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _number(value):
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_EPOCH:
        return value
    return None


def _list(value):
    return value if isinstance(value, list) else []


def _mapping(value, keep_lists):
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        if keep_lists and isinstance(item, list):
            out[key] = [_shown(part) for part in item]
        elif keep_lists and (item is None or isinstance(item, (bool, int, float))):
            out[key] = item
        else:
            out[key] = _text(item)
    return out
