"""`tokensweeper revoke`: named tokens of one owner, through sweep's carry_out."""

from ...policy import plan_for_names
from ...sources import source_for
from ...sweep import ENFORCE
from ...tokens import holder_of
from ...whmapi import WhmapiError
from ..context import actor
from ..status import USAGE, CliError
from .sweep import carry_out


def run(ctx, args):
    source = source_for(args.kind)
    wanted = {(holder_of(args.owner, args.kind), name) for name in args.names}

    def make_plan():
        try:
            tokens = source.list_one(ctx.client, args.owner)
        except WhmapiError:
            # whmapi1 refuses to list a user who is no reseller: say that plainly. Asked
            # only then, so a revoke of a real owner's tokens costs no extra call.
            source.require_owner(ctx.client, args.owner, CliError, USAGE)
            raise
        if not tokens:
            source.empty_listing(ctx.client, args.owner, CliError, USAGE)
        plan = plan_for_names(tokens, wanted, ctx.cfg.protection(), ctx.now)
        plan.describe_use(ctx.usage)
        ctx.report(plan)
        return plan

    return carry_out(ctx, args, make_plan, actor(), ENFORCE)

