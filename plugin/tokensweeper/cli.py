"""The `tokensweeper` command: list, plan, sweep, revoke, audit, incident-report, check-config.

Exit status (EXIT_STATUS, shown by --help): 0 ok, 1 runtime failure, 2 usage or
config error, 3 a sweep finished with failed tokens. --json on every command
prints one JSON document.
"""

import argparse
import calendar
import getpass
import io
import json
import os
import shutil
import sys
import time

from . import __version__, audit, clock, config, incident, paths, usage
from .lock import LockBusy, SweepLock
from .owners import find_owners, order_owners, valid_owner
from .policy import (
    REVOKE,
    STATE_WORDS,
    Selectors,
    confirmation_changes,
    plan_for_names,
    state_of,
)
from .statefiles import UntrustedState
from .sweep import ENFORCE, build_plan, execute
from .tokens import NAME_RE
from .whmapi import Client, WhmapiError

OK, FAILURE, USAGE, PARTIAL = 0, 1, 2, 3


class CliError(Exception):
    def __init__(self, message, status=FAILURE):
        super(CliError, self).__init__(message)
        self.status = status


# -- argument parsing -----------------------------------------------------------


def days(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            "expected a whole number of days (1 or more), got %r" % text
        )
    return int(text)


def owner_name(text):
    if not valid_owner(text):
        raise argparse.ArgumentTypeError("%r is not a cPanel user name" % text)
    return text


def token_name(text):
    if not NAME_RE.match(text):
        raise argparse.ArgumentTypeError(
            "%r is not a valid API token name ([A-Za-z0-9_-], 1-50)" % text
        )
    return text


def moment(text):
    """Checked here (a usage error naming the value); durations become times in
    selectors_from, against the one clock."""
    try:
        incident.parse_moment(text, 0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))
    return text


def network(text):
    try:
        return incident.parse_network(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def add_selectors(parser):
    group = parser.add_argument_group(
        "selectors", "AND-ed together; without any, the config's policy is used"
    )
    group.add_argument("--expired", action="store_true", help="expired tokens")
    group.add_argument(
        "--expiring-within", type=days, metavar="DAYS", help="tokens expiring within DAYS"
    )
    group.add_argument(
        "--older-than", type=days, metavar="DAYS", help="tokens created more than DAYS ago"
    )
    group.add_argument(
        "--unused-for",
        type=days,
        metavar="DAYS",
        help="tokens with no use in api_tokens_log for DAYS (only when the log covers them)",
    )
    group.add_argument("--no-expiry", action="store_true", help="tokens that never expire")
    group.add_argument("--full-access", action="store_true", help="tokens with every privilege")
    group.add_argument("--no-ip-limit", action="store_true", help="tokens usable from any address")
    group.add_argument(
        "--created-after", type=moment, metavar="WHEN",
        help="tokens created at or after WHEN: " + incident.MOMENT_HELP)
    group.add_argument(
        "--created-before", type=moment, metavar="WHEN", help="tokens created before WHEN")
    group.add_argument(
        "--used-after", type=moment, metavar="WHEN",
        help="tokens used at or after WHEN (api_tokens_log); with --used-from: used from "
        "that network at or after WHEN")
    group.add_argument(
        "--used-from", type=network, action="append", metavar="CIDR",
        help="tokens used from this IPv4/IPv6 network (api_tokens_log; repeatable: any of "
        "them). Tokens the log cannot vouch for are not selected and are named on stderr")
    group.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="GLOB",
        help="token names matching GLOB (repeatable)",
    )
    group.add_argument(
        "--owner",
        action="append",
        default=[],
        type=owner_name,
        metavar="USER",
        help="tokens of USER (repeatable)",
    )


EXIT_STATUS = """\
exit status:
  0  done (or nothing to do)
  1  runtime failure: whmapi1 missing or failing, another sweep running, the audit
     log not writable, the state directory refused, a scheduled run that refused
     or deferred an owner over its cap, no such --run
  2  usage or config error, an unusable TOKENSWEEPER_NOW, a malformed time or
     network, an owner that is not root or a reseller
  3  finished, but some tokens failed or are unverified, an owner's tokens could
     not be listed, or a usage-evidence selector could not judge some tokens"""

