"""`tokensweeper plan`: what a sweep would revoke; also the plan's text and JSON, which
sweep and revoke show before they ask."""

from ...policy import REVOKE
from ..arguments import kinds_from, selectors_from
from ..output import emit_json, fitted, footnotes, plural, reason_beside, terminal_width
from ..status import OK, PARTIAL, USAGE, CliError


def run(ctx, args):
    from ... import notify

    plan = ctx.plan(selectors_from(args, ctx.cfg, ctx.now), kinds=command_kinds(ctx, args))
    notify.weigh(plan, ctx.cfg, ctx.now)  # where cron's runs stand (notify.notice_days)
    if args.json:
        emit_json(plan_document(plan))
    else:
        print_plan(plan)
    # Tokens nobody could judge are an unfinished answer, like an owner that could not be listed.
    return PARTIAL if plan.owner_errors or plan.unjudged else OK


def command_kinds(ctx, args):
    try:
        return kinds_from(args, ctx.cfg)
    except ValueError as error:
        raise CliError(str(error), USAGE)


def plan_summary(plan):
    revoke = plan.to_revoke()
    return "%s of %s would be revoked, %s kept as protected" % (
        plural(len(revoke), "token"),
        plural(len({t.holder for t in revoke}), "owner"),
        plural(plan.counts()["protected"], "token"),
    )


def plan_document(plan):
    items = [
        dict(
            item.token.to_dict(),
            decision=item.decision,
            reason=item.reason,
            last_used=plan.last_used_of(item.token),
            **notice_field(plan, item.token)
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


def notice_field(plan, token):
    """{"notice": "notice sent on D, revocation due on D'"} once notices are weighed."""
    state = plan.notice_of(token)
    return {"notice": state.describe()} if state is not None else {}


def print_plan(plan):
    """The plan fitted to the terminal: one holder column (bob, bob@cpanel), long cells
    wrapped, a note repeated down the last-use column said once below the table."""
    width = terminal_width()
    shown = [i for i in plan.items if i.decision != "keep"]
    rows = [
        [
            i.token.holder,
            i.token.name,
            "revoke" if i.decision == REVOKE else i.decision,
            plan.last_used_of(i.token) or "unknown",
            reason_beside(i.decision, i.reason),
        ] + ([notice_field(plan, i.token).get("notice", "")] if plan.notices else [])
        for i in shown
    ]
    if rows:
        headers = ["holder", "name", "action", "last_used", "reason"]
        notes = footnotes(rows, 3, [])
        print(fitted(rows, headers + (["notice"] if plan.notices else []), width, notes,
                     below="reason"))
        print()
    print("Selected by: %s" % plan.selectors.describe())
    print(plan_summary(plan))
    if plan.unjudged:
        print("\nNOT JUDGED for lack of usage evidence, so NOT selected (%s):"
              % plural(len(plan.unjudged), "token"))
        rows = [[i.token.holder, i.token.name, i.reason] for i in plan.unjudged]
        notes = footnotes(rows, 2, [])
        print(fitted(rows, ["holder", "name", "why"], width, notes, below="why"))
