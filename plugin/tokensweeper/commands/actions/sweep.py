"""`tokensweeper sweep`, and the flow it shares with revoke (carry_out): plan, confirm,
plan again under the lock, revoke, verify, report."""

import sys

from ... import paths
from ...lock import SweepLock
from ...policy import confirmation_changes, day
from ...statefiles import UntrustedState
from ...sweep import ENFORCE, execute
from ..arguments import given_selectors, selectors_from
from ..context import actor
from ..output import emit_json, fitted, plural, progress, reason_beside, terminal_width
from ..status import FAILURE, OK, PARTIAL, USAGE, CliError
from .plan import command_kinds, plan_summary, print_plan


def run(ctx, args):
    if args.scheduled:
        ctx.quiet = True
        if given_selectors(args):
            raise CliError("--scheduled applies the config's policy; it takes no selectors", USAGE)
        # The hook's queued events first: a worker that died left them for this run.
        from .queue import handle_now

        try:
            queued = handle_now(quiet=True)
        except (UntrustedState, OSError) as error:
            # A queue file or the worker's lock not root's alone (or unusable) needs the
            # admin; it never stops the sweep of the config's policy.
            print("tokensweeper: the hook's queue was not handled: %s" % error,
                  file=sys.stderr)
            queued = FAILURE
        planned = []

        def make_plan():
            planned.append(ctx.plan(ctx.cfg.selectors()))
            return planned[-1]

        status = carry_out(ctx, args, make_plan, "cron", ctx.cfg.mode, unattended=True)
        if planned and ctx.cfg.guard is not None:
            watch_new_tokens(ctx, planned[-1], args.json)
        return FAILURE if queued != OK and status == OK else status
    selectors = selectors_from(args, ctx.cfg, ctx.now)
    kinds = command_kinds(ctx, args)
    return carry_out(ctx, args, lambda: ctx.plan(selectors, kinds=kinds), actor(), ENFORCE)


# The cron output lists this many findings; the audit record holds all of them.
WATCH_SHOWN = 20


def watch_new_tokens(ctx, plan, as_json):
    """The new-token watch (watch.py): WHM tokens created since the previous scheduled run
    that break the guard's rules, said in the output (cron mails root) and recorded for the
    Audit tab. It revokes nothing and never changes the run's exit status; a failure to
    keep its records is said on stderr. Owners whose listing failed are said as not
    checked and looked at again, from the same time, by the next run."""
    from ... import watch

    since, problem = watch.previous_run(ctx.now)
    if problem:
        print("warning: the new-token watch: %s" % problem, file=sys.stderr)
    waiting = watch.unchecked(ctx.now)
    failed = watch.not_checked(plan)
    found = watch.findings(plan, ctx.cfg.guard, ctx.cfg.protection(), since, ctx.now,
                           revoked=revoked_keys(ctx), unchecked=waiting)
    run_id = record_watch(ctx, found, failed, since) if found or failed else None
    if not as_json and (found or failed):
        print_watch(found, failed, since, run_id)
    try:
        watch.remember(ctx.now, run_id, len(found), watch.carried(waiting, failed, since))
    except (OSError, UntrustedState) as error:
        print("tokensweeper: the new-token watch cannot keep its time (%s); the next run "
              "looks back one day" % error, file=sys.stderr)


def revoked_keys(ctx):
    """Keys of the tokens this run's result says are gone (revoked, or already gone)."""
    outcomes = ctx.result.outcomes if ctx.result is not None else ()
    return {o.token.key() for o in outcomes if o.action in ("revoked", "already-gone")}


def record_watch(ctx, found, failed, since):
    from ... import accounting, watch
    from ...audit import AuditError

    if found:
        creations = accounting.read()
        for finding in found:
            finding.created_by = accounting.creator(finding.token, creations)
    try:
        return watch.record(found, since, ctx.now, "cron", ctx.cfg.mode, failed)
    except AuditError as error:
        print("tokensweeper: the new-token watch could not be recorded: %s" % error,
              file=sys.stderr)
        return None


