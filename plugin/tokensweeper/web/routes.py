"""The page's routes. GET shows, POST (with a valid nonce) previews or revokes.

Every route uses the engine exactly as the command line does: owners and
whmapi list, policy plans, sweep.execute revokes and audits. Nothing here
decides what is stale or talks to whmapi1 itself.
"""

import json
import os
import re
import time
from urllib.parse import urlencode

from tokensweeper import audit, paths
from tokensweeper import config as config_module
from tokensweeper.lock import LockBusy, SweepLock
from tokensweeper.owners import CachedListings, find_owners, valid_owner
from tokensweeper.policy import (
    BUILTIN_RULES,
    GONE,
    KEEP,
    PROTECTED,
    REVOKE,
    confirmation_changes,
    make_plan,
    plan_for_names,
)
from tokensweeper.sources import source_for
from tokensweeper.sweep import ENFORCE, build_plan, execute
from tokensweeper.tokens import KINDS, NAME_RE, WHM, holder_of, split_holder
from tokensweeper.usage import load_usage
from tokensweeper.whmapi import Client, WhmapiError

from . import progress, render, security, views
from .request import DIGITS_RE, HttpError, bad_request
from .response import HTML, Response

PAGE_SIZE = 250
IDENTITY_DIGEST_RE = re.compile(r"^[0-9a-f]{12}\Z")
AUDIT_PAGE_SIZE = 20
# Above this many tokens the admin types the number to confirm.
TYPED_CONFIRMATION_ABOVE = 10
# Each preview's confirmation form carries a one-time id, recorded in the audit records of
# the run it starts: pressing Revoke again (a double click, back and resubmit) finds that
# run and shows its result instead of revoking, or failing, a second time.
CONFIRMATION_RE = re.compile(r"^[0-9a-f]{32}\Z")
# A second press usually arrives while the first still holds the sweep lock: it waits for
# the first to finish (this long at most), then finds its run.
LOCK_WAIT_SECONDS = 120
LOCK_POLL_SECONDS = 0.2


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


