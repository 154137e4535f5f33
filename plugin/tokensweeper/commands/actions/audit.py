"""`tokensweeper audit`: the audit log, one row per run, or one run's records and tokens."""

import calendar
import json
import sys
import time

from ... import audit
from ...policy import Selectors
from ...tokens import holder_of
from ..output import emit_json, fitted, footnotes, plural, reason_beside, terminal_width
from ..status import OK, USAGE, CliError
from .queue import rows as queue_rows


def run(args):
    since = None
    if args.since:
        try:
            since = calendar.timegm(time.strptime(args.since, "%Y-%m-%d"))
        except ValueError:
            raise CliError("--since: expected a date like 2026-11-01, got %r" % args.since, USAGE)
    records, damaged = audit.read(since=since)
    if damaged:
        print(
            "warning: skipped %s of the audit log that could not be read" % plural(damaged, "line"),
            file=sys.stderr,
        )
    runs = audit.runs(records)
    if args.run is not None:  # `--run ""` is a question about no run, not about every run
        return show_run(runs, args.run, args.json)
    interrupted = [run.run_id for run in runs if run.interrupted]
    for run_id in interrupted:
        print("warning: run %s %s; `tokensweeper audit --run %s` shows its tokens"
              % (run_id, audit.INTERRUPTED_ADVICE, run_id), file=sys.stderr)
    queued = queued_events()
    if args.json:
        emit_json({"records": records, "damaged_lines": damaged, "interrupted_runs": interrupted,
                   "queued_events": [entry.to_dict() for entry in queued]})
        return OK
    print(fitted([run_row(run) for run in runs],
                 ["started", "run", "actor", "mode", "event", "tokens"], terminal_width(),
                 below="tokens"))
    if runs:
        print("\n%s. `tokensweeper audit --run ID` shows one run's tokens."
              % plural(len(runs), "run"))
    if queued:
        print("\nQueued by the hook, not handled yet (a run above may have tried one and "
              "left it queued: its tokens could not be listed, or the run was cut off; "
              "`tokensweeper queue --run` handles them now):")
        print(fitted(queue_rows(queued), ["queued", "account", "event", "action"],
                     terminal_width()))
    return OK


def queued_events():
    """The hook's events still in its queue; a queue that cannot be read is a warning."""
    from ... import hookqueue
    from ...statefiles import UntrustedState

    try:
        entries, problems = hookqueue.read_queue()
    except (UntrustedState, OSError) as error:
        entries, problems = [], ["the hook's queue cannot be read: %s" % error]
    for problem in problems:
        print("warning: %s" % problem, file=sys.stderr)
    return entries


def run_row(run):
    """One line of `tokensweeper audit`: when a run started, who ran it, how it ended
    (its last record's event) and what happened to its tokens."""
    final = run.final
    summary = ", ".join("%d %s" % (n, a) for a, n in run.counts()) or "-"
    if final.get("refused"):
        # A run may have swept some owners and held others back: say both.
        summary = final["refused"] if summary == "-" else "%s; %s" % (summary, final["refused"])
    errors = final.get("owner_errors")
    if isinstance(errors, dict) and errors:
        # A run that could not list some tokens did nothing to them: never a bare "-".
        unlisted = "could not list the tokens of %s" % plural(len(errors), "holder")
        summary = unlisted if summary == "-" else "%s; %s" % (summary, unlisted)
    if run.interrupted:
        summary = "INTERRUPTED (no outcome): " + summary
    return [run.records[0].get("time", "?"), run.run_id or "?", final.get("actor", "?"),
            final.get("mode", "?"), final.get("event", "?"), summary]


def show_run(runs, run_id, as_json):
    """`audit --run ID`: one run's records and the tokens of its last record."""
    matching = [run for run in runs if run.run_id == run_id]
    if not matching:
        raise CliError("no run %s in the audit log (see `tokensweeper audit`)" % run_id)
    run = matching[0]
    if as_json:
        emit_json({"run_id": run.run_id, "interrupted": run.interrupted, "records": run.records,
                   "tokens": run.tokens()})
        return OK
    final = run.final
    print("Run %s by %s (%s)" % (run.run_id, final.get("actor", "?"), final.get("mode", "?")))
    for record in run.records:
        print("  %s  %s" % (record.get("time", "?"), record.get("event", "?")))
    if run.interrupted:
        print("INTERRUPTED: this run %s." % audit.INTERRUPTED_ADVICE)
    if final.get("selectors"):
        print("Selected by: %s" % recorded_selectors(final["selectors"]))
    for key in ("refused", "note"):
        if final.get(key):
            print("%s: %s" % (key.capitalize(), final[key]))
    errors = final.get("owner_errors")  # a line edited by hand may hold anything
    for owner, message in sorted(errors.items() if isinstance(errors, dict) else ()):
        print("Could not list %s: %s" % (owner, message))
    # Records written before kinds existed are WHM tokens'.
    rows = [[holder_of(str(t.get("owner", "?")), t.get("kind") or "whm"), t.get("name", "?"),
             audit.action_of(t) if "action" in t else "?", t.get("last_used") or "-",
             reason_beside(t.get("action"), t.get("reason", ""))]
            for t in run.tokens() if isinstance(t, dict)]
    print()
    notes = footnotes(rows, 3, [])
    print(fitted(rows, ["holder", "name", "action", "last_used", "reason"], terminal_width(),
                 notes, below="reason"))
    return OK


def recorded_selectors(selectors):
    """A run's recorded selectors for people, as `plan` says them: "expired or
    older_than_days=730, names ci-*, accounts of bob" (a hand-edited line: as it is)."""
    if not isinstance(selectors, dict):
        return json.dumps(selectors, sort_keys=True)
    joiner = " and " if selectors.get("combine", "all") == "all" else " or "
    narrowing = {"names": "names", "owners": "owners", "resellers": "accounts of"}
    criteria = []
    order = list(Selectors.CRITERIA)
    for name, value in sorted(selectors.items(),
                              key=lambda i: (order.index(i[0]) if i[0] in order else 99, i[0])):
        if name in narrowing or name == "combine":
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        criteria.append(name if value is True else "%s=%s" % (name, value))
    parts = [joiner.join(criteria)] if criteria else []
    for key, words in sorted(narrowing.items()):
        values = selectors.get(key)
        if isinstance(values, list) and values:
            parts.append("%s %s" % (words, " ".join(str(v) for v in values)))
    return ", ".join(parts) or "nothing"