def print_watch(found, failed, since, run_id):
    if found:
        print("\nNew WHM API tokens that break the guard's rules (created since %s; cPanel "
              "cannot stop WHM tokens at creation, so review them):" % day(since))
        shown = found[:WATCH_SHOWN]
        print(fitted([[f.token.owner, f.token.name, day(f.token.create_time),
                       f.created_by or "unknown", "; ".join(f.problems)] for f in shown],
                     ["owner", "name", "created", "created_by", "breaks"],
                     terminal_width(), below="breaks"))
        if len(found) > len(shown):
            print("... and %d more%s." % (len(found) - len(shown), (
                " (all of them in run %s on the Audit tab)" % run_id) if run_id else ""))
    for owner in sorted(failed):
        print("Not checked for new tokens: %s (its listing failed: %s); the next run checks "
              "it again." % (owner, failed[owner]))
    if run_id:
        print("Recorded as run %s (Audit tab)." % run_id)


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
                # Only unattended runs give notice first: a person who previewed (or
                # typed --yes at a shell) decided now.
                notices = give_notice(ctx, plan, actor, mode) if unattended else None
                # Then quarantine (policy.quarantine_days), then revocation.
                held = quarantine_step(ctx, plan, lock, actor, mode) if unattended else None
                progress("revoking %s..." % plural(len(plan.to_revoke()), "token"))
                cap = ctx.cfg.max_revoke_per_run if unattended else None
                result = execute(plan, ctx.client, lock, actor, mode, ctx.now, cap=cap,
                                 parallel=ctx.cfg.parallel_owners)
                ctx.result = result  # what the new-token watch must not report as new
                break
        print("\nThe tokens changed while you were deciding; nothing was revoked:", file=sys.stderr)
        for change in changes:
            print("  %s" % change, file=sys.stderr)
        print("This is the plan now:\n")
        confirmed = plan
    if held is not None and (held.outcomes or held.audit_error) and not args.json:
        print_report(held, False)
    print_result(result, args.json, quiet=unattended)
    if held is not None and held.exit_code() != OK and result.exit_code() == OK:
        return held.exit_code()
    if notices is not None and notices.failed and result.exit_code() == OK:
        return FAILURE  # a notice mail failed (or was not recorded): cron tells root
    if plan.unjudged and result.exit_code() == OK:
        return PARTIAL  # some tokens could not be judged: the run may have missed them
    return result.exit_code()


def quarantine_step(ctx, plan, lock, actor, mode):
    """The unattended run's quarantine (quarantine.py), after notices, before revoking;
    None when policy.quarantine_days is 0."""
    from ... import quarantine

    return quarantine.apply(plan, ctx.cfg, ctx.client, lock, ctx.now, actor, mode)


def print_report(report, as_json):
    from .quarantine import print_report as show

    return show(report, as_json)


def give_notice(ctx, plan, actor, mode):
    """The unattended run's notices (notify.py), before it revokes; None when off.
    Problems and failures go to stderr even in the quiet scheduled run."""
    from ... import notify

    if not notify.enabled(ctx.cfg):
        return None
    report = notify.apply(plan, ctx.cfg, ctx.client, ctx.now, actor, mode)
    for problem in report.problems:
        print("warning: %s" % problem, file=sys.stderr)
    for error in report.errors:
        print("error: %s" % error, file=sys.stderr)
    if report.noticed:
        due = plan.notice_of(report.noticed[0]).due
        print("Notice given for %s, revocation due on %s; mailed to %s (run %s)" % (
            plural(len(report.noticed), "token"), day(due),
            ", ".join(m["to"] for m in report.mail) or "nobody", report.run_id))
    if report.reminded:
        print("Expiry reminders for %s (run %s)" % (plural(len(report.reminded), "token"),
                                                   report.run_id))
    return report


def confirm(plan):
    revoke = plan.to_revoke()
    print("Revocation cannot be undone: whatever uses these tokens stops working at once.")
    try:
        answer = input(
            "Revoke %s of %s? Type yes to go on: "
            % (plural(len(revoke), "token"), plural(len({t.holder for t in revoke}), "owner"))
        )
    except EOFError:  # the terminal closed: no answer is no
        print()
        return False
    return answer.strip().lower() == "yes"


def identities(plan):
    return [token.identity() for token in plan.to_revoke()]


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
    rows = [[o.token.holder, o.token.name, o.action, reason_beside(o.action, o.reason)]
            for o in result.outcomes]
    if rows:
        print(fitted(rows, ["holder", "name", "outcome", "reason"], terminal_width(),
                     below="reason"))
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
