"""The page's quarantine parts (issue 28): the overview's Restore button (POST
action=restore, nonce-checked by the router, bound to the token's identity as the page
showed it) and the Policy tab's back-test (GET page=backtest&days=30|90).

Both use the engine as the command line does: quarantine.restore under the sweep lock,
backtest.judge over the configured policy."""

import time
from urllib.parse import urlencode

from tokensweeper import audit, backtestcache, paths, quarantine
from tokensweeper.lock import LockBusy, SweepLock
from tokensweeper.tokens import WHM, split_holder
from tokensweeper.usage import load_usage
from tokensweeper.whmapi import Client, WhmapiError

from ..request import HttpError, bad_request
from ..response import HTML, Response
from .common import PageListing, load_config
from .revoke import parse_selection

BACKTEST_DAYS = (30, 90)


def restore(ctx):
    """Restore one quarantined WHM token: the form's `t` is the token's identity
    (HOLDER:NAME:CREATE_TIME:DIGEST) as the overview listed it; a token that changed since
    (re-created, its IP list, ACLs or expiry changed) is not restored."""
    values = ctx.request.fields("t")
    if len(values) != 1:
        raise bad_request("A restore names exactly one token.")
    ((holder, name), identity), = parse_selection(values).items()
    owner, kind = split_holder(holder)
    if kind != WHM:
        raise bad_request("Only WHM tokens can be quarantined and restored.")
    if identity is None:
        raise bad_request("A restore must name the token as the page listed it "
                          "(HOLDER:NAME:CREATE_TIME:DIGEST).")
    cfg = load_config()
    lock = SweepLock(paths.lock_file())
    try:
        lock.acquire()
    except LockBusy as busy:
        raise HttpError(409, "Another sweep is running", "%s. Nothing was restored: try "
                        "again when it is done." % busy)
    try:
        entries = [e for e in quarantine.read_held().values()
                   if e.owner == owner and e.name == name]
        client = Client()
        try:
            listed = {t.name: t for t in client.list_tokens(owner)}
        except WhmapiError as error:
            raise HttpError(502, "Nothing was restored", str(error))
        token = listed.get(name)
        if token is None or token.identity() != identity:
            raise HttpError(409, "The token changed", "%s's token %s is no longer the one the "
                            "page showed (revoked, re-created or changed since). Nothing was "
                            "restored; reload the overview." % (owner, name))
        entry = next((e for e in entries if e.create_time == token.create_time), None)
        if entry is None or not quarantine.is_marked(token):
            raise HttpError(409, "Not in quarantine", "%s's token %s is not in quarantine by "
                            "tokensweeper: nothing to restore." % (owner, name))
        try:
            report = quarantine.restore(client, [entry], lock, "whm:" + ctx.user, ctx.now,
                                        cfg.parallel_owners)
        except audit.AuditError as error:
            raise HttpError(500, "Nothing was restored", str(error))
    finally:
        lock.release()
    location = "index.cgi?" + urlencode([("page", "audit"), ("run", report.run_id)])
    body = '<!DOCTYPE html><title>Restored</title><p><a href="%s">See run %s</a></p>\n' % (
        location, report.run_id)
    return Response(303, body, HTML, [("Location", location)])


def backtest_page(ctx):
    """The configured policy as of 30 or 90 days ago (`days`): the detail of the summary the
    Policy tab shows beside its preview, from the same (cached) back-tests."""
    raw = ctx.request.arg("days", "30")
    if raw not in [str(d) for d in BACKTEST_DAYS]:
        raise bad_request("A back-test looks 30 or 90 days back.")
    days = int(raw)
    cfg = load_config()
    if not cfg.policy_selects_anything():
        raise HttpError(409, "No policy configured", "The configured policy selects nothing "
                        "(see Settings): there is nothing to back-test.")
    plan = PageListing(cfg, ctx.now).plan(load_usage())
    tests = backtestcache.backtests([item.token for item in plan.items], cfg.selectors(),
                                    cfg.protection(), BACKTEST_DAYS, ctx.now)
    outcome = tests.outcomes[days]
    return ctx.page("backtest.html", "Back-test", "sweep", days=days, choices=BACKTEST_DAYS,
                    as_of=audit.iso(outcome.moment), outcome=outcome,
                    used=sum(1 for e in outcome.would_revoke if e["used_after"]),
                    computed_at=_hh_mm(tests.computed_at), owner_errors=plan.owner_errors)


class BacktestRow(object):
    """One line of the Policy tab's back-test summary."""

    def __init__(self, days, outcome):
        self.days = days
        self.as_of = _day_time(outcome.moment)
        self.would = len(outcome.would_revoke)
        self.used = sum(1 for e in outcome.would_revoke if e["used_after"])
        rate = outcome.false_positive_rate
        self.rate = None if rate is None else "%.0f%%" % (rate * 100)
        self.apart = len(outcome.apart)
        oldest, errors = outcome.split.oldest, outcome.split.errors
        self.note = ""
        if oldest is not None and oldest > outcome.moment:
            self.note = ("The log begins on %s, after this moment: only a use after it can "
                         "count." % _day_time(oldest))
        elif oldest is not None and errors:
            self.note = "Part of the log could not be read: %s." % "; ".join(errors)


class BacktestSummary(object):
    """The Policy tab's back-test: a row per look back, when it was computed, and what the
    log could not give (`no_log`: no use of any token was read, `errors`)."""

    def __init__(self, tests):
        self.rows = [BacktestRow(d, tests.outcomes[d]) for d in sorted(tests.outcomes)]
        first = tests.outcomes[min(tests.outcomes)]
        self.no_log = first.split.oldest is None
        self.errors = list(first.split.errors)
        self.computed_at = _hh_mm(tests.computed_at)
        self.max_age_minutes = backtestcache.MAX_AGE // 60


def backtest_summary(cfg, plan, now):
    """The summary of the configured policy's back-tests over the tokens the preview listed."""
    tests = backtestcache.backtests([item.token for item in plan.items], cfg.selectors(),
                                    cfg.protection(), BACKTEST_DAYS, now)
    return BacktestSummary(tests)


def _day_time(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _hh_mm(epoch):
    return time.strftime("%H:%M UTC", time.gmtime(epoch))
