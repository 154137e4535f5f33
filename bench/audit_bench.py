"""The notice step's audit reading (issue 27): an unattended run (cron's `sweep --scheduled`,
the hook's queued sweep) reads the audit log for notices and reminders. On a server with a
5-year audit log (generated here: every day a scheduled run's record, a dozen hook records
and now and then a notice), the selected tokens created within the last WINDOW_DAYS:

  window:  what the notice step does, audit.read_window(notify.window_start(...)) and
           notify.history, backwards from the end;
  whole:   the same notices from audit.read() of the whole log (what it did before);
  exact:   the floor: the window's lines alone, read from an offset known in advance.

Timed in this process, the log in the page cache, medians of RUNS after a warm-up.
"""
import json
import os
import time

from common import NOW, Row, Samples

from tokensweeper import audit, config, notify
from tokensweeper.policy import Protection, Selectors, make_plan
from tokensweeper.tokens import Token

DAY = 86400
YEARS = 5
WINDOW_DAYS = 30
HOOK_RECORDS_PER_DAY = 12
TOKENS_PER_RUN = 10
SELECTED = 20
RUNS = 15
AT_MOST_OF_WHOLE = 0.1
AT_MOST_OF_EXACT = 2.0
CONFIG = "mode: enforce\npolicy:\n  expired: true\nnotify:\n  notice_days: 7\n" \
         "  expiry_reminders: [7, 1]\n  recipients: [contact]\n"


def dumps(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def scheduled_run(moment, number):
    tokens = [{"owner": "reseller%03d" % (i % 40), "name": "deploy-%d-%d" % (number, i),
               "action": "revoked" if i % 3 else "kept", "reason": "expired on some day, "
               "long ago", "kind": "whm", "create_time": moment - 400 * DAY, "expires_at":
               moment - 30 * DAY, "full_access": True, "identity": "reseller%03d:deploy-%d-%d:"
               "%d:0123456789ab" % (i % 40, number, i, moment - 400 * DAY)}
              for i in range(TOKENS_PER_RUN)]
    return {"event": "outcome", "time": audit.iso(moment), "epoch": moment, "run_id":
            "run-%d" % number, "actor": "cron", "mode": "enforce", "selectors":
            {"expired": True}, "tokens": tokens}


def hook_record(moment, number, index):
    return {"event": "hook", "time": audit.iso(moment), "epoch": moment, "run_id":
            "hook-%d-%d" % (number, index), "actor": "hook:Accounts::suspendacct",
            "note": "queued a sweep of user%05d's tokens" % (number * 7 + index)}


def notice_record(moment, tokens):
    return {"event": notify.NOTICE_EVENT, "time": audit.iso(moment), "epoch": moment,
            "run_id": "notice-%d" % moment, "actor": "cron", "mode": "enforce",
            "tokens": [{"owner": t.owner, "name": t.name, "identity": t.identity(),
                        "action": notify.NOTICE, "due_epoch": (moment // DAY + 7) * DAY,
                        "reason": "expired"} for t in tokens]}


def generate(path, selected):
    """The log, and the byte offset where the window's first record starts."""
    window_offset = None
    start = NOW - WINDOW_DAYS * DAY - DAY  # window_start: the oldest creation less a day
    with open(path, "w") as handle:
        days = YEARS * 365
        for number in range(days):
            moment = NOW - (days - number) * DAY + 3 * 3600
            records = [scheduled_run(moment, number)]
            records += [hook_record(moment + 600 * (i + 1), number, i)
                        for i in range(HOOK_RECORDS_PER_DAY)]
            noticed = [t for t in selected if t.create_time <= moment]
            if noticed and number % 5 == 0:
                records.append(notice_record(moment + 60, noticed[:3]))
            for record in records:
                if window_offset is None and record["epoch"] >= start:
                    window_offset = handle.tell()
                handle.write(dumps(record))
    os.chmod(path, 0o600)
    return window_offset


def timed(work):
    def measure():
        started = time.perf_counter()
        work()
        return time.perf_counter() - started
    return measure


def repeat(measure):
    measure()
    return Samples(measure() for _ in range(RUNS))


def rows(workdir, log):
    state = os.path.join(workdir, "state")
    os.makedirs(state, mode=0o700)
    os.environ["TOKENSWEEPER_STATE_DIR"] = state
    path = os.path.join(state, "audit.log")
    selected = [Token("reseller%03d" % (i % 7), "ci-%d" % i,
                      NOW - (WINDOW_DAYS - i) * DAY, NOW - DAY) for i in range(SELECTED)]
    started = time.time()
    window_offset = generate(path, selected)
    size_mb = os.path.getsize(path) / 1048576.0
    log("  generated a %d-year audit log, %.1f MB, in %.1f s" % (YEARS, size_mb,
                                                                  time.time() - started))
    cfg = config.Config(config.parse(CONFIG), "bench", False)
    plan = make_plan(selected, None, Selectors(expired=True), Protection(), NOW)
    since = notify.window_start(plan, cfg, NOW)
    found = {}

    def window():
        records, _ = audit.read_window(since, path)
        found["window"] = notify.history(records)

    def whole():
        records, _ = audit.read(path)
        found["whole"] = notify.history(records)

    def exact():
        with open(path, "rb") as handle:
            handle.seek(window_offset)
            records = [json.loads(raw.decode("utf-8")) for raw in handle]
        found["exact"] = notify.history(records)

    ours, full, floor = repeat(timed(window)), repeat(timed(whole)), repeat(timed(exact))
    if not (found["window"][0].keys() == found["whole"][0].keys() == found["exact"][0].keys()
            and found["window"][0]):
        raise AssertionError("the window's notices differ from the whole log's")
    what = "notice step's audit read, %d-year log (%.0f MB), tokens of the last %d days" % (
        YEARS, size_mb, WINDOW_DAYS)
    log("  window %.1f ms, whole log %.0f ms, the window's lines alone %.1f ms" % (
        ours.median * 1000, full.median * 1000, floor.median * 1000))
    return [
        Row("audit_window_whole", what + ": vs the whole log", "s", ours, full,
            "<= %gx the whole log" % AT_MOST_OF_WHOLE,
            lambda row: row.ratio <= AT_MOST_OF_WHOLE,
            "the window read backwards from the end against audit.read() of every record, "
            "both followed by notify.history (what the notice step did before issue 27)"),
        Row("audit_window_exact", what + ": vs its lines alone", "s", ours, floor,
            "<= %gx" % AT_MOST_OF_EXACT, lambda row: row.ratio <= AT_MOST_OF_EXACT,
            "floor: the window's lines parsed from an offset known in advance; ours also "
            "reads the block whose 16 older records tell it where to stop"),
    ], {}