EXAMPLES = {
    None: """\
examples:
  tokensweeper list --state stale          tokens the configured policy would revoke
  tokensweeper plan --older-than 365       what a sweep of old tokens would revoke
  tokensweeper sweep                       revoke by the configured policy (asks first)
  tokensweeper revoke --owner bob deploy   revoke one hand-picked token
  tokensweeper audit --run ID              one run's tokens and outcomes""",
    "list": """\
examples:
  tokensweeper list                        every owner's tokens, fitted to the terminal
  tokensweeper list --wide | less -S       every column, whatever the terminal's width
  tokensweeper list --owner bob --state expired --state stale
  tokensweeper list --json                 every column of every token, for scripts""",
    "plan": """\
examples:
  tokensweeper plan                        the configured policy
  tokensweeper plan --expired --owner bob  bob's expired tokens
  tokensweeper plan --unused-for 180 --name 'ci-*'""",
    "sweep": """\
examples:
  tokensweeper sweep                       the configured policy; shows the plan, asks
  tokensweeper sweep --expired --yes       every expired token, without asking
  tokensweeper sweep --owner bob           bob's tokens the policy would revoke (never all)
  tokensweeper sweep --used-from 203.0.113.0/24 --used-after 2026-11-20   after a leak""",
    "revoke": """\
examples:
  tokensweeper revoke --owner bob deploy old-ci
  tokensweeper revoke --owner root tmp-debug --yes""",
    "audit": """\
examples:
  tokensweeper audit                       one row per run
  tokensweeper audit --since 2026-11-01
  tokensweeper audit --run 20261127T120000Z-1a2b3c   that run's records and tokens""",
    "incident-report": """\
examples:
  tokensweeper incident-report --run 20261127T120000Z-1a2b3c
  tokensweeper incident-report --run 20261127T120000Z-1a2b3c --json > incident.json""",
    "check-config": """\
examples:
  tokensweeper check-config
  TOKENSWEEPER_CONFIG=/root/new.yaml tokensweeper check-config""",
}


