"""`tokensweeper backtest --as-of WHEN`: what the configured policy would have revoked
then, and which of those tokens api_tokens_log shows in use afterwards (backtest.py)."""

import sys

from ... import audit, backtest, incident
from ...sweep import list_tokens
from ...tokens import WHM
from ..output import emit_json, plural, table
from ..status import OK, PARTIAL, USAGE, CliError


def run(ctx, args):
    try:
        moment = incident.parse_moment(args.as_of, ctx.now)
    except ValueError as error:
        raise CliError(str(error), USAGE)
    if moment >= ctx.now:
        raise CliError("--as-of %s is not in the past" % args.as_of, USAGE)
    selectors = ctx.cfg.selectors()
    if not selectors.selects_anything():
        raise CliError("the config's policy selects nothing (policy: in the config); there "
                       "is nothing to back-test", USAGE)
    # The tokens alone: the evidence is the back-test's own reading of the log (ctx.plan
    # would read it a second time through the usage cache).
    kinds = tuple(ctx.cfg.kinds)
    found = {WHM: ctx.owners()} if WHM in kinds else {}
    listed = list_tokens(ctx.client, kinds, parallel=ctx.cfg.parallel_owners, found=found)
    for holder, why in sorted(listed.errors.items()):
        print("tokensweeper: %s: %s" % (holder, why), file=sys.stderr)
    tokens = listed.tokens  # the policy's own `owners` narrows them, as in a sweep
    split = backtest.read_split(moment)
    outcome = backtest.judge(tokens, selectors, ctx.cfg.protection(), moment, split)
    status = PARTIAL if listed.errors else OK
    plan = listed
    plan.owner_errors = listed.errors  # (the JSON's owner_errors below)
    if args.json:
        document = outcome.to_dict(audit.iso)
        document["owner_errors"] = plan.owner_errors
        emit_json(document)
        return status
    rate = outcome.false_positive_rate
    print("As of %s the configured policy would have revoked %s." % (
        audit.iso(moment), plural(len(outcome.would_revoke), "token")))
    if outcome.would_revoke:
        print(table([[e["owner"], e["name"], "yes" if e["used_after"] else "no", e["reason"]]
                     for e in outcome.would_revoke],
                    ["owner", "name", "used after", "selected because"]))
        used = sum(1 for e in outcome.would_revoke if e["used_after"])
        print("%d of them were used afterwards: a false-positive rate of %.0f%%." % (
            used, rate * 100))
    if outcome.apart:
        print("\nNot counted either way (the log cannot vouch for them):")
        print(table([[e["owner"], e["kind"], e["name"], e["why"]] for e in outcome.apart],
                    ["owner", "kind", "name", "why"]))
    for error in split.errors:
        print("warning: %s" % error)
    return status
