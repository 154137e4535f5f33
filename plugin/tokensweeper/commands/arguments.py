"""The command line: the parser, its type converters, the selectors, the help's
examples and exit statuses."""

import argparse
import re

from .. import __version__, clock, incident
from ..config import check_glob
from ..owners import valid_owner
from ..policy import STATE_WORDS, Selectors
from ..tokens import KINDS, NAME_RE
from .status import USAGE, CliError

DAYS_RE = re.compile(r"^[0-9]{1,9}\Z")


MAX_DAYS = incident.MAX_DURATION_DAYS


def days(text):
    # ASCII digits only: str.isdigit also takes "²" and "١", which int() then refuses.
    if not DAYS_RE.match(text) or not 1 <= int(text) <= MAX_DAYS:
        raise argparse.ArgumentTypeError(
            "expected a whole number of days (1 to %d), got %r" % (MAX_DAYS, text)
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


def name_glob(text):
    try:
        return check_glob(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error))


def moment(text):
    """Checked here (a usage error naming the value); durations become times in
    selectors_from, against the one clock."""
    try:
        incident.parse_moment(text, None)
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
        type=name_glob,
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
    add_kind(parser)
    add_reseller(group)


def add_kind(parser):
    parser.add_argument(
        "--kind", choices=list(KINDS), metavar="KIND",
        help="only this kind of token: whm (root's and resellers') or cpanel (cPanel "
        "accounts' own); default: the config's kinds")


def add_reseller(parser):
    parser.add_argument(
        "--reseller", action="append", default=[], type=owner_name, metavar="USER",
        help="the cPanel tokens of the accounts USER owns (repeatable; implies --kind cpanel)")


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
  tokensweeper list --json                 every column of every token, for scripts
  tokensweeper list --csv > tokens.csv     the inventory for an auditor's spreadsheet""",
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
    "quarantine": """\
examples:
  tokensweeper quarantine --unused-for 180 --owner bob   shows them, asks, quarantines
  tokensweeper quarantine --name 'ci-*' --older-than 90 --yes""",
    "restore": """\
examples:
  tokensweeper restore --owner bob --name deploy
  tokensweeper restore --run 20261127T120000Z-1a2b3c     everything that run quarantined""",
    "backtest": """\
examples:
  tokensweeper backtest --as-of 30d        the policy as of 30 days ago
  tokensweeper backtest --as-of 2026-09-01 --json""",
    "revoke": """\
examples:
  tokensweeper revoke --owner bob deploy old-ci
  tokensweeper revoke --owner root tmp-debug --yes""",
    "audit": """\
examples:
  tokensweeper audit                       one row per run
  tokensweeper audit --since 2026-11-01
  tokensweeper audit --run 20261127T120000Z-1a2b3c   that run's records and tokens""",
    "queue": """\
examples:
  tokensweeper queue                       the hook's account events not handled yet
  tokensweeper queue --run                 handle them now (a worker that died left them)""",
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
    add_kind(listing)
    add_reseller(listing)
    listing.add_argument(
        "--state",
        action="append",
        default=[],
        choices=list(STATE_WORDS) + ["quarantined"],
        help="only tokens in STATE, as the configured policy judges them (repeatable)",
    )
    listing.add_argument(
        "--wide",
        action="store_true",
        help="every column, even when the terminal is narrower than the table",
    )
    listing.add_argument(
        "--csv", action="store_true",
        help="the inventory as CSV, one row per token: owner, kind, holder, name, created, "
        "created by, expires, last used, state, full access, IP limit",
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

    quarantine = command("quarantine", "set the selected WHM tokens' IP lists to the "
                         "quarantine address 192.0.2.1, each one's own list recorded first "
                         "(asks first on a terminal; `restore` undoes it)")
    add_selectors(quarantine)
    quarantine.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore = command("restore", "put back the IP list a quarantined WHM token had")
    restore.add_argument("--owner", type=owner_name, metavar="USER", help="the token's owner")
    restore.add_argument("--name", type=token_name, metavar="NAME", help="the token's name")
    restore.add_argument("--run", metavar="ID", help="every token that quarantine run "
                         "quarantined and is still in quarantine")

    backtest = command("backtest", "what the configured policy would have revoked at an "
                       "earlier moment, judged with the evidence of then, and which of those "
                       "tokens api_tokens_log shows in use afterwards; changes nothing")
    backtest.add_argument("--as-of", required=True, type=moment, metavar="WHEN",
                          help="the moment: " + incident.MOMENT_HELP)

    revoke = command("revoke", "revoke named tokens of one owner (protected names are kept)")
    revoke.add_argument("--owner", type=owner_name, required=True, metavar="USER",
                        help="root or a reseller; with --kind cpanel, a cPanel account")
    revoke.add_argument("--kind", choices=list(KINDS), default="whm", metavar="KIND",
                        help="whm (the default) or cpanel: the owner's cPanel account's tokens")
    revoke.add_argument("names", nargs="+", type=token_name, metavar="NAME")
    revoke.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    audit_cmd = command("audit", "show the audit log, one row per run")
    audit_cmd.add_argument("--since", metavar="DATE", help="records from DATE (YYYY-MM-DD) on")
    audit_cmd.add_argument("--run", metavar="ID", help="one run's records and tokens")

    queue = command("queue", "show the hook's queued account events (suspensions, renames, "
                    "...) not handled yet; --run handles them now")
    queue.add_argument("--run", action="store_true",
                       help="handle the queued events now, as the hook's worker does")

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
        try:
            return incident.parse_moment(text, clock.now() if now is None else now)
        except ValueError as error:  # e.g. a duration reaching back before 1970
            raise CliError("%s" % error, USAGE)

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
        resellers=args.reseller,
    )
    if chosen.active_criteria():
        return chosen
    return cfg.selectors().narrowed(owners=args.owner, names=args.name,
                                    resellers=args.reseller)


def kinds_from(args, cfg):
    """The kinds a command lists: --kind, cpanel for --reseller, else the config's."""
    if getattr(args, "reseller", None):
        if getattr(args, "kind", None) == "whm":
            raise ValueError("--reseller selects cPanel accounts' tokens: it cannot go with "
                             "--kind whm")
        return ("cpanel",)
    if getattr(args, "kind", None):
        return (args.kind,)
    return tuple(cfg.kinds)


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
            args.kind,
            args.reseller,
        )
    )
