"""`tokensweeper quarantine`: the selected WHM tokens' IP lists set to the quarantine
address (quarantine.py), each token's own list recorded first; `restore` undoes it."""

import sys

from ... import paths, quarantine
from ...lock import SweepLock
from ...policy import confirmation_changes
from ...sweep import ENFORCE
from ...tokens import WHM
from ..arguments import selectors_from
from ..context import actor
from ..output import emit_json, plural, table
from ..status import OK, PARTIAL, USAGE, CliError
from .plan import command_kinds

CPANEL_WORDS = ("not quarantined: a cPanel account's token cannot be (UAPI has no call that "
                "writes its IP list); `tokensweeper sweep` revokes it")


def run(ctx, args):
    selectors = selectors_from(args, ctx.cfg, ctx.now)
    kinds = command_kinds(ctx, args)
    asks = not args.yes
    if asks and args.json:
        raise CliError("--json output cannot hold a question: add --yes", USAGE)
    if asks and not sys.stdin.isatty():
        raise CliError("refusing to quarantine without --yes: standard input is not a "
                       "terminal", USAGE)

    def make_plan():
        plan = ctx.plan(selectors, kinds=kinds)
        held = quarantine.held_among((i.token for i in plan.items),
                                     ctx.cfg.policy.get("quarantine_days") or 0)
        for item in plan.items:
            if item.token.key() in held and item.decision == "revoke":
                item.decision = quarantine.IN_QUARANTINE
                item.reason = "already in quarantine since %s (run %s)" % (
                    quarantine.day(held[item.token.key()].since), held[item.token.key()].run_id)
        return plan

    confirmed = make_plan() if asks else None
    if confirmed is not None:
        chosen, others = split(confirmed)
        show(confirmed, chosen, others)
        if not chosen:
            return PARTIAL if confirmed.owner_errors else OK
        if not ask(chosen):
            print("Nothing was quarantined.")
            return OK
    with SweepLock(paths.lock_file()) as lock:
        plan = make_plan()
        if confirmed is not None:
            changes = confirmation_changes([t.identity() for t in split(confirmed)[0]],
                                           _only(plan, split(plan)[0]))
            if changes:
                print("\nThe tokens changed while you were deciding; nothing was "
                      "quarantined:", file=sys.stderr)
                for change in changes:
                    print("  %s" % change, file=sys.stderr)
                return PARTIAL
        chosen, others = split(plan)
        report = quarantine.quarantine(ctx.client, chosen, lock, actor(), ENFORCE, ctx.now,
                                       ctx.cfg.parallel_owners,
                                       selectors=plan.selectors.to_dict(),
                                       reasons={i.token.key(): i.reason for i in plan.items})
    return print_report(report, args.json, others, plan.owner_errors)


def split(plan):
    """(WHM tokens to quarantine, cPanel tokens the selection holds)."""
    selected = plan.to_revoke()
    return ([t for t in selected if t.kind == WHM], [t for t in selected if t.kind != WHM])


def _only(plan, tokens):
    """The plan narrowed to `tokens` as its revocations (confirmation_changes compares)."""
    wanted = {t.key() for t in tokens}
    for item in plan.items:
        if item.decision == "revoke" and item.token.key() not in wanted:
            item.decision = "keep"
    return plan


def show(plan, chosen, others):
    rows = [[t.owner, t.name, ", ".join(t.whitelist_ips) or "any", plan.reason_of(t)]
            for t in chosen]
    if rows:
        print(table(rows, ["owner", "name", "ip_limit now", "selected because"]))
    for token in others:
        print("%s@cpanel %s: %s" % (token.owner, token.name, CPANEL_WORDS))
    print("%s of %s would be quarantined (IP list set to %s; `tokensweeper restore` "
          "puts each one's own list back)" % (plural(len(chosen), "token"),
                                              plural(len({t.owner for t in chosen}), "owner"),
                                              quarantine.MARKER))


def ask(chosen):
    try:
        answer = input("Quarantine %s? Whatever uses them stops working until restored. "
                       "Type yes to go on: " % plural(len(chosen), "token"))
    except EOFError:
        print()
        return False
    return answer.strip().lower() == "yes"


def print_report(report, as_json, others=(), owner_errors=None):
    """The run's outcome (also `restore`'s). Exit status as sweep's."""
    if report.audit_error:
        print("tokensweeper: the outcome of run %s could not be written to the audit log: %s"
              % (report.run_id, report.audit_error), file=sys.stderr)
    if as_json:
        document = report.to_dict()
        document["not_quarantined"] = [dict(t.to_dict(), reason=CPANEL_WORDS) for t in others]
        document["owner_errors"] = owner_errors or {}
        emit_json(document)
    else:
        rows = [[o.token.owner, o.token.name, o.action,
                 ", ".join(report.originals.get(o.token.key()) or ()) or "any", o.reason]
                for o in report.outcomes]
        if rows:
            print(table(rows, ["owner", "name", "outcome", "own ip list", "reason"]))
        for token in others:
            print("%s@cpanel %s: %s" % (token.owner, token.name, CPANEL_WORDS))
        for owner, message in sorted((owner_errors or {}).items()):
            print("FAILED for %s: %s" % (owner, message))
        if report.outcomes:
            print("Run %s (`tokensweeper audit --run %s`)." % (report.run_id, report.run_id))
        else:
            print("Nothing to %s." % report.operation)
    status = report.exit_code()
    if status == OK and owner_errors:
        return PARTIAL
    return status
