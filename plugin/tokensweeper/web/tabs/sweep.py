"""The Sweep tab: a preview of what the configured policy would revoke."""

from ..request import HttpError
from .common import PageListing, load_config, wants_refresh
from .quarantine import backtest_summary
from .revoke import _preview_page


def sweep_preview(ctx):
    cfg = load_config()
    if not cfg.policy_selects_anything():
        raise HttpError(409, "No policy configured",
                        "The configured policy selects nothing (see Settings), so a policy sweep "
                        "would revoke nothing. Select tokens by hand on the overview instead.")
    listing = PageListing(cfg, ctx.now, wants_refresh(ctx.request))

    def render_page(usage, on_listed):
        plan = listing.plan(usage, on_listed)
        from ... import notify
        notify.weigh(plan, cfg, ctx.now)  # where cron's runs stand: shown, never waited for here
        return _preview_page(ctx, plan, "policy", cfg, usage, listing=plan.listing,
                             refresh_link="index.cgi?page=sweep&refresh=1",
                             backtest=backtest_summary(cfg, plan, ctx.now))

    return listing.respond(ctx, "Preview", "sweep", render_page)
