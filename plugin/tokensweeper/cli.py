"""The `tokensweeper` command: list, plan, sweep, revoke, audit, queue, incident-report,
check-config.

Exit status (EXIT_STATUS in commands/arguments.py, shown by --help): 0 ok, 1 runtime
failure, 2 usage or config error, 3 a sweep finished with failed tokens. --json on
every command prints one JSON document.

This module parses, dispatches and turns failures into one line and an exit status;
the commands live in tokensweeper/commands/ (arguments, output, one module per command).
"""

import io
import sys

from . import audit, clock, config
from .commands.actions import audit as audit_action
from .commands.actions import check_config, incident_report, plan, queue, revoke, sweep
from .commands.actions import list as list_action
from .commands.arguments import build_parser
from .commands.context import Context
from .commands.status import FAILURE, OK, USAGE, CliError
from .lock import LockBusy
from .statefiles import UntrustedState
from .whmapi import WhmapiError


def run(args):
    if args.command == "check-config":
        return check_config.run(args)
    if args.command == "audit":
        return audit_action.run(args)
    if args.command == "incident-report":
        return incident_report.run(args)
    if args.command == "queue":
        return queue.run(args)
    try:
        cfg = config.load()
    except config.ConfigError as error:
        raise CliError("%s\n(run 'tokensweeper check-config'; nothing was done)" % error, USAGE)
    ctx = Context(cfg)
    if args.command == "list":
        return list_action.run(ctx, args)
    if args.command == "plan":
        return plan.run(ctx, args)
    if args.command == "sweep":
        return sweep.run(ctx, args)
    if args.command == "backtest":
        from .commands.actions import backtest
        return backtest.run(ctx, args)
    if args.command in ("quarantine", "restore"):
        from .commands.actions import quarantine as quarantine_action
        from .commands.actions import restore
        return (quarantine_action if args.command == "quarantine" else restore).run(ctx, args)
    return revoke.run(ctx, args)


def escape_unencodable_output():
    """Under cron's C locale Python 3.6 writes ASCII, and cPanel's messages carry curly
    quotes: escape what the terminal cannot show rather than lose the report to a traceback."""
    out = sys.stdout
    if getattr(out, "errors", None) == "strict" and hasattr(out, "buffer"):
        if (out.encoding or "").lower().replace("-", "") != "utf8":
            sys.stdout = io.TextIOWrapper(out.buffer, encoding=out.encoding,
                                          errors="backslashreplace", line_buffering=True)


def main(argv=None):
    escape_unencodable_output()
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CliError as error:
        print("tokensweeper: %s" % error, file=sys.stderr)
        return error.status
    except clock.ClockError as error:
        print("tokensweeper: %s" % error, file=sys.stderr)
        return USAGE
    except (WhmapiError, LockBusy, audit.AuditError, UntrustedState) as error:
        print("tokensweeper: %s" % error, file=sys.stderr)
        return FAILURE
    except KeyboardInterrupt:
        print("tokensweeper: interrupted", file=sys.stderr)
        return FAILURE
    except BrokenPipeError:
        # Output piped into head or less that quit early: not an error worth a traceback.
        sys.stderr.close()
        return OK
    except OSError as error:
        # The state directory or a file in it cannot be used (a path under a file, a full
        # disk, ...): say so in one line, as for every other runtime failure.
        print("tokensweeper: %s" % error, file=sys.stderr)
        return FAILURE
