"""The token inventory as a CSV download (issue 30.11): the tokens the overview's filters
show (every page of them), in the columns of `tokensweeper list --csv` (export.py)."""

import time

from tokensweeper import config as config_module
from tokensweeper import export
from tokensweeper.policy import STATE_WORDS
from tokensweeper.usage import load_usage

from .. import views
from ..response import Response
from .common import PageListing, read_only_config
from .overview import _row_filter

CSV = "text/csv; charset=utf-8"


def export_csv(ctx):
    state, owner, text, kind, reseller = _row_filter(ctx.request)
    try:
        cfg = config_module.load()
    except config_module.ConfigError as error:
        cfg = read_only_config(error)  # the same read-only judgement the overview shows
    usage = load_usage()
    plan = PageListing(cfg, ctx.now).plan(usage)
    rows = views.filter_rows(views.rows_from_plan(plan, usage, cfg.protection(), ctx.now),
                             state, owner, text, kind, reseller)
    views.add_creators(rows)
    inventory = [export.inventory_row(
        row.token, STATE_WORDS.get(row.state, row.state),
        row.reason if row.state == "protected" else "",
        row.last_used if row.token.usage_logged else "", row.created_by) for row in rows]
    name = "api-tokens-%s.csv" % time.strftime("%Y-%m-%d", time.gmtime(ctx.now))
    return Response(200, export.csv_text(inventory), CSV,
                    headers=[("Content-Disposition", 'attachment; filename="%s"' % name)])
