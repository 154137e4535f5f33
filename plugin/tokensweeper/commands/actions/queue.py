"""`tokensweeper queue`: the hook's account events waiting for its worker (hookqueue.py);
`--run` handles them now, as the worker would (the scheduled run does too)."""

import sys

from ... import clock, hookqueue
from ...lock import LockBusy
from ..output import emit_json, plural, table
from ..status import FAILURE, OK


def run(args):
    if args.run:
        return handle_now(args.json)
    entries, problems = hookqueue.read_queue()
    for problem in problems:
        print("warning: %s" % problem, file=sys.stderr)
    if args.json:
        emit_json({"queued": [entry.to_dict() for entry in entries], "problems": problems})
        return OK
    if not entries:
        print("No hook events are waiting.")
        return OK
    print(table(rows(entries), ["queued", "account", "event", "action"]))
    print("\n%s waiting for the hook's worker. `tokensweeper queue --run` handles them now."
          % plural(len(entries), "event"))
    return OK


def rows(entries):
    return [[hookqueue._iso(entry.epoch), entry.account, entry.event, entry.action]
            for entry in entries]


def handle_now(as_json=False, quiet=False, stream=None):
    """Handle the queue in this process, without waiting for a storm to settle. A worker
    that is running already handles it: then nothing is done here. `stream`: where the
    lines go (stdout; `sweep --scheduled --json` keeps its stdout for its document)."""
    stream = stream or sys.stdout
    lock = hookqueue.worker_lock()
    try:
        lock.acquire()
    except LockBusy as error:
        message = "The hook's worker is handling the queue now (%s)." % error.holder
        if as_json:
            emit_json({"messages": [message], "remaining": len(hookqueue.pending())})
        elif not quiet:
            print(message, file=stream)
        return OK
    messages = []

    def log(message):
        messages.append(message)
        if not as_json:
            print(message, file=stream)

    # A sweep that runs now holds the sweep lock: say so at once, never wait behind it.
    status = hookqueue.work(lock, clock.now, settle_for=(0.0, 0.0), log=log, patience=0)
    # Events, not every file with an event's name: a refused one was reported above.
    remaining = len(hookqueue.read_queue()[0])
    if as_json:
        emit_json({"messages": messages, "remaining": remaining})
    elif not quiet or remaining:
        print("%s still waiting." % plural(remaining, "event") if remaining
              else "No hook events are waiting.", file=stream)
    return FAILURE if status or remaining else OK
