"""What every tab uses: the request's Context, the config, the whmapi1 client, the listing
and the policy's plan, and the query's choices."""

import os

from tokensweeper import config as config_module
from tokensweeper.owners import CachedListings, find_owners
from tokensweeper.sweep import build_plan
from tokensweeper.tokens import WHM
from tokensweeper.usage import load_usage
from tokensweeper.whmapi import Client, WhmapiError

from .. import progress, render, security
from ..request import DIGITS_RE, HttpError, bad_request

# Above this many tokens the admin types the number to confirm.
TYPED_CONFIRMATION_ABOVE = 10
class Context(object):
    """One request with what every route needs."""

    def __init__(self, request, now):
        self.request = request
        self.now = now
        self.user = request.user
        self._nonce = None

    @property
    def nonce(self):
        if self._nonce is None:
            self._nonce = security.make_nonce(self.user, self.request.security_token)
        return self._nonce

    def page(self, template, title, nav, status=200, **context):
        # today: the day number relative times are told from (see formats.relative).
        return render.page(self.request.env, template, title, status=status, nav=nav,
                           nonce=self.nonce, today=self.now // 86400, **context)


# -- engine access ---------------------------------------------------------------


def load_config():
    try:
        return config_module.load()
    except config_module.ConfigError as error:
        raise config_refusal(error)


def config_refusal(error):
    return HttpError(500, "Configuration error", config_message(error), problems=error.problems,
                     settings_link=True)


def config_message(error):
    return ("The configuration in {} cannot be used, so nothing can be planned or revoked until "
            "it is fixed (check it with tokensweeper check-config, then reload):".format(
                error.source))


def read_only_config(error):
    """A stand-in for a config that cannot be used, so the overview can still list tokens:
    it selects nothing, and only cPanel's own token shapes count as protected."""
    import copy

    values = copy.deepcopy(config_module.DEFAULTS)
    values["policy"]["expired"] = False
    return config_module.Config(values, error.source, False)


def client():
    return Client()


class Listing(object):
    """Whether a page's listing may come from the listing cache (`cached`), and when its
    oldest answer was listed (`listed_at`; None: unknown): "Listed at 22:09 · Refresh"."""

    def __init__(self, cached=False, listed_at=None):
        self.cached = cached
        self.listed_at = listed_at


def policy_plan(cfg, now, usage=None):
    """The configured policy over every owner's tokens, each owner listed now."""
    try:
        plan = build_plan(client(), cfg.selectors(), cfg.protection(), usage or load_usage(),
                          now, parallel=cfg.parallel_owners, kinds=cfg.kinds)
    except WhmapiError as error:
        raise HttpError(503, "Cannot list tokens", str(error))
    plan.listing = Listing()
    return plan


class PageListing(object):
    """The listing behind a page that only shows: each owner's answer is remembered while
    cPanel's token file for it is unchanged (validated in owners.CachedListings), the rest is
    asked of whmapi1. A confirmation lists every owner afresh and revokes nothing that
    changed, so a view may use remembered answers.

    refresh: ask whmapi1 about every owner now, and remember that (the page's Refresh link).
    """

    def __init__(self, cfg, now, refresh=False):
        self.cfg = cfg
        self.now = now
        self.lister = CachedListings(client(), now=now, fresh=refresh)
        self.owners, self.owner_problems = [], []
        try:
            if WHM in cfg.kinds:  # WHM owners are found here, once, to count the asked
                self.owners, self.owner_problems = find_owners(self.lister)
        except WhmapiError as error:
            raise HttpError(503, "Cannot list tokens", str(error))
        self.asked = [owner for owner in self.owners
                      if refresh or not self.lister.remembers(owner)]

    def plan(self, usage, on_listed=None):
        """The configured policy's plan; on_listed() is called as each asked owner is listed."""
        lister = self.lister if on_listed is None else _Announcing(self.lister, self.asked,
                                                                  on_listed)
        try:
            plan = build_plan(lister, self.cfg.selectors(), self.cfg.protection(), usage,
                              self.now, found={WHM: self.owners},
                              parallel=self.cfg.parallel_owners, kinds=self.cfg.kinds)
        except WhmapiError as error:
            raise HttpError(503, "Cannot list tokens", str(error))
        plan.problems = self.owner_problems + plan.problems
        self.lister.save()
        plan.listing = Listing(True, self.lister.listed_at())
        return plan

    def respond(self, ctx, title, nav, render_page):
        """render_page(usage, on_listed) -> the page. When whmapi1 must be asked about more
        owners than one wave of parallel_owners (about 300 ms a wave on a real server), the
        page streams: its top and a progress bar at once, the rest when all is listed."""
        if len(self.asked) <= self.cfg.parallel_owners:
            return render_page(load_usage(), None)
        return progress.streamed(ctx.request.env, title, nav, len(self.asked),
                                 prepare=load_usage, work=render_page)


class _Announcing(object):
    """A lister that says when each owner whmapi1 is asked about has been listed."""

    def __init__(self, lister, asked, on_listed):
        self.lister = lister
        self.asked = frozenset(asked)
        self.on_listed = on_listed

    def remembers(self, owner):
        return owner not in self.asked

    def uapi_chunks(self, calls):
        return self.lister.uapi_chunks(calls)

    def run_uapi_chunk(self, chunk):
        return self.lister.run_uapi_chunk(chunk)

    def list_tokens(self, owner):
        try:
            return self.lister.list_tokens(owner)
        finally:
            if owner in self.asked:
                self.on_listed()


def wants_refresh(request):
    return _choice(request, "refresh", ("", "1"), "") == "1"


# -- GET pages ---------------------------------------------------------------------


def _choice(request, name, allowed, default):
    value = request.arg(name, default)
    if value not in allowed:
        raise bad_request("The parameter “{}” must be one of: {}.".format(name, ", ".join(
            a or "(empty)" for a in allowed)))
    return value


def _page_number(request, name="p"):
    raw = request.arg(name, "1")
    if len(raw) > 6 or not DIGITS_RE.match(raw) or int(raw) < 1:
        raise bad_request("The page number must be a whole number from 1.")
    return int(raw)


def new_confirmation_id():
    return os.urandom(16).hex()
