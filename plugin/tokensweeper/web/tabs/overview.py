"""The Overview tab: every token with its state, filtered, sorted and paged."""

from urllib.parse import urlencode

from tokensweeper import config as config_module
from tokensweeper.tokens import KINDS, split_holder
from tokensweeper.usage import load_usage

from .. import views
from ..request import bad_request
from .audit import watched_tokens
from .common import (
    PageListing,
    _choice,
    _page_number,
    config_message,
    read_only_config,
    wants_refresh,
)

PAGE_SIZE = 250
def overview(ctx, notice="", status=200):
    """The token list. notice: a message above it (a form sent back); a config that cannot
    be used leaves the list readable, without selection, and says what is wrong."""
    request = ctx.request
    state, owner, text, kind, reseller = _row_filter(request)
    sort = _choice(request, "sort", views.SORT_KEYS, "state")
    direction = _choice(request, "dir", ("asc", "desc"), "asc")
    number = _page_number(request)

    try:
        cfg, config_error = config_module.load(), None
    except config_module.ConfigError as error:
        cfg, config_error = read_only_config(error), error
    listing = PageListing(cfg, ctx.now, wants_refresh(request))

    def render_page(usage, on_listed):
        plan = listing.plan(usage, on_listed)
        rows = views.rows_from_plan(plan, usage, cfg.protection(), ctx.now,
                                    cfg.policy.get("quarantine_days", 0))
        # The state cards and the chart count what the other filters show (issue 30.6).
        unstated = views.filter_rows(rows, "", owner, text, kind, reseller)
        shown = views.sort_rows([row for row in unstated if not state or row.state == state],
                                sort, direction == "desc")
        pages = max(1, (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE)
        shown_page = min(number, pages)
        filters = {"state": state, "owner": owner, "q": text, "sort": sort, "dir": direction,
                   "kind": kind, "reseller": reseller}
        owners = sorted({r.owner for r in rows}
                        | {split_holder(holder)[0] for holder in plan.owner_errors})
        return ctx.page(
            "overview.html", "Tokens", "overview", status=status,
            rows=views.add_creators(shown[(shown_page - 1) * PAGE_SIZE:shown_page * PAGE_SIZE]),
            total=len(rows),
            matching=len(shown), page_number=shown_page, pages=pages, filters=filters,
            matching_selectable=sum(1 for row in shown if row.selectable),
            filtered=len(unstated), resellers=sorted({r.account_owner for r in rows
                                                      if r.kind != "whm" and r.account_owner}),
            counts=views.count_states(unstated), states=views.STATES,
            chart=views.age_chart(unstated),
            owners=owners, unknown_owner=owner if owner and owner not in owners else "",
            kinds=[(key, views.KIND_LABELS[key]) for key in KINDS],
            cpanel_listed="cpanel" in cfg.kinds,
            owner_errors=plan.owner_errors, problems=plan.problems,
            usage=views.UsageSummary(usage),
            policy=cfg.selectors().describe() if cfg.policy_selects_anything() else "",
            would_revoke=views.policy_headline(plan, cfg.selectors(), ctx.now),
            read_only=config_error is not None,
            config_message=config_message(config_error) if config_error else "",
            config_problems=list(config_error.problems) if config_error else [],
            notice=notice, sort_columns=SORT_COLUMNS, link=_overview_link(filters),
            watched=watched_tokens(cfg),
            listing=plan.listing, refresh_link=_overview_link(filters)(refresh=1),
            run_mode=None if config_error else cfg.mode, export_link=_export_link(filters),
            remember=True)

    if status != 200:  # a form sent back: its status is decided now, nothing streams
        return render_page(load_usage(), None)
    return listing.respond(ctx, "Tokens", "overview", render_page)


def _row_filter(request):
    """(state, owner, name text, kind, reseller) of the overview's filter, from the query."""
    state = _choice(request, "state", ("",) + views.STATE_KEYS, "")
    kind = _choice(request, "kind", ("",) + KINDS, "")
    text = request.arg("q")
    if len(text) > FILTER_TEXT_LIMIT:  # refused whole: a cut filter matches other tokens
        raise bad_request("The name filter is longer than %d characters (%d)." % (
            FILTER_TEXT_LIMIT, len(text)))
    return state, request.arg("owner"), text, kind, request.arg("reseller")


FILTER_TEXT_LIMIT = 100


SORT_COLUMNS = (
    ("owner", "Owner"), ("kind", "Kind"), ("name", "Token"), ("state", "State"),
    ("created", "Created"),
    ("age", "Age"), ("expires", "Expires"), ("last_used", "Last used"),
    ("full_access", "Full access"), ("ip_limit", "IP limit"),
)


def _export_link(filters):
    """The CSV download of what the filters show (tabs/export.py)."""
    kept = [(k, filters[k]) for k in ("state", "owner", "reseller", "kind", "q")
            if filters.get(k)]
    return "index.cgi?" + urlencode([("page", "export")] + kept)


def _overview_link(filters):
    def link(**changes):
        params = dict(filters)
        params.update(changes)
        defaults = {"sort": "state", "dir": "asc", "p": 1}
        kept = [(k, params[k]) for k in ("state", "owner", "reseller", "kind", "q", "sort",
                                         "dir", "p", "refresh")
                if params.get(k) not in (None, "", defaults.get(k))]
        return "index.cgi" + ("?" + urlencode(kept) if kept else "")
    return link