def epilog(command=None):
    examples = EXAMPLES.get(command)  # a command without examples still shows the exit status
    return (examples + "\n\n" if examples else "") + EXIT_STATUS


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tokensweeper",
        description="Find and revoke stale WHM API tokens by policy, safely.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="tokensweeper %s" % __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name, helptext):
        sub = commands.add_parser(name, help=helptext, description=helptext, epilog=epilog(name),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        return sub

    listing = command("list", "list WHM API tokens with their state, last use, expiry and age")
    who = listing.add_mutually_exclusive_group()
    who.add_argument("--owner", type=owner_name, metavar="USER", help="only the tokens of USER")
    who.add_argument(
        "--all-owners", action="store_true", help="root and every reseller (the default)"
    )
    listing.add_argument(
        "--state",
        action="append",
        default=[],
        choices=list(STATE_WORDS),
        help="only tokens in STATE, as the configured policy judges them (repeatable)",
    )
    listing.add_argument(
        "--wide",
        action="store_true",
        help="every column, even when the terminal is narrower than the table",
    )

    add_selectors(command("plan", "show what a sweep would revoke; changes nothing"))

    sweep = command("sweep", "revoke the selected tokens (asks first on a terminal)")
    add_selectors(sweep)
    sweep.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sweep.add_argument(
        "--scheduled",
        action="store_true",
        help="the unattended cron run: config policy, mode and cap; silent unless "
        "something was revoked, refused or failed",
    )

    revoke = command("revoke", "revoke named tokens of one owner (protected names are kept)")
    revoke.add_argument("--owner", type=owner_name, required=True, metavar="USER",
                        help="root or a reseller")
    revoke.add_argument("names", nargs="+", type=token_name, metavar="NAME")
    revoke.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    audit_cmd = command("audit", "show the audit log, one row per run")
    audit_cmd.add_argument("--since", metavar="DATE", help="records from DATE (YYYY-MM-DD) on")
    audit_cmd.add_argument("--run", metavar="ID", help="one run's records and tokens")

    report = command("incident-report", "one run as an incident record: who ran it and when, "
                     "its selectors, each token's creation, last use, addresses and verified "
                     "outcome (from the audit log)")
    report.add_argument("--run", required=True, metavar="ID",
                        help="the run id (`tokensweeper audit` lists them)")

    command("check-config", "check the config file and show the effective settings")
    return parser


def selectors_from(args, cfg, now=None):
    """The command line's selectors. Without a criterion, --owner and --name only narrow the
    config's policy: 'sweep --owner bob' sweeps bob's stale tokens, never all of them."""

    def when(text):
        if text is None:
            return None
        return incident.parse_moment(text, clock.now() if now is None else now)

    chosen = Selectors(
        created_after=when(args.created_after),
        created_before=when(args.created_before),
        used_after=when(args.used_after),
        used_from=args.used_from,
        expired=args.expired,
        expiring_within_days=args.expiring_within,
        older_than_days=args.older_than,
        unused_for_days=args.unused_for,
        no_expiry=args.no_expiry,
        full_access=args.full_access,
        no_ip_limit=args.no_ip_limit,
        names=args.name,
        owners=args.owner,
    )
    if chosen.active_criteria():
        return chosen
    return cfg.selectors().narrowed(owners=args.owner, names=args.name)


def given_selectors(args):
    return any(
        (
            args.expired,
            args.expiring_within,
            args.older_than,
            args.unused_for,
            args.no_expiry,
            args.full_access,
            args.no_ip_limit,
            args.created_after,
            args.created_before,
            args.used_after,
            args.used_from,
            args.name,
            args.owner,
        )
    )


# -- output helpers -------------------------------------------------------------


def day(epoch):
    return "never" if epoch is None else time.strftime("%Y-%m-%d", time.gmtime(epoch))


def table(rows, headers):
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def emit_json(document):
    print(json.dumps(document, indent=2, sort_keys=True))


def progress(message):
    if sys.stderr.isatty():
        print(message, file=sys.stderr)


def plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


# -- commands -------------------------------------------------------------------


class Context(object):
    """What every command needs: the validated config, a client, the usage evidence and now."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.client = Client()
        self.now = clock.now()
        self.quiet = False  # the scheduled run: warnings are not worth a cron mail
        self._usage = None
        self._owner_problems = []

    @property
    def usage(self):
        if self._usage is None:
            self._usage = usage.load_usage()
        return self._usage

    def owners(self, wanted=None, everyone=False):
        """The owners to list: those wanted, else every owner, narrowed to the config's
        `owners` unless everyone (a listing shows every token; sweeps stay in scope)."""
        if wanted:
            return order_owners(wanted)
        progress("finding token owners...")
        owners, self._owner_problems = find_owners(self.client)
        if self.cfg.owners != "all" and not everyone:
            owners = [owner for owner in owners if owner in self.cfg.owners]
        return owners

    def plan(self, selectors, owners=None, everyone=False):
        if not owners and not everyone:
            owners = list(selectors.owners) or None  # list only the owners a sweep may touch
        owners = self.owners(owners, everyone)
        progress("listing the tokens of %s..." % plural(len(owners), "owner"))
        plan = build_plan(
            self.client,
            selectors,
            self.cfg.protection(),
            self.usage,
            self.now,
            owners,
            self.cfg.parallel_owners,
        )
        plan.problems = self._owner_problems + plan.problems
        self.report(plan)
        return plan

    def report(self, plan):
        """Listing failures always reach stderr; warnings (refused or dormant owners) too,
        except in the scheduled run."""
        evidence = getattr(plan, "evidence_problems", [])
        for problem in [] if self.quiet else plan.problems:
            if problem not in evidence:
                print("warning: %s" % problem, file=sys.stderr)
        for problem in evidence:  # never quiet: it decided what was NOT selected
            print("WARNING: %s" % problem, file=sys.stderr)
        for owner, message in sorted(plan.owner_errors.items()):
            print("error: could not list the tokens of %s: %s" % (owner, message), file=sys.stderr)


# The list's columns, most telling first: a narrow terminal drops them from the right.
LIST_COLUMNS = ["owner", "name", "state", "last_used", "expires", "age_days", "full_access",
                "ip_limit", "created"]
ALWAYS_SHOWN = 3  # owner, name, state: a row means nothing without them


def cmd_list(ctx, args):
    plan = ctx.plan(ctx.cfg.selectors(), [args.owner] if args.owner else None, everyone=True)
    protection = ctx.cfg.protection()
    rows, cells = [], []
    for item in plan.items:
        token = item.token
        state, why = state_of(item, protection, ctx.now)
        if args.state and state not in args.state:
            continue
        row = {
            "owner": token.owner,
            "name": token.name,
            "created": day(token.create_time),
            "expires": day(token.expires_at),
            "age_days": token.age_days(ctx.now),
            "last_used": ctx.usage.describe(token, ctx.now),
            "full_access": token.full_access,
            "ip_limit": ", ".join(token.whitelist_ips) or "none",
            "state": STATE_WORDS[state],
            # Which rule protects it ("protected: ... (built-in rule WP-Dashboard)").
            "protected_by": why if state == "protected" else None,
        }
        rows.append(row)
        cells.append({h: _cell(row, h, token) for h in LIST_COLUMNS})
    if args.json:
        emit_json({"tokens": rows, "owner_errors": plan.owner_errors, "problems": plan.problems,
                   "now": audit.iso(ctx.now)})
        return PARTIAL if plan.owner_errors else OK
    width = None if args.wide else terminal_width()
    cut = width is not None and cut_to_fit(cells, LIST_COLUMNS, "state", width)
    headers, hidden = fit_columns(LIST_COLUMNS, cells, width)
    print(table([[c[h] for h in headers] for c in cells], headers))
    summary = "%s of %s" % (plural(len(rows), "token"), plural(len({r["owner"] for r in rows}),
                                                                    "owner"))
    if args.state:
        summary += " in state %s (of %s listed)" % (" or ".join(args.state),
                                                      plural(len(plan.items), "token"))
    print("\n" + summary)
    if hidden or cut:
        said = (["Hidden: " + ", ".join(hidden)] if hidden else []) + (
            ["%s cut short (...)" % ("states" if hidden else "States")] if cut else [])
        print("%s to fit %d columns. `tokensweeper list --wide` or --json shows every "
              "column whole." % ("; ".join(said), width))
    return PARTIAL if plan.owner_errors else OK


def terminal_width():
    """The width to fit a table in: COLUMNS when set, else the terminal's; None (no limit)
    when standard output is a pipe or a file, so scripts and `grep` see every column."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def column_width(header, rows):
    return max([len(header)] + [len(str(row[header])) for row in rows])


def cut_to_fit(rows, headers, column, width, longest=24):
    """When the whole table is wider than `width`, cut `column`'s long cells (a protection
    rule's words) to `longest` characters or less, ending "...", so that more columns fit.
    True if any was cut."""
    if sum(column_width(h, rows) + 2 for h in headers) - 2 <= width:
        return False
    others = sum(column_width(h, rows) + 2 for h in headers[:ALWAYS_SHOWN] if h != column)
    room = max(min(longest, width - others), len(column), 16)
    cut = False
    for row in rows:
        text = str(row[column])
        if len(text) > room:
            row[column] = text[:room - 3] + "..."
            cut = True
    return cut


def fit_columns(headers, rows, width):
    """(shown, hidden): the columns of `headers`, in order, that fit `width` (two spaces
    between columns), skipping any too wide for what is left; the first ALWAYS_SHOWN are
    kept whatever the width."""
    if width is None:
        return list(headers), []
    shown, hidden, used = [], [], -2
    for index, header in enumerate(headers):
        column = column_width(header, rows)
        if used + 2 + column > width and index >= ALWAYS_SHOWN:
            hidden.append(header)
            continue
        shown.append(header)
        used += 2 + column
    return shown, hidden


def access_cell(token):
    """yes / yes (owner's privileges) / no: a reseller's full access is the reseller's own."""
    if not token.full_access:
        return "no"
    return "yes" if token.access_words == "full access" else "yes (owner's privileges)"


def _cell(row, header, token):
    if header == "full_access":
        return access_cell(token)
    if header == "state" and row["protected_by"]:
        return row["protected_by"]  # "protected: <why> (<which rule>)"
    return row[header]


def plan_summary(plan):
    revoke = plan.to_revoke()
    return "%s of %s would be revoked, %s kept as protected" % (
        plural(len(revoke), "token"),
        plural(len({t.owner for t in revoke}), "owner"),
        plural(plan.counts()["protected"], "token"),
    )


def plan_document(plan):
    items = [
        dict(
            item.token.to_dict(),
            decision=item.decision,
            reason=item.reason,
            last_used=plan.last_used_of(item.token),
        )
        for item in plan.items
    ]
    return {
        "selectors": plan.selectors.to_dict(),
        "counts": plan.counts(),
        "tokens": items,
        "owner_errors": plan.owner_errors,
        "problems": plan.problems,
        "not_judged": ["%s/%s" % item.token.key() for item in plan.unjudged],
    }


def print_plan(plan):
    shown = [i for i in plan.items if i.decision != "keep"]
    rows = [
        [
            i.token.owner,
            i.token.name,
            "revoke" if i.decision == REVOKE else i.decision,
            plan.last_used_of(i.token) or "unknown",
            i.reason,
        ]
        for i in shown
    ]
    if rows:
        print(table(rows, ["owner", "name", "action", "last_used", "reason"]))
        print()
    print("Selected by: %s" % plan.selectors.describe())
    print(plan_summary(plan))
    if plan.unjudged:
        print("\nNOT JUDGED for lack of usage evidence, so NOT selected (%s):"
              % plural(len(plan.unjudged), "token"))
        print(table([[i.token.owner, i.token.name, i.reason] for i in plan.unjudged],
                    ["owner", "name", "why"]))


def cmd_plan(ctx, args):
    plan = ctx.plan(selectors_from(args, ctx.cfg, ctx.now))
    if args.json:
        emit_json(plan_document(plan))
    else:
        print_plan(plan)
    # Tokens nobody could judge are an unfinished answer, like an owner that could not be listed.
    return PARTIAL if plan.owner_errors or plan.unjudged else OK


def confirm(plan):
    revoke = plan.to_revoke()
    print("Revocation cannot be undone: whatever uses these tokens stops working at once.")
    try:
        answer = input(
            "Revoke %s of %s? Type yes to go on: "
            % (plural(len(revoke), "token"), plural(len({t.owner for t in revoke}), "owner"))
        )
    except EOFError:  # the terminal closed: no answer is no
        print()
        return False
    return answer.strip().lower() == "yes"


def identities(plan):
    return [token.identity() for token in plan.to_revoke()]


def carry_out(ctx, args, make_plan, actor, mode, unattended=False):
    """Plan, confirm, revoke, verify, report.

    A person confirms a plan made WITHOUT the lock, so cron and hooks are never held
    up while they read it; the plan is then made again under the lock and must hold
    the very tokens confirmed (owner, name, creation time and listed facts): a token
    re-created under the same name meanwhile is another token. Otherwise nothing is
    revoked, the changes are named and the new plan is asked about afresh.
    --yes and unattended runs plan under the lock.
    """
    asks = not (unattended or args.yes)
    if asks and args.json:
        raise CliError("--json output cannot hold a question: add --yes", USAGE)
    if asks and not sys.stdin.isatty():
        raise CliError("refusing to revoke without --yes: standard input is not a terminal", USAGE)
    confirmed = make_plan() if asks else None
    while True:
        if confirmed is not None:
            if not confirmed.to_revoke():
                print(plan_summary(confirmed))
                return PARTIAL if confirmed.owner_errors else OK
            print_plan(confirmed)
            if not confirm(confirmed):
                print("Nothing was revoked.")
                return OK
        with SweepLock(paths.lock_file()) as lock:
            plan = make_plan()
            changes = [] if confirmed is None else confirmation_changes(identities(confirmed),
                                                                          plan)
            if not changes:
                progress("revoking %s..." % plural(len(plan.to_revoke()), "token"))
                cap = ctx.cfg.max_revoke_per_run if unattended else None
                result = execute(plan, ctx.client, lock, actor, mode, ctx.now, cap=cap,
                                 parallel=ctx.cfg.parallel_owners)
                break
        print("\nThe tokens changed while you were deciding; nothing was revoked:", file=sys.stderr)
        for change in changes:
            print("  %s" % change, file=sys.stderr)
        print("This is the plan now:\n")
        confirmed = plan
    print_result(result, args.json, quiet=unattended)
    if plan.unjudged and result.exit_code() == OK:
        return PARTIAL  # some tokens could not be judged: the run may have missed them
    return result.exit_code()


def print_result(result, as_json, quiet):
    if result.audit_error:
        # On stderr whatever the output format: cron mails it, scripts see it beside --json.
        print("tokensweeper: the outcome of run %s could not be written to the audit log: %s"
              % (result.run_id, result.audit_error), file=sys.stderr)
    if as_json:
        emit_json(result.to_dict())
        return
    counts = result.counts()
    eventful = (counts["revoked"] or result.failed_count or result.refused or result.owner_errors
                or result.audit_error)
    if quiet and not eventful:
        return
    rows = [[o.token.owner, o.token.name, o.action, o.reason] for o in result.outcomes]
    if rows:
        print(table(rows, ["owner", "name", "outcome", "reason"]))
    if result.refused:
        print("REFUSED: %s" % result.refused)
    for owner, message in sorted(result.owner_errors.items()):
        print("FAILED for %s: %s" % (owner, message))
    if result.audit_error:
        print("AUDIT LOG NOT WRITTEN: %s" % result.audit_error)
    print(
        "Run %s (%s): %s"
        % (
            result.run_id,
            result.mode,
            ", ".join("%d %s" % (n, action) for action, n in sorted(counts.items()) if n)
            or "nothing to do",
        )
    )


def cmd_sweep(ctx, args):
    if args.scheduled:
        ctx.quiet = True
        if given_selectors(args):
            raise CliError("--scheduled applies the config's policy; it takes no selectors", USAGE)
        return carry_out(
            ctx, args, lambda: ctx.plan(ctx.cfg.selectors()), "cron", ctx.cfg.mode, unattended=True
        )
    selectors = selectors_from(args, ctx.cfg, ctx.now)
    return carry_out(ctx, args, lambda: ctx.plan(selectors), actor(), ENFORCE)


def cmd_revoke(ctx, args):
    wanted = {(args.owner, name) for name in args.names}

    def make_plan():
        try:
            tokens = ctx.client.list_tokens(args.owner)
        except WhmapiError:
            # whmapi1 refuses to list a user who is no reseller: say that plainly. Asked
            # only then, so a revoke of a real owner's tokens costs no extra call.
            require_token_owner(ctx.client, args.owner)
            raise
        plan = plan_for_names(tokens, wanted, ctx.cfg.protection(), ctx.now)
        plan.describe_use(ctx.usage)
        ctx.report(plan)
        return plan

    return carry_out(ctx, args, make_plan, actor(), ENFORCE)


def require_token_owner(client, owner):
    """Only root's and resellers' WHM API tokens can be listed and revoked: any other
    name is a mistake of the command line (exit 2), not a failure of the server."""
    if owner != "root" and owner not in client.list_resellers():
        raise CliError("%s is not root or a reseller: only their WHM API tokens can be revoked "
                       "(`tokensweeper list` shows every owner)" % owner, USAGE)


def cmd_audit(args):
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
    if args.json:
        emit_json({"records": records, "damaged_lines": damaged, "interrupted_runs": interrupted})
        return OK
    print(table([run_row(run) for run in runs],
                ["started", "run", "actor", "mode", "event", "tokens"]))
    if runs:
        print("\n%s. `tokensweeper audit --run ID` shows one run's tokens."
              % plural(len(runs), "run"))
    return OK


def run_row(run):
    """One line of `tokensweeper audit`: when a run started, who ran it, how it ended
    (its last record's event) and what happened to its tokens."""
    final = run.final
    summary = ", ".join("%d %s" % (n, a) for a, n in run.counts()) or "-"
    if final.get("refused"):
        # A run may have swept some owners and held others back: say both.
        summary = final["refused"] if summary == "-" else "%s; %s" % (summary, final["refused"])
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
        print("Selectors: %s" % json.dumps(final["selectors"], sort_keys=True))
    for key in ("refused", "note"):
        if final.get(key):
            print("%s: %s" % (key.capitalize(), final[key]))
    for owner, message in sorted((final.get("owner_errors") or {}).items()):
        print("Could not list %s: %s" % (owner, message))
    rows = [[t.get("owner", "?"), t.get("name", "?"), t.get("action", "?"),
             t.get("last_used") or "-", t.get("reason", "")]
            for t in run.tokens() if isinstance(t, dict)]
    print()
    print(table(rows, ["owner", "name", "action", "last_used", "reason"]))
    return OK


def cmd_incident_report(args):
    records, damaged = audit.read()
    if damaged:
        print("warning: skipped %s of the audit log that could not be read"
              % plural(damaged, "line"), file=sys.stderr)
    matching = [run for run in audit.runs(records) if run.run_id == args.run]
    if not matching:
        raise CliError("no run %s in the audit log (see `tokensweeper audit`)" % args.run)
    document = incident.report_document(matching[0], clock.now(), actor())
    if document["interrupted"]:
        print("warning: run %s %s" % (args.run, audit.INTERRUPTED_ADVICE), file=sys.stderr)
    if args.json:
        emit_json(document)
    else:
        print(incident.report_text(document))
    return OK


def cmd_check_config(args):
    try:
        cfg = config.load()
    except config.ConfigError as error:
        if args.json:
            emit_json({"ok": False, "source": error.source, "problems": error.problems})
        else:
            print("%s" % error, file=sys.stderr)
        return USAGE
    warnings = (
        []
        if cfg.policy_selects_anything()
        else [
            "the policy selects nothing: enable policy.expired, older_than_days or unused_for_days"
        ]
    )
    if args.json:
        emit_json({"ok": True, "source": cfg.source, "config": cfg.to_dict(), "warnings": warnings})
        return OK
    print("OK: %s" % cfg.source)
    print(
        "mode: %s (%s)"
        % (
            cfg.mode,
            "revokes on schedule and hooks"
            if cfg.mode == "enforce"
            else "scheduled runs and hooks only record what they would do",
        )
    )
    print("policy: %s" % cfg.selectors().describe())
    print(
        "protected: %s" % ("built-in names" if cfg.protect["builtin"] else "no built-in names")
        + ("" if not cfg.protect["names"] else ", " + ", ".join(cfg.protect["names"]))
    )
    print(
        "cap per unattended run: %d tokens; schedule: %s" % (cfg.max_revoke_per_run, cfg.schedule)
    )
    for warning in warnings:
        print("warning: %s" % warning)
    return OK


def actor():
    try:
        return "cli:%s" % getpass.getuser()
    except Exception:  # no name for this uid: still record who
        return "cli:uid%d" % os.getuid()


def run(args):
    if args.command == "check-config":
        return cmd_check_config(args)
    if args.command == "audit":
        return cmd_audit(args)
    if args.command == "incident-report":
        return cmd_incident_report(args)
    try:
        cfg = config.load()
    except config.ConfigError as error:
        raise CliError("%s\n(run 'tokensweeper check-config'; nothing was done)" % error, USAGE)
    ctx = Context(cfg)
    if args.command == "list":
        return cmd_list(ctx, args)
    if args.command == "plan":
        return cmd_plan(ctx, args)
    if args.command == "sweep":
        return cmd_sweep(ctx, args)
    return cmd_revoke(ctx, args)


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