def overview(ctx, notice="", status=200):
    """The token list. notice: a message above it (a form sent back); a config that cannot
    be used leaves the list readable, without selection, and says what is wrong."""
    request = ctx.request
    state, owner, text, kind = _row_filter(request)
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
        rows = views.rows_from_plan(plan, usage, cfg.protection(), ctx.now)
        shown = views.sort_rows(views.filter_rows(rows, state, owner, text, kind), sort,
                                direction == "desc")
        pages = max(1, (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE)
        shown_page = min(number, pages)
        filters = {"state": state, "owner": owner, "q": text, "sort": sort, "dir": direction,
                   "kind": kind}
        owners = sorted({r.owner for r in rows}
                        | {split_holder(holder)[0] for holder in plan.owner_errors})
        return ctx.page(
            "overview.html", "Tokens", "overview", status=status,
            rows=views.add_creators(shown[(shown_page - 1) * PAGE_SIZE:shown_page * PAGE_SIZE]),
            total=len(rows),
            matching=len(shown), page_number=shown_page, pages=pages, filters=filters,
            matching_selectable=sum(1 for row in shown if row.selectable),
            counts=views.count_states(rows), states=views.STATES, chart=views.age_chart(rows),
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
            run_mode=None if config_error else cfg.mode, remember=True)

    if status != 200:  # a form sent back: its status is decided now, nothing streams
        return render_page(load_usage(), None)
    return listing.respond(ctx, "Tokens", "overview", render_page)


def _row_filter(request):
    """(state, owner, name text, kind) of the overview's filter, from the query."""
    state = _choice(request, "state", ("",) + views.STATE_KEYS, "")
    kind = _choice(request, "kind", ("",) + KINDS, "")
    text = request.arg("q")
    if len(text) > FILTER_TEXT_LIMIT:  # refused whole: a cut filter matches other tokens
        raise bad_request("The name filter is longer than %d characters (%d)." % (
            FILTER_TEXT_LIMIT, len(text)))
    return state, request.arg("owner"), text, kind


FILTER_TEXT_LIMIT = 100


SORT_COLUMNS = (
    ("owner", "Owner"), ("kind", "Kind"), ("name", "Token"), ("state", "State"),
    ("created", "Created"),
    ("age", "Age"), ("expires", "Expires"), ("last_used", "Last used"),
    ("full_access", "Full access"), ("ip_limit", "IP limit"),
)


def _overview_link(filters):
    def link(**changes):
        params = dict(filters)
        params.update(changes)
        defaults = {"sort": "state", "dir": "asc", "p": 1}
        kept = [(k, params[k]) for k in ("state", "owner", "kind", "q", "sort", "dir", "p",
                                         "refresh")
                if params.get(k) not in (None, "", defaults.get(k))]
        return "index.cgi" + ("?" + urlencode(kept) if kept else "")
    return link


def sweep_preview(ctx):
    cfg = load_config()
    if not cfg.policy_selects_anything():
        raise HttpError(409, "No policy configured",
                        "The configured policy selects nothing (see Settings), so a policy sweep "
                        "would revoke nothing. Select tokens by hand on the overview instead.")
    listing = PageListing(cfg, ctx.now, wants_refresh(ctx.request))

    def render_page(usage, on_listed):
        plan = listing.plan(usage, on_listed)
        from .. import notify
        notify.weigh(plan, cfg, ctx.now)  # where cron's runs stand: shown, never waited for here
        return _preview_page(ctx, plan, "policy", cfg, usage, listing=plan.listing,
                             refresh_link="index.cgi?page=sweep&refresh=1")

    return listing.respond(ctx, "Preview", "sweep", render_page)


def incident_page(ctx, form=None, plan=None, usage=None, status=200, message="",
                  changes=()):
    """The Incident panel: the form, and with a selection its preview and evidence."""
    from . import incident as panel

    if form is None:
        form = panel.form_from(ctx.request, ctx.now)
        if form.errors:
            status = 400
        elif form.selectors is not None:
            usage = load_usage()
            plan = incident_plan(form.selectors, ctx.now, usage)
    rows = panel.evidence_rows(plan, usage, form.selectors) if plan is not None else []
    return ctx.page(
        "incident.html", "Incident", "incident", status=status, form=form, plan=plan,
        rows=rows, flags=panel.FLAGS, usage=usage, message=message, changes=changes,
        counts=panel.counts(plan) if plan is not None else None,
        typed=plan is not None and len(plan.to_revoke()) > TYPED_CONFIRMATION_ABOVE,
        moment_help=panel.incident.MOMENT_HELP, confirmation=new_confirmation_id())


def incident_plan(selectors, now, usage):
    """Every owner's tokens, listed afresh, against the incident selectors."""
    cfg = load_config()
    try:
        return build_plan(client(), selectors, cfg.protection(), usage, now,
                          parallel=cfg.parallel_owners, kinds=cfg.kinds)
    except WhmapiError as error:
        raise HttpError(503, "Cannot list tokens", str(error))


def settings(ctx):
    try:
        cfg, error = config_module.load(), None
    except config_module.ConfigError as problem:
        cfg, error = None, problem
    usage = load_usage()
    return ctx.page("settings.html", "Settings", "settings", cfg=cfg, error=error,
                    usage=usage, now=ctx.now, config_path=paths.config_file(),
                    state_dir=paths.state_dir(), whmapi1=paths.whmapi1(),
                    usage_log=paths.api_tokens_log(),
                    builtin_rules=[rule.label for rule in BUILTIN_RULES])


# -- audit -----------------------------------------------------------------------------


def watched_tokens(cfg):
    """What the scheduled run's latest new-token watch found (watch.py), when guard: is set."""
    if cfg.values.get("guard") is None:
        return None
    from tokensweeper import watch

    return watch.latest()


def audit_runs():
    records, damaged = audit.read()
    found = audit.runs(records)
    # Newest first; runs of the same second keep the log's order (later line = newer).
    position = {run.run_id: index for index, run in enumerate(found)}
    ordered = sorted(found, key=lambda run: (run.epoch, position[run.run_id]), reverse=True)
    return ordered, damaged


def audit_page(ctx):
    fmt = _choice(ctx.request, "format", ("", "html", "jsonl"), "")
    if fmt == "jsonl":
        return audit_download()
    if ctx.request.arg("run"):
        return run_page(ctx, ctx.request.arg("run"))
    runs, damaged = audit_runs()
    number = _page_number(ctx.request)
    pages = max(1, (len(runs) + AUDIT_PAGE_SIZE - 1) // AUDIT_PAGE_SIZE)
    number = min(number, pages)
    return ctx.page("audit.html", "Audit log", "audit",
                    runs=runs[(number - 1) * AUDIT_PAGE_SIZE:number * AUDIT_PAGE_SIZE],
                    total=len(runs), damaged=damaged, page_number=number, pages=pages,
                    audit_path=paths.audit_log())


RUN_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\Z")


def incident_report(ctx):
    """One run as an incident record (`tokensweeper incident-report`), text or JSON."""
    from tokensweeper import incident

    run_id = ctx.request.arg("run")
    fmt = _choice(ctx.request, "format", ("text", "json"), "text")
    if not RUN_ID_RE.match(run_id):
        raise bad_request("The run id must look like 20261130T004539Z-d13f26.")
    records, _ = audit.read()
    matching = [run for run in audit.runs(records) if run.run_id == run_id]
    if not matching:
        raise HttpError(404, "No such run", "The audit log has no run {}.".format(run_id))
    document = incident.report_document(matching[0], ctx.now, "whm:" + ctx.user)
    name = "tokensweeper-incident-{}.{}".format(run_id, "json" if fmt == "json" else "txt")
    if fmt == "json":
        body = json.dumps(document, indent=2, sort_keys=True) + "\n"
        ctype = "application/json; charset=utf-8"
    else:
        body = incident.report_text(document) + "\n"
        ctype = "text/plain; charset=utf-8"
    return Response(200, body, ctype, [
        ("Content-Disposition", 'attachment; filename="{}"'.format(name))])


def audit_download():
    records, _ = audit.read()
    body = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    return Response(200, body, "application/x-ndjson; charset=utf-8", [
        ("Content-Disposition", 'attachment; filename="tokensweeper-audit.jsonl"')])


# -- POST actions ------------------------------------------------------------------------


def parse_selection(values):
    """Form values -> {(holder, name): identity or None}. 400 on anything else.

    The overview's checkboxes send "HOLDER:NAME" (the holder names the kind: "bob" for
    bob's WHM token, "bob@cpanel" for bob's cPanel account's); the preview's confirmation
    form sends each token's identity "HOLDER:NAME:CREATE_TIME:DIGEST" (Token.identity), so
    that a token re-created under the same name is never taken for the one confirmed.
    """
    wanted = {}
    for value in values:
        parts = value.split(":")
        holder, name = parts[0], ":".join(parts[1:2])
        owner, kind = split_holder(holder)
        bound = len(parts) == 4 and DIGITS_RE.match(parts[2]) and IDENTITY_DIGEST_RE.match(
            parts[3])
        if (len(parts) not in (2, 4) or (len(parts) == 4 and not bound)
                or not valid_owner(owner) or kind not in KINDS or not NAME_RE.match(name)
                or (kind != WHM and owner == "root")
                or holder != holder_of(owner, kind)):  # a WHM token's holder is "bob"
            raise bad_request("“{}” is not a token of this server: a selection is "
                              "OWNER:NAME with a cPanel user and token name.".format(value[:120]))
        wanted[(holder, name)] = value if bound else None
    if not wanted:
        raise bad_request("No token was selected. Tick the tokens to revoke on the overview.")
    return wanted


def selection_plan(wanted, cfg, now, usage, remembered=False):
    """A plan for tokens chosen by hand (keys (holder, name)), from their holders' listings
    now, each kind through its source: a token no longer listed, or whose owner no longer
    owns tokens of that kind, is 'gone'. remembered: unchanged WHM owners from the listing
    cache (the preview; never the revocation)."""
    api = CachedListings(client(), now=now) if remembered else client()
    by_kind = {}
    for holder, _ in wanted:
        owner, kind = split_holder(holder)
        by_kind.setdefault(kind, set()).add(owner)
    outside = sorted(set(by_kind) - set(cfg.kinds))
    if outside:
        # An upgrade never widens what the plugin acts on: the page neither.
        raise bad_request("The config's kinds: is %s, so this page does not act on %s "
                          "tokens (add it to kinds: in the Settings first)." % (
                              ", ".join(cfg.kinds), " or ".join(outside)))
    tokens = []
    for kind in sorted(by_kind):
        source = source_for(kind)
        try:
            known, _ = source.find_holders(api)
        except WhmapiError as error:
            raise HttpError(503, "Cannot list owners", str(error))
        owners = sorted(by_kind[kind] & set(known))
        inventory = source.inventory(api, owners, cfg.parallel_owners)
        if inventory.errors:
            owner, message = sorted(inventory.errors.items())[0]
            raise HttpError(503, "Cannot list tokens", message)
        tokens += inventory.tokens
    plan = plan_for_names(tokens, set(wanted), cfg.protection(), now)
    plan.describe_use(usage)
    plan.listing = Listing()
    if remembered:
        api.save()
        plan.listing = Listing(True, api.listed_at())
    return plan


def _gone_message(plan):
    gone = ["{}/{}".format(item.token.holder, item.token.name)
            for item in plan.with_decision(GONE)]
    if not gone:
        return ""
    return "No longer listed, so not in this preview: {} (revoked or removed since you chose " \
           "{}).".format(", ".join(gone), "it" if len(gone) == 1 else "them")


NOTHING_TICKED = ("Nothing was ticked, so there is nothing to preview. Tick the tokens to revoke "
                  "in the list below, then press Preview revocation.")


def preview_selection(ctx):
    if ctx.request.field("scope") == "matching":
        return preview_matching(ctx)
    if not ctx.request.fields("t"):
        # The list again (the form's address keeps its filters), saying what to do.
        return overview(ctx, notice=NOTHING_TICKED, status=400)
    wanted = parse_selection(ctx.request.fields("t"))
    cfg, usage = load_config(), load_usage()
    plan = selection_plan(wanted, cfg, ctx.now, usage, remembered=True)
    return _preview_page(ctx, plan, "selection", cfg, usage, message=_gone_message(plan),
                         listing=plan.listing,
                         level="warning")


def preview_matching(ctx):
    """Every token the overview's filter matches (the form's address carries it), chosen
    on the server from a fresh listing and previewed like any hand-picked selection."""
    state, owner, text, kind = _row_filter(ctx.request)
    cfg, usage = load_config(), load_usage()
    plan = policy_plan(cfg, ctx.now, usage)
    rows = views.filter_rows(views.rows_from_plan(plan, usage, cfg.protection(), ctx.now),
                             state, owner, text, kind)
    wanted = {row.token.key() for row in rows if row.selectable}
    chosen = plan_for_names([item.token for item in plan.items], wanted, cfg.protection(),
                            ctx.now)
    chosen.describe_use(usage)
    chosen.owner_errors, chosen.problems = plan.owner_errors, plan.problems
    return _preview_page(ctx, chosen, "selection", cfg, usage, level="info",
                         message=_matching_message(len(wanted), state, owner, text, kind))


def _matching_message(count, state, owner, text, kind=""):
    words = [views.STATE_LABELS[state].lower()] if state else []
    if kind:
        words.append(views.KIND_LABELS[kind])
    if owner:
        words.append("of " + owner)
    if text:
        words.append("whose name contains “{}”".format(text))
    return "All {} token{} matching the filter{} (protected tokens are never chosen).".format(
        count, "" if count == 1 else "s", ": " + ", ".join(words) if words else "")


class OwnerCount(object):
    def __init__(self, owner):
        self.owner = owner
        self.revoke = 0
        self.protected = 0


def _preview_page(ctx, plan, mode, cfg, usage, status=200, message="", changes=(),
                  level="danger", listing=None, refresh_link="index.cgi?refresh=1"):
    revoke = plan.with_decision(REVOKE)
    protected = plan.with_decision(PROTECTED)
    states = _states_in_policy(plan, mode, cfg, usage, ctx.now)
    revoke_rows = views.preview_rows(revoke, states, usage, ctx.now,
                                     getattr(plan, "notices", None))
    per_owner = {}
    for item in revoke + protected:
        count = per_owner.setdefault(item.token.holder, OwnerCount(item.token.holder))
        if item.decision == REVOKE:
            count.revoke += 1
        else:
            count.protected += 1
    return ctx.page(
        "preview.html", "Preview", "sweep" if mode == "policy" else "overview", status=status,
        mode=mode, revoke=revoke, protected=protected, revoke_rows=revoke_rows,
        recent=sum(1 for row in revoke_rows if row.recent), recent_days=views.RECENT_USE_DAYS,
        protected_rows=views.preview_rows(protected, states, usage, ctx.now),
        untouched=len(plan.with_decision(KEEP)),
        per_owner=[per_owner[o] for o in sorted(per_owner)], message=message, changes=changes,
        level=level, typed=len(revoke) > TYPED_CONFIRMATION_ABOVE,
        confirmation=new_confirmation_id(),
        owner_errors=getattr(plan, "owner_errors", {}), problems=getattr(plan, "problems", []),
        policy=plan.selectors.describe() if mode == "policy" else "",
        notice_days=cfg.notify["notice_days"] if mode == "policy" else 0,
        run_mode=cfg.mode if mode == "policy" else None,
        listing=listing or Listing(), refresh_link=refresh_link)


def _states_in_policy(plan, mode, cfg, usage, now):
    """How the overview shows each token of the plan: a policy plan says it itself; tokens
    picked by hand are judged by the configured policy too (pure: no listing)."""
    if mode != "policy":
        listed = [item.token for item in plan.items if item.decision != GONE]
        plan = make_plan(listed, usage, cfg.selectors(), cfg.protection(), now)
    return views.policy_states(plan, cfg.protection(), now)


def revoke(ctx):
    request = ctx.request
    mode = request.field("mode")
    if mode not in ("selection", "policy", "incident"):
        raise bad_request("The form's mode must be “selection”, “policy” or “incident”.")
    wanted = parse_selection(request.fields("t"))
    confirmation = _confirmation_id(request)
    cfg = load_config()
    done = run_of_confirmation(confirmation, ctx.user)
    if done:
        return see_run(done)
    lock = _take_lock(confirmation)
    try:
        # The first press may have finished while this one waited for the lock.
        done = run_of_confirmation(confirmation, ctx.user)
        if done:
            return see_run(done)
        result = _revoke_locked(ctx, cfg, mode, wanted, lock, confirmation)
    finally:
        lock.release()
    if not hasattr(result, "run_id"):
        return result  # a new preview: nothing was revoked
    if result.audit_error:
        # The log could not take the outcome, so a page read back from it would not show
        # what happened: show it now, once.
        return ctx.page("result.html", "Result", "audit", run=views.RunView.from_result(result))
    return see_run(result.run_id)


def _revoke_locked(ctx, cfg, mode, wanted, lock, confirmation):
    """Plan again under the lock and revoke: a Result, or a new preview's Response."""
    usage = load_usage()
    if mode == "incident":
        from . import incident as panel

        form = panel.form_from(ctx.request, ctx.now, posted=True)
        plan = incident_plan(form.selectors, ctx.now, usage)

        def again(**kwargs):
            return incident_page(ctx, form, plan, usage, **kwargs)
    else:
        if mode == "selection":
            plan = selection_plan(wanted, cfg, ctx.now, usage)
        else:
            plan = policy_plan(cfg, ctx.now, usage)

        def again(**kwargs):
            return _preview_page(ctx, plan, mode, cfg, usage, **kwargs)
    # The tokens confirmed are bound by identity (owner, name, creation time, listed facts):
    # a token re-created under the same name since the preview is another token.
    confirmed = [identity or "{}:{}".format(*key) for key, identity in sorted(wanted.items())]
    changes = confirmation_changes(confirmed, plan)
    if changes:
        # The server or the config changed since the preview: show the new one, revoke nothing.
        return again(status=409, changes=changes, message=(
            "The tokens to revoke changed since your preview. Nothing was revoked. "
            "Check this new preview of what is there now:"))
    count = len(plan.to_revoke())
    if count > TYPED_CONFIRMATION_ABOVE and ctx.request.field("confirm").strip() != str(count):
        return again(status=400, message=(
            "Type the number of tokens to revoke ({}) in the box to confirm. "
            "Nothing was revoked.".format(count)))
    try:
        return execute(plan, client(), lock, "whm:" + ctx.user, ENFORCE, ctx.now,
                       parallel=cfg.parallel_owners, confirmation=confirmation or None)
    except audit.AuditError as error:
        raise HttpError(500, "Nothing was revoked", str(error))


def new_confirmation_id():
    return os.urandom(16).hex()


def _confirmation_id(request):
    value = request.field("confirmation")
    if value and not CONFIRMATION_RE.match(value):
        raise bad_request("The form's confirmation id is not one this page made.")
    return value


def run_of_confirmation(confirmation, user):
    """The id of the run this user's confirmation `confirmation` started, or None."""
    if not confirmation:
        return None
    records, _ = audit.read()
    actor = "whm:" + user
    for record in records:
        if record.get("confirmation") == confirmation and record.get("actor") == actor:
            return str(record.get("run_id", ""))
    return None


def _pause(seconds):
    time.sleep(seconds)


def _take_lock(confirmation):
    """The sweep lock. A confirmation waits for a run holding it (most likely the first
    press of the same button); a form without one fails at once, like the command."""
    lock = SweepLock(paths.lock_file())
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if confirmation else 0)
    while True:
        try:
            return lock.acquire()
        except LockBusy as busy:
            if time.monotonic() >= deadline:
                raise HttpError(409, "Another sweep is running", str(busy) + (
                    ". Nothing was revoked by this request. If you pressed Revoke twice, the "
                    "first press is still at work: its result will be in the audit log."))
            _pause(LOCK_POLL_SECONDS)


def see_run(run_id):
    """303 See Other to the run's own page: the browser shows it with a GET, so reloading
    it or going back never sends the confirmation again. The Location is relative, as every
    link of the page is, so WHM's /cpsess… prefix (and a proxy's host) stay as they are."""
    location = "index.cgi?" + urlencode([("page", "audit"), ("run", run_id)])
    from html import escape  # only on this path

    body = ('<!DOCTYPE html><title>Result</title><p><a href="{}">See the result of run '
            '{}</a></p>\n'.format(escape(location), escape(run_id)))
    return Response(303, body, HTML, [("Location", location)])


def run_page(ctx, run_id):
    runs, _ = audit_runs()
    found = next((run for run in runs if run.run_id == run_id), None)
    if found is None:
        raise HttpError(404, "No such run",
                        "The audit log has no run “{}”. It may have been rotated away; "
                        "the audit log lists the runs it has.".format(run_id[:80]))
    return ctx.page("result.html", "Result", "audit", run=views.RunView.from_audit(found))


# -- dispatch -------------------------------------------------------------------------------

GET_PAGES = {
    "overview": overview,
    "sweep": sweep_preview,
    "audit": audit_page,
    "settings": settings,
    "incident": incident_page,
    "report": incident_report,
}

POST_ACTIONS = {
    "preview": preview_selection,
    "revoke": revoke,
}


def route(request, now):
    name = request.arg("asset")
    if name:
        found = render.asset(name)
        if found is None:
            raise HttpError(404, "Not found", "This page has no file of that name.")
        return found
    ctx = Context(request, now)
    if request.method == "POST":
        action = request.field("action")
        handler = POST_ACTIONS.get(action)
        if handler is None:
            raise bad_request("This form asks for an unknown action.")
        if not security.check_nonce(ctx.user, request.security_token, request.field("nonce")):
            raise HttpError(403, "Form expired or forged",
                            "The form's security nonce does not match your WHM session, so "
                            "nothing was done. Reload the page and try again.")
        return handler(ctx)
    page = request.arg("page", "overview")
    if page in POST_ACTIONS or request.arg("action"):
        raise HttpError(405, "Use the form",
                        "Previews of a selection and revocations happen only through the "
                        "page's forms (POST). A link never changes anything.")
    handler = GET_PAGES.get(page)
    if handler is None:
        raise HttpError(404, "Not found", "This page does not exist.")
    return handler(ctx)
