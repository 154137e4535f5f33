"""The notice step reads only the audit log's window it needs (issue 27): audit.read_window
reads backwards from the end and stops at a whole block of older records; notify asks for
the records from the creation of the oldest token it looks up. Same notices as a full read.

Runs on every Python of the matrix (3.6 syntax).
"""

import json
import os
import random

import pytest

from tests.helpers import DAY, NOW
from tokensweeper import audit, config, notify
from tokensweeper.policy import Protection, Selectors, make_plan
from tokensweeper.tokens import Token

YEAR = 365 * DAY


@pytest.fixture
def log_path(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    return str(state / "audit.log")


def line(epoch, run, **extra):
    body = {"event": "outcome", "epoch": epoch, "run_id": "run-%s" % run,
            "tokens": [{"owner": "root", "name": "t-%s-%d" % (run, i), "action": "kept"}
                       for i in range(3)]}
    body.update(extra)
    return (json.dumps(body, sort_keys=True) + "\n").encode("utf-8")


def write_log(path, chunks):
    with open(path, "wb") as handle:
        handle.write(b"".join(chunks))
    os.chmod(path, 0o600)


class Reads(object):
    """Counts the bytes audit.read_window asks of the log (os.pread)."""

    def __init__(self, monkeypatch):
        self.bytes = 0
        real = os.pread

        def pread(fd, length, offset):
            data = real(fd, length, offset)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(audit.os, "pread", pread)


def run_ids(records):
    return [record["run_id"] for record in records]


def test_the_window_holds_exactly_what_a_full_read_from_since_holds(log_path):
    """Lines crossing block edges, a line longer than a block, a blank line, a non-object,
    and a torn last line: the window is read(since=...)'s answer, for any block size."""
    chunks = [line(NOW - YEAR + n * DAY, n) for n in range(200)]
    chunks.insert(50, b"\n")
    chunks.insert(120, b"[1, 2]\n")
    chunks.insert(150, line(NOW - YEAR + 149 * DAY + 1, "long", note="x" * 5000))
    # A crash cut the last record short, after more than a block of it was written.
    chunks.append(b'{"event": "outcome", "note": "' + b"y" * 700)
    write_log(log_path, chunks)
    for since in (0, NOW - YEAR + 10 * DAY, NOW - YEAR + 140 * DAY, NOW - YEAR + 199 * DAY,
                  NOW):
        expected, _damaged = audit.read(since=since)
        for block in (1, 37, 300, 4096, audit.WINDOW_BLOCK):
            got, damaged = audit.read_window(since, block_size=block)
            assert got == expected, (since, block)
            assert damaged >= 1  # the torn last line is always within reach
    for block in (1, 37, 300, 4096, 10 ** 7):  # the whole log: damaged lines too
        assert audit.read_window(0, block_size=block) == audit.read() == (audit.read()[0], 3)
    assert run_ids(audit.read_window(0)[0])[-2:] == ["run-198", "run-199"]


def test_short_reads_and_a_log_cut_short_while_read(log_path, monkeypatch):
    """pread may return less than asked; a file shorter than its size said (never ours:
    the log only grows) ends the reading there instead of failing."""
    write_log(log_path, [line(NOW - n * DAY, n) for n in range(40, 0, -1)])
    expected = audit.read(since=NOW - 30 * DAY)
    real = os.pread
    monkeypatch.setattr(audit.os, "pread", lambda fd, length, offset: real(fd, min(length, 7),
                                                                           offset))
    for block in (1, 64, 1000, audit.WINDOW_BLOCK):
        assert audit.read_window(NOW - 30 * DAY, block_size=block) == expected, block
    size = os.path.getsize(log_path)
    monkeypatch.setattr(audit.os, "pread", lambda fd, length, offset: real(
        fd, min(length, max(0, size - 200 - offset)), offset))
    records, damaged = audit.read_window(0, block_size=100)
    assert run_ids(records) == ["run-%d" % n for n in range(40, 0, -1)][:len(records)]
    assert len(records) < 40 and damaged <= 1


def test_sixteen_older_records_in_a_row_end_the_window_fifteen_do_not(log_path):
    """The exact rule, wherever the blocks fall: the 16th (WINDOW_STOP_RECORDS)
    consecutive record older than the window stops the reading; 15 pasted back between
    newer ones, or at the end, do not."""
    since = NOW - 10 * DAY
    for older, found in ((audit.WINDOW_STOP_RECORDS - 1, True),
                         (audit.WINDOW_STOP_RECORDS, False)):
        pasted = [line(NOW - YEAR + n, "pasted-%d" % n) for n in range(older)]
        write_log(log_path, [line(since + DAY, "early"), line(since, "edge")] + pasted + [
            line(since + 2 * DAY, "late"), b"\n", b"[1]\n", line(None, "no-time")])
        for block in (1, 50, 333, audit.WINDOW_BLOCK):
            records, damaged = audit.read_window(since, block_size=block)
            expected = ["run-early", "run-edge", "run-late"] if found else ["run-late"]
            assert (run_ids(records), damaged) == (expected, 2), (older, block)
        write_log(log_path, [line(since, "edge")] + pasted)  # the run reaches the end
        for block in (1, 333, audit.WINDOW_BLOCK):
            expected = ["run-edge"] if found else []
            assert run_ids(audit.read_window(since, block_size=block)[0]) == expected


def test_reading_stops_at_the_first_block_of_older_records(log_path, monkeypatch):
    old = [line(NOW - 5 * YEAR + n * 3600, "old-%d" % n) for n in range(20000)]
    new = [line(NOW - 2 * DAY + n, "new-%d" % n) for n in range(5)]
    write_log(log_path, old + new)
    reads = Reads(monkeypatch)
    records, damaged = audit.read_window(NOW - 3 * DAY, block_size=4096)
    assert run_ids(records) == ["run-new-%d" % n for n in range(5)] and damaged == 0
    size = os.path.getsize(log_path)
    assert reads.bytes <= 3 * 4096 < size // 100


def test_a_record_out_of_order_does_not_hide_the_window(log_path):
    """A line an admin pasted back (old epoch), a hand-edited one without a valid time, at
    the end and in the middle of the window: every record of the window is still found."""
    since = NOW - 10 * DAY
    chunks = [line(NOW - YEAR + n * DAY, "old-%d" % n) for n in range(300)]
    chunks += [line(since + n * DAY, "in-%d" % n) for n in range(3)]
    chunks += [line(NOW - 2 * YEAR, "pasted"), line("yesterday", "edited")]
    chunks += [line(since + 5 * DAY, "in-5")]
    chunks += [line(NOW - 3 * YEAR, "pasted-last"), line(None, "no-time")]
    write_log(log_path, chunks)
    for block in (64, 512, audit.WINDOW_BLOCK):
        records, _damaged = audit.read_window(since, block_size=block)
        assert run_ids(records) == ["run-in-0", "run-in-1", "run-in-2", "run-in-5"], block


def test_many_older_records_pasted_together_end_the_window(log_path):
    """The decided limit: a record of the window that lies before 16 or more older records
    in a row (lines pasted back by hand) is not read."""
    since = NOW - 10 * DAY
    chunks = [line(since + DAY, "early")]
    chunks += [line(NOW - YEAR + n, "pasted-%d" % n) for n in range(40)]
    chunks += [line(since + 2 * DAY, "late")]
    write_log(log_path, chunks)
    for block in (256, audit.WINDOW_BLOCK):
        assert run_ids(audit.read_window(since, block_size=block)[0]) == ["run-late"]


def test_no_log_is_no_records(log_path):
    assert audit.read_window(NOW) == ([], 0)


# -- the notice step's window ------------------------------------------------------------

NOTIFY_CONFIG = """\
mode: enforce
max_revoke_per_run: %d
policy:
  expired: true
notify:
  notice_days: 7
  expiry_reminders: [7, 1]
  recipients: [contact]
"""


def cfg_of(cap=50):
    return config.Config(config.parse(NOTIFY_CONFIG % cap), "test", False)


def notice_record(sent, tokens, action=notify.NOTICE):
    entries = []
    for token in tokens:
        entry = {"owner": token.owner, "name": token.name, "identity": token.identity(),
                 "action": action}
        if action == notify.NOTICE:
            entry["due_epoch"] = (sent // DAY + 7) * DAY
        elif action == notify.REMINDER:
            entry["reminder_days"] = 7
        entries.append(entry)
    return (json.dumps({"event": notify.NOTICE_EVENT, "epoch": sent, "run_id": "n-%d" % sent,
                        "tokens": entries}, sort_keys=True) + "\n").encode("utf-8")


def described(plan):
    return {key: state.describe() for key, state in sorted(plan.notices.items())}


def weigh_both_ways(tokens, now):
    """(states from the window, states from a full read, reminders both ways)."""
    cfg = cfg_of()
    windowed = make_plan(tokens, None, Selectors(expired=True), Protection(), now)
    notify.weigh(windowed, cfg, now)
    full = make_plan(tokens, None, Selectors(expired=True), Protection(), now)
    records, _ = audit.read()
    notify.weigh(full, cfg, now, records=records)
    since = notify.window_start(windowed, cfg, now)
    reminders = [notify.due_reminders(tokens, notify.history(found)[1], [7, 1], now)
                 for found in (audit.read_window(since)[0], records)]
    return described(windowed), described(full), reminders


def test_the_window_gives_the_same_notices_and_reminders_as_the_whole_log(log_path):
    """Five years of runs with notices, notices that reached nobody and reminders for
    tokens old and new, some re-created under the same name: the notice states and the
    reminders due are those of a full read, at several moments."""
    rng = random.Random(27)
    tokens, earlier = [], []  # listed now; earlier tokens of the same names (re-created)
    for n in range(80):
        created = NOW - rng.randrange(1, 5 * 365) * DAY - rng.randrange(DAY)
        expires = created + rng.choice([30, 200, 400, 2000]) * DAY
        owner = tokens[n - 60].owner if n >= 60 else rng.choice(["root", "res1", "res2"])
        made = Token(owner, "ci-%d" % (n % 60), created, expires)
        (earlier if n >= 60 else tokens).append(made)
    chunks = []
    for day_number in range(5 * 365, -1, -1):
        moment = NOW - day_number * DAY
        chunks.append(line(moment, "cron-%d" % day_number))
        known = [t for t in tokens + earlier if t.create_time <= moment]
        if known and rng.random() < 0.2:
            chosen = rng.sample(known, min(len(known), rng.randrange(1, 4)))
            action = rng.choice([notify.NOTICE, notify.NOTICE, notify.NOT_DELIVERED,
                                 notify.REMINDER])
            chunks.append(notice_record(moment + 60, chosen, action))
        for token in tokens[:10:2]:  # reminded 5 days before expiring
            if moment <= token.expires_at - 5 * DAY < moment + DAY:
                chunks.append(notice_record(moment + 120, [token], notify.REMINDER))
    write_log(log_path, chunks)
    seen, reminded = [], 0
    moments = [token.expires_at - 3 * DAY for token in tokens[:10]]
    for now in moments + [NOW - 2 * YEAR, NOW - YEAR, NOW - 30 * DAY, NOW - 3 * DAY, NOW + DAY]:
        windowed, full, reminders = weigh_both_ways(tokens, now)
        assert windowed == full and reminders[0] == reminders[1], now
        seen.extend(full.values())
        reminded += len(reminders[1])
    for kind in ("notice sent", "no notice yet: the notice of", "would send a notice now"):
        assert any(state.startswith(kind) for state in seen), kind
    assert 0 < reminded < len(moments)  # the ones reminded 5 days before are not reminded again


def test_a_notice_older_than_notice_days_still_counts(log_path):
    """A token noticed 40 days ago and kept meanwhile (the cap deferred its holder, or the
    mode was preview) is due now: a window of notice_days alone would tell it again and
    put its revocation off by another week, run after run."""
    old = Token("res1", "ci-old", NOW - 400 * DAY, NOW - 45 * DAY)
    chunks = [line(NOW - 3 * YEAR + n * DAY, "before-%d" % n) for n in range(900)]
    chunks.append(notice_record(NOW - 40 * DAY, [old]))
    chunks += [line(NOW - 39 * DAY + n * DAY, "after-%d" % n) for n in range(39)]
    write_log(log_path, chunks)
    windowed, full, _reminders = weigh_both_ways([old], NOW)
    assert windowed == full == {("res1", "ci-old"): "notice sent on %s, revocation due on %s"
                                % (notify.day(NOW - 40 * DAY), notify.day(NOW - 33 * DAY))}


def bytes_read():
    """What this process has read so far (read, pread, ...), as Linux counts it."""
    with open("/proc/self/io") as handle:
        for row in handle:
            if row.startswith("rchar:"):
                return int(row.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_the_unattended_run_reads_only_back_to_its_oldest_selected_token(log_path):
    """Five years of log, the selected tokens created in the last month: the notice step
    reads a few blocks, not the log (and a block or two when nothing is selected)."""
    fresh = Token("res1", "ci-fresh", NOW - 20 * DAY, NOW - DAY)
    chunks = [line(NOW - 5 * YEAR + n * 3600, "cron-%d" % n) for n in range(5 * 365 * 24)]
    chunks.append(notice_record(NOW - 10 * DAY, [fresh]))
    write_log(log_path, chunks)
    size = os.path.getsize(log_path)
    cfg = cfg_of()
    plan = make_plan([fresh], None, Selectors(expired=True), Protection(), NOW)
    before = bytes_read()
    notify.weigh(plan, cfg, NOW)
    used = bytes_read() - before
    assert described(plan) == {("res1", "ci-fresh"): "notice sent on %s, revocation due on %s"
                               % (notify.day(NOW - 10 * DAY), notify.day(NOW - 3 * DAY))}
    assert used < size // 20
    nothing = make_plan([Token("res1", "kept", NOW - DAY)], None, Selectors(expired=True),
                        Protection(), NOW)
    before = bytes_read()
    assert notify.weigh(nothing, cfg, NOW) == {}
    assert bytes_read() - before <= 2 * audit.WINDOW_BLOCK + 4096
