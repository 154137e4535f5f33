"""`tokensweeper revoke`: named tokens of one owner, through sweep's carry_out."""

from ...policy import plan_for_names
from ...sweep import ENFORCE
from ...whmapi import WhmapiError
from ..context import actor
from ..status import USAGE, CliError
from .sweep import carry_out


def run(ctx, args):
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
