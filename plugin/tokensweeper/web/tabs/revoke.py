"""The POST actions: a preview of a selection (ticked or matching a filter) and the
revocation it confirms."""

import re
import time
from urllib.parse import urlencode

from tokensweeper import audit, paths
from tokensweeper.lock import LockBusy, SweepLock
from tokensweeper.owners import CachedListings, valid_owner
from tokensweeper.policy import (
    GONE,
    KEEP,
    PROTECTED,
    REVOKE,
    confirmation_changes,
    make_plan,
    plan_for_names,
)
from tokensweeper.sources import source_for
from tokensweeper.sweep import ENFORCE, execute
from tokensweeper.tokens import KINDS, WHM, holder_of, split_holder
from tokensweeper.usage import load_usage
from tokensweeper.whmapi import WhmapiError

from .. import views
from ..formats import CONTROL_RE, CONTROL_SHOWN
from ..request import DIGITS_RE, HttpError, bad_request
from ..tokenvalue import name_from_form
from .audit import see_run
from .common import (
    TYPED_CONFIRMATION_ABOVE,
    Listing,
    client,
    load_config,
    new_confirmation_id,
    policy_plan,
)
from .incident import incident_page, incident_plan
from .overview import _row_filter, overview

IDENTITY_DIGEST_RE = re.compile(r"^[0-9a-f]{12}\Z")
# Each preview's confirmation form carries a one-time id, recorded in the audit records of
# the run it starts: pressing Revoke again (a double click, back and resubmit) finds that
# run and shows its result instead of revoking, or failing, a second time.
CONFIRMATION_RE = re.compile(r"^[0-9a-f]{32}\Z")
# A second press usually arrives while the first still holds the sweep lock: it waits for
# the first to finish (this long at most), then finds its run.
LOCK_WAIT_SECONDS = 120
LOCK_POLL_SECONDS = 0.2
# -- POST actions ------------------------------------------------------------------------


def parse_selection(values):
    """Form values -> {(holder, name): identity or None}. 400 on anything else.

    The overview's checkboxes send "HOLDER:NAME" (the holder names the kind: "bob" for
    bob's WHM token, "bob@cpanel" for bob's cPanel account's); the preview's confirmation
    form sends each token's identity "HOLDER:NAME:CREATE_TIME:DIGEST" (Token.identity), so
    that a token re-created under the same name is never taken for the one confirmed. NAME
    is spelt as tokenvalue.form_name spells it (a final newline as a backslash and an n,
    which survives a browser's form submission); the names and identities returned are
    the listed ones, the newline itself.
    """
    wanted = {}
    for value in values:
        parts = value.split(":")
        holder, name = parts[0], name_from_form(":".join(parts[1:2]))
        owner, kind = split_holder(holder)
        bound = len(parts) == 4 and DIGITS_RE.match(parts[2]) and IDENTITY_DIGEST_RE.match(
            parts[3])
        if (len(parts) not in (2, 4) or (len(parts) == 4 and not bound)
                or not valid_owner(owner) or kind not in KINDS or name is None
                or (kind != WHM and owner == "root")
                or holder != holder_of(owner, kind)):  # a WHM token's holder is "bob"
            raise bad_request("“{}” is not a token of this server: a selection is "
                              "OWNER:NAME with a cPanel user and token name.".format(
                                  _shown(value[:120])))
        wanted[(holder, name)] = ":".join([holder, name] + parts[2:]) if bound else None
    if not wanted:
        raise bad_request("No token was selected. Tick the tokens to revoke on the overview.")
    return wanted


def _shown(text):
    """A refused form value for the error page: control characters as escapes (`\\r`)."""
    return CONTROL_RE.sub(lambda match: CONTROL_SHOWN.get(match.group(),
                                                          "\\x%02x" % ord(match.group())),
                          text)


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
    state, owner, text, kind, reseller = _row_filter(ctx.request)
    cfg, usage = load_config(), load_usage()
    plan = policy_plan(cfg, ctx.now, usage)
    rows = views.filter_rows(views.rows_from_plan(plan, usage, cfg.protection(), ctx.now),
                             state, owner, text, kind, reseller)
    wanted = {row.token.key() for row in rows if row.selectable}
    chosen = plan_for_names([item.token for item in plan.items], wanted, cfg.protection(),
                            ctx.now)
    chosen.describe_use(usage)
    chosen.owner_errors, chosen.problems = plan.owner_errors, plan.problems
    # The filter chose them, not a hand (issue 30.7); the confirmation's address carries
    # the filter, so the audit record says so too.
    chosen.reword(REVOKE, "chosen by filter: " + _filter_words(state, owner, text, kind,
                                                                reseller))
    filters = [(k, v) for k, v in (("state", state), ("owner", owner), ("kind", kind),
                                   ("q", text), ("reseller", reseller)) if v]
    return _preview_page(ctx, chosen, "selection", cfg, usage, level="info",
                         message=_matching_message(len(wanted), state, owner, text, kind,
                                                   reseller),
                         confirm_action="index.cgi?" + urlencode(filters + [("chosen",
                                                                             "filter")]))


def _filter_choice(cfg, now, usage, row_filter):
    """The (holder, name) keys Select all matching chooses for this overview filter."""
    plan = policy_plan(cfg, now, usage)
    rows = views.filter_rows(views.rows_from_plan(plan, usage, cfg.protection(), now),
                             *row_filter)
    return {row.token.key() for row in rows if row.selectable}


def _filter_words(state, owner, text, kind, reseller):
    """The overview's filter as a rule: "state=expired, kind=cPanel"."""
    words = [("state", state), ("kind", views.KIND_LABELS.get(kind, kind)), ("owner", owner),
             ("accounts of reseller", reseller), ("name contains", text)]
    return ", ".join("%s=%s" % (key, value) if key in ("state", "kind", "owner") else
                     "%s %s" % (key, value) for key, value in words if value) or "every token"


def _matching_message(count, state, owner, text, kind="", reseller=""):
    words = [views.STATE_LABELS[state].lower()] if state else []
    if kind:
        words.append(views.KIND_LABELS[kind])
    if owner:
        words.append("of " + owner)
    if reseller:
        words.append("of the accounts of reseller " + reseller)
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
                  level="danger", listing=None, refresh_link="index.cgi?refresh=1",
                  confirm_action="index.cgi", backtest=None):
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
        run_mode=cfg.mode if mode == "policy" else None, confirm_action=confirm_action,
        listing=listing or Listing(), refresh_link=refresh_link, backtest=backtest)


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
        from .. import incident as panel

        form = panel.form_from(ctx.request, ctx.now, posted=True)
        plan = incident_plan(form.selectors, ctx.now, usage, form.kinds)

        def again(**kwargs):
            return incident_page(ctx, form, plan, usage, **kwargs)
    else:
        if mode == "selection":
            plan = selection_plan(wanted, cfg, ctx.now, usage)
            if ctx.request.arg("chosen") == "filter":  # Select all matching's confirmation
                row_filter = _row_filter(ctx.request)
                if _filter_choice(cfg, ctx.now, usage, row_filter) != set(wanted):
                    # The address's filter does not choose the tokens confirmed (tampered
                    # with): the record must not name a rule that did not choose them.
                    raise HttpError(409, "Nothing was revoked", (
                        "The filter in this confirmation does not choose the tokens "
                        "previewed. Nothing was revoked; preview again from the list."))
                plan.reword(REVOKE, "chosen by filter: " + _filter_words(*row_filter))
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
