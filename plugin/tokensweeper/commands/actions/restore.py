"""`tokensweeper restore`: put back the IP list a quarantined WHM token had (one token by
--owner and --name, or everything one run quarantined by --run)."""

from ... import paths, quarantine
from ...lock import SweepLock
from ..context import actor
from ..status import FAILURE, USAGE, CliError
from .quarantine import print_report


def run(ctx, args):
    if bool(args.run) == bool(args.owner or args.name):
        raise CliError("restore takes --owner USER --name NAME, or --run ID", USAGE)
    if not args.run and not (args.owner and args.name):
        raise CliError("restore --owner needs --name (and --name needs --owner)", USAGE)
    with SweepLock(paths.lock_file()) as lock:
        held = quarantine.read_held()
        if args.run:
            entries = [e for e in held.values() if e.run_id == args.run]
            if not entries:
                raise CliError("run %s quarantined no token that is still held in quarantine "
                               "(`tokensweeper list --state quarantined` shows what is)"
                               % args.run, FAILURE)
        else:
            entries = [e for e in held.values()
                       if e.owner == args.owner and e.name == args.name]
            if not entries:
                raise CliError("%s's token %s is not in quarantine (tokensweeper quarantines "
                               "only by its own recorded runs; `tokensweeper list --state "
                               "quarantined` shows what is)" % (args.owner, args.name), FAILURE)
            # The newest quarantine of that name (an older token of the name is gone).
            entries = [max(entries, key=lambda e: (e.create_time, e.since))]
        report = quarantine.restore(ctx.client, sorted(entries, key=lambda e: e.key()), lock,
                                    actor(), ctx.now, ctx.cfg.parallel_owners)
    return print_report(report, args.json)
