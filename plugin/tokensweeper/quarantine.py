"""Quarantine and restore of WHM API tokens: a revocation that can be undone.

Quarantine sets a token's IP list (`whitelist_ips`) to MARKER, a documentation address
(RFC 5737) that no real caller has: cpsrvd refuses every use from anywhere else, and
nothing else about the token changes (never its name, ACLs or expiry). Restore puts back
exactly the list the token had.

The audit log is the durable record (no state file of its own): the token's original list
is written (an intent record) BEFORE the call that changes it, the change is verified by
listing, then an outcome record says what happened. Which tokens are in quarantine now is
the replay of those records (held()) AND the listing: a token is quarantined only while it
is listed with the same creation time and its IP list is exactly MARKER. A token of the
same name re-created since, an IP list someone changed, a name that merely looks like a
marker: none of them is taken for a quarantined token, and restore refuses them.

cPanel-account tokens cannot be quarantined: UAPI has no call that writes their IP list.

The caller holds the sweep lock (lock.SweepLock) for quarantine() and restore()."""

import ipaddress

from . import audit
from .clock import now as clock_now
from .policy import REVOKE, day, share_cap
from .sweep import ALREADY_GONE, DEFERRED, FAILED, PREVIEW, UNVERIFIED, Outcome
from .tokens import WHM, Token

# RFC 5737 TEST-NET-1: never routed, never a caller. Not 127.0.0.1: every local process
# could use a token limited to it.
MARKER = "192.0.2.1"
DAY = 86400

# Plan decisions (quarantine_days > 0): quarantine now, or already in quarantine.
QUARANTINE, IN_QUARANTINE = "quarantine", "in-quarantine"
# Outcomes (besides sweep's already-gone, failed, unverified).
QUARANTINED, WOULD_QUARANTINE, RESTORED = "quarantined", "would-quarantine", "restored"
# Not quarantined: the token's IP list already is only MARKER, set by someone else.
LEFT_ALONE = "left-alone"
REFUSED = "refused"  # restore: the token changed since it was quarantined
OPERATIONS = ("quarantine", "restore")
MAX_IPS = 100  # cPanel's limit per token


def is_marked(token):
    return token.kind == WHM and token.whitelist_ips == (MARKER,)


def marked_copy(token):
    """The token as it is listed once quarantined: its identity is what restore checks."""
    return Token(token.owner, token.name, token.create_time, token.expires_at, token.acls,
                 (MARKER,), token.owner_acls, token.kind, token.account_owner,
                 token.full_access, token.features)


class Held(object):
    """A token the audit log says tokensweeper quarantined and has not restored or seen
    revoked: owner, name, create_time, since (epoch), run_id, originals (tuple of
    addresses, () = no limit; None when the record is damaged), identity (what the
    quarantined token must still be), confirmed (an outcome record says quarantined;
    False: the run was interrupted or could not verify, the listing decides)."""

    __slots__ = ("owner", "name", "create_time", "since", "run_id", "originals", "identity",
                 "confirmed", "prior", "foreign")

    def __init__(self, owner, name, create_time, since, run_id, originals, identity):
        self.owner = owner
        self.name = name
        self.create_time = create_time
        self.since = since
        self.run_id = run_id
        self.originals = originals
        self.identity = identity
        self.confirmed = False
        self.prior = None  # the entry this one replaced (a quarantine undone by hand)
        # True: not set by tokensweeper: a run found the token's list already only MARKER
        # (left alone); it counts toward quarantine_days, never restorable.
        self.foreign = False

    def key(self):
        return (self.owner, self.name, self.create_time)

    def revoke_day(self, days):
        """The first day a still-selected token in quarantine is revoked (00:00 UTC)."""
        return (self.since // DAY + days) * DAY

    def open_until(self, days):
        """Until when an undone quarantine still counts (quarantine_days past its revoke
        day): a token selected again long after starts afresh, quarantined first."""
        return self.revoke_day(days) + days * DAY

    def describe_originals(self):
        if self.originals is None:
            return "unknown (the audit record is damaged)"
        return ", ".join(self.originals) if self.originals else "any address"


def originals_of(value):
    """The recorded list as a tuple, or None when it is not a list cPanel would take (a
    line edited by hand, a damaged record): restore then refuses rather than guess."""
    if not isinstance(value, list) or len(value) > MAX_IPS or value == [MARKER]:
        return None
    out = []
    for entry in value:
        # MARKER among other addresses is a reseller's own list: it comes back as it was.
        if not isinstance(entry, str):
            return None
        try:
            ipaddress.ip_network(entry)
        except ValueError:
            return None
        out.append(entry)
    return tuple(out)


def held(records, foreign=False, days=0):
    """{(owner, name, create_time): Held} replayed from audit records in file order.
    foreign: also the tokens a run left alone (their list already only MARKER), whose
    time counts toward quarantine_days (divert) but which are never restorable.
    days (quarantine_days): a token quarantined again before its earlier quarantine's
    window closed (open_until(), that quarantine undone by hand) keeps the earlier since."""
    out = {}
    for record in records:
        record = audit.readable(record)
        operation, event = record.get("operation"), record.get("event")
        epoch, run_id = audit.epoch_of(record), record.get("run_id")
        for entry in record.get("tokens", []):
            if entry.get("kind", WHM) != WHM:
                continue
            owner, name, created = entry.get("owner"), entry.get("name"), entry.get(
                "create_time")
            if not (isinstance(owner, str) and isinstance(name, str) and isinstance(created, int)):
                continue
            key, action = (owner, name, created), entry.get("action")
            if operation == "quarantine" and event == "intent" and action == QUARANTINE:
                fresh = Held(owner, name, created, epoch, run_id,
                             originals_of(entry.get("original_whitelist_ips")),
                             entry.get("identity"))
                prior = out.get(key)
                if prior is not None and prior.confirmed and days \
                        and epoch < prior.open_until(days):
                    # Quarantined again without a restore or revocation between (someone
                    # set its list back by hand): quarantine_days still counts from the
                    # first quarantine, or an owner could undo each one and never reach it.
                    fresh.since, fresh.prior = min(prior.since, epoch), prior
                out[key] = fresh
            elif operation == "quarantine" and event == "outcome" and key in out \
                    and out[key].run_id == run_id:
                if action == QUARANTINED:
                    out[key].confirmed = True  # since: the intent's time, when it was decided
                elif action == ALREADY_GONE:
                    del out[key]
                elif action in (FAILED, LEFT_ALONE):
                    # Verified by listing: this run quarantined nothing; an earlier
                    # quarantine of the token (undone by hand) still counts, and so does
                    # the first run that found it at MARKER already.
                    if action == LEFT_ALONE and out[key].prior is None:
                        out[key].foreign = out[key].confirmed = True
                        out[key].originals = None
                    elif out[key].prior is None:
                        del out[key]
                    else:
                        out[key] = out[key].prior
            elif event == "outcome" and action in (RESTORED, "revoked", ALREADY_GONE):
                out.pop(key, None)
    if foreign:
        return out
    return {key: entry for key, entry in out.items() if not entry.foreign}


def read_held(foreign=False, days=0, about=None):
    """held() of the audit log (raises statefiles.UntrustedState for a log not ours).
    about: the listed tokens that will be looked up; only the records their lifetime
    can hold are read (audit.read_about: held() keys on the creation time), not the
    whole log. None: the whole log (restore by hand, the Quarantined list)."""
    if about is None:
        records, _ = audit.read()
    else:
        records, _ = audit.read_about(token.create_time for token in about)
    return held(records, foreign, days)


def in_quarantine(tokens, held_map):
    """{token key(): Held} of the listed tokens that are quarantined now."""
    out = {}
    for token in tokens:
        entry = held_map.get((token.owner, token.name, token.create_time))
        if entry is not None and is_marked(token):
            out[token.key()] = entry
    return out


def held_among(tokens, days=0):
    """in_quarantine() of these listed tokens, reading the audit log only when one of them
    carries MARKER: a listing never depends on the audit log otherwise."""
    tokens = list(tokens)
    if not any(is_marked(token) for token in tokens):
        return {}
    return in_quarantine(tokens, read_held(days=days, about=[t for t in tokens if is_marked(t)]))


# -- the unattended runs: quarantine instead of revoking -------------------------------

def divert(plan, held_map, days, now):
    """With quarantine_days = days > 0, turn the plan's WHM revocations into quarantines:
    a selected token not yet in quarantine gets decision QUARANTINE, one in quarantine for
    less than `days` IN_QUARANTINE (no call); one in quarantine for `days` or more stays
    REVOKE (the normal verified revoke, cap and lock). cPanel-account tokens stay REVOKE.
    Returns the tokens to quarantine now."""
    quarantined = in_quarantine([item.token for item in plan.items], held_map)
    to_quarantine = []
    for item in plan.items:
        if item.decision != REVOKE or item.token.kind != WHM:
            continue
        entry = quarantined.get(item.token.key())
        undone = held_map.get((item.token.owner, item.token.name, item.token.create_time))
        if entry is None and undone is not None and undone.confirmed \
                and undone.revoke_day(days) <= now < undone.open_until(days):
            # Quarantined by tokensweeper, its list set back by hand since (not restored),
            # still selected, and its days ran out: revoked as if it had stayed.
            item.reason = "%s; quarantined since %s, %d days passed (its IP list was set " \
                "back by hand, not restored)" % (item.reason, day(undone.since), days)
            continue
        if entry is None:
            item.decision = QUARANTINE
            item.reason = "%s; quarantined first (revoked after %d days if still selected)" % (
                item.reason, days)
            to_quarantine.append(item.token)
        elif now >= entry.revoke_day(days):
            item.reason = "%s; in quarantine since %s, %d days passed" % (
                item.reason, day(entry.since), days)
        else:
            item.decision = IN_QUARANTINE
            item.reason = "in quarantine since %s (run %s%s); revoked on %s if still " \
                "selected" % (day(entry.since), entry.run_id, ", its list already only %s, "
                              "set by someone else" % MARKER if entry.foreign else "",
                              day(entry.revoke_day(days)))
    return to_quarantine


def apply(plan, cfg, client, lock, now, actor, mode, clock=clock_now):
    """The unattended runs' quarantine step (after notices, before execute): divert the
    plan and quarantine what it selects. None when quarantine_days is 0."""
    days = cfg.policy.get("quarantine_days") or 0
    if not days:
        return None
    # Read whenever quarantine is on: a token whose quarantine was undone by hand is
    # not marked, and its first quarantine still counts (divert()).
    looked_up = [item.token for item in plan.items
                 if item.decision == REVOKE and item.token.kind == WHM]
    to_quarantine = divert(plan, read_held(foreign=True, days=days, about=looked_up), days, now)
    return quarantine(client, to_quarantine, lock, actor, mode, now, cfg.parallel_owners,
                      clock, selectors=plan.selectors.to_dict(), reasons={
                          item.token.key(): item.reason for item in plan.items},
                      cap=cfg.max_revoke_per_run)


# -- quarantine and restore ------------------------------------------------------------

class Report(object):
    """One quarantine or restore run: run_id, operation, outcomes, audit_error."""

    def __init__(self, run_id, operation, actor, mode, now, selectors):
        self.run_id = run_id
        self.operation = operation
        self.actor = actor
        self.mode = mode
        self.started = now
        self.finished = now
        self.selectors = selectors or {}
        self.outcomes = []
        self.originals = {}  # token key -> the list recorded for it
        self.audit_error = None
        self.refused = None  # why the cap held some tokens back, or None

    def count(self, action):
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def failed_count(self):
        return sum(1 for o in self.outcomes if o.action in (FAILED, UNVERIFIED, REFUSED))

    def exit_code(self):
        if self.audit_error or self.refused:
            return 1
        return 3 if self.failed_count else 0

    def token_records(self):
        out = []
        for outcome in self.outcomes:
            record = outcome.to_dict()
            originals = self.originals.get(outcome.token.key())
            if originals is not None:
                record["original_whitelist_ips"] = list(originals)
            out.append(record)
        return out

    def body(self, event, tokens):
        return {"event": event, "time": audit.iso(self.finished), "epoch": self.finished,
                "run_id": self.run_id, "actor": self.actor, "mode": self.mode,
                "operation": self.operation, "selectors": self.selectors, "tokens": tokens,
                "owner_errors": {}, "refused": self.refused}

    def to_dict(self):
        return {"run_id": self.run_id, "operation": self.operation, "actor": self.actor,
                "mode": self.mode, "started": audit.iso(self.started),
                "finished": audit.iso(self.finished), "tokens": self.token_records(),
                "audit_error": self.audit_error}


def quarantine(client, tokens, lock, actor, mode, now, parallel=4, clock=clock_now,
               selectors=None, reasons=None, cap=None):
    """Quarantine WHM tokens: intent record (each token's own IP list), the listing right
    before (a token gone, re-created or changed is left alone), one `batch` of
    api_token_update per owner (ceil(k/B) processes), the listing that verifies, the
    outcome record. mode PREVIEW records what would happen and calls nothing."""
    if not lock.held:
        raise RuntimeError("quarantine() needs the sweep lock held")
    reasons = reasons or {}
    report = Report(audit.new_run_id(now), "quarantine", actor, mode, now, selectors)
    tokens = [t for t in tokens if t.kind == WHM]
    if not tokens:
        return report
    held_back = []
    if cap is not None:
        # Unattended runs: max_revoke_per_run bounds the quarantines as it bounds revocations
        # (policy.share_cap: an owner over it is refused, owners that do not fit deferred).
        share = share_cap(tokens, cap)
        if share.held_back:
            admitted = {t.key() for t in share.admitted}
            for token in tokens:
                if token.key() not in admitted:
                    why = ("over the cap: %s has %d tokens to quarantine, more than "
                           "max_revoke_per_run (%d)" % (token.holder, share.refused[
                               token.holder], cap) if token.holder in share.refused else
                           "over the run's cap (max_revoke_per_run %d): left for the next run"
                           % cap)
                    held_back.append(Outcome(token, REFUSED if token.holder in share.refused
                                             else DEFERRED, why))
            report.refused = "over the cap: %d tokens were not quarantined" % len(held_back)
            tokens = share.admitted
    # A list restore could not send back (not addresses cPanel takes, over its 100):
    # quarantining that token would be a revocation that cannot be undone.
    for token in tokens:
        if token.whitelist_ips != (MARKER,) and originals_of(list(token.whitelist_ips)) is None:
            held_back.append(Outcome(token, FAILED, "not quarantined: its IP list (%d "
                                     "entries) could not be put back by a restore"
                                     % len(token.whitelist_ips)))
    unrestorable = {o.token.key() for o in held_back if o.action == FAILED}
    tokens = [t for t in tokens if t.key() not in unrestorable]
    for token in tokens:
        report.originals[token.key()] = token.whitelist_ips
    report.outcomes = list(held_back)
    if not tokens:
        _write(report, "outcome", clock)
        return report
    if mode == PREVIEW:
        report.outcomes = held_back + [Outcome(t, WOULD_QUARANTINE,
                                               reasons.get(t.key(), "selected")) for t in tokens]
        _write(report, "preview", clock)
        return report
    # Write-ahead: without the record of every original list, nothing is changed
    # (AuditError propagates).
    audit.write(report.body("intent", [
        dict(t.to_dict(), action=QUARANTINE, reason=reasons.get(t.key(), "selected"),
             original_whitelist_ips=list(t.whitelist_ips),
             identity=marked_copy(t).identity()) for t in tokens]))
    fates = _change(client, {t.key(): (t, (MARKER,)) for t in tokens}, parallel,
                    _quarantine_check, QUARANTINED)
    report.outcomes = held_back + [fates[t.key()] for t in tokens]
    for outcome in report.outcomes:
        if outcome.action == QUARANTINED:
            outcome.reason = reasons.get(outcome.token.key(), outcome.reason)
    _write(report, "outcome", clock)
    return report


def restore(client, entries, lock, actor, now, parallel=4, clock=clock_now):
    """Put back the recorded IP list of each Held entry, verified by listing. A token that
    changed since it was quarantined (revoked, re-created, ACLs, expiry or IP list changed)
    is refused with the reason, and nothing is called for it."""
    if not lock.held:
        raise RuntimeError("restore() needs the sweep lock held")
    report = Report(audit.new_run_id(now), "restore", actor, "enforce", now, {})
    if not entries:
        return report
    from .sources import whm

    listed = whm.listings(client, sorted({e.owner for e in entries}), parallel)
    doing, refused = {}, []
    for entry in entries:
        now_listed = listed[entry.owner]
        stand_in = Token(entry.owner, entry.name, entry.create_time)
        if isinstance(now_listed, str):
            refused.append(Outcome(stand_in, FAILED, "not restored: the tokens of %s could not "
                                   "be listed (%s)" % (entry.owner, now_listed)))
            continue
        token = now_listed.get(entry.name)
        why = _restore_refusal(entry, token)
        if why:
            refused.append(Outcome(token if token is not None and token.create_time ==
                                   entry.create_time else stand_in, REFUSED, why))
            continue
        report.originals[token.key()] = entry.originals
        doing[token.key()] = (token, entry.originals)
    report.outcomes = refused
    if doing:
        audit.write(report.body("intent", [
            dict(token.to_dict(), action="restore", reason="restore",
                 original_whitelist_ips=list(ips)) for token, ips in doing.values()]))
        fates = _change(client, doing, parallel, _restore_check, RESTORED)
        report.outcomes = refused + [fates[key] for key in doing]
    _write(report, "outcome", clock)
    return report


def _restore_refusal(entry, token):
    """Why this Held entry must not be restored now, or None."""
    if entry.originals is None:
        return ("not restored: its recorded IP list (run %s) is damaged or not an address "
                "list; set the list by hand in WHM » Manage API Tokens" % entry.run_id)
    if token is None:
        return "not restored: it is no longer listed (revoked or removed since it was quarantined)"
    if token.create_time != entry.create_time:
        return ("not restored: a token of that name was re-created since (created %s); "
                "it is another token" % audit.iso(token.create_time))
    if not is_marked(token):
        return ("not restored: its IP list was changed since it was quarantined (now %s)"
                % (", ".join(token.whitelist_ips) or "any address"))
    if entry.identity and token.identity() != entry.identity:
        return "not restored: its ACLs or expiry changed since it was quarantined"
    return None


def _quarantine_check(token, listed):
    """Before quarantining: the outcome of a token that must be left alone, or None."""
    if listed is None:
        return Outcome(token, ALREADY_GONE, "no longer listed right before the quarantine")
    if listed.create_time != token.create_time:
        return Outcome(token, ALREADY_GONE, "re-created under the same name since it was "
                       "planned (created %s): the new token was left alone"
                       % audit.iso(listed.create_time))
    if is_marked(listed):
        return Outcome(token, LEFT_ALONE, "its IP list already is only %s (set by someone "
                       "else): left alone" % MARKER)
    if listed.identity() != token.identity():
        return Outcome(token, FAILED, "changed since it was planned (expiry, ACLs or IP "
                       "limit): not quarantined; plan again")
    return None


def _restore_check(token, listed):
    if listed is None or listed.create_time != token.create_time:
        return Outcome(token, REFUSED, "not restored: no longer listed right before the call")
    if listed.identity() != token.identity():
        return Outcome(token, REFUSED, "not restored: changed right before the call")
    return None


def _same_ips(listed, wanted):
    try:
        return ({ipaddress.ip_network(ip) for ip in listed}
                == {ipaddress.ip_network(ip) for ip in wanted})
    except ValueError:
        return False


def _change(client, wanted, parallel, check, done_action):
    """{token key: Outcome}: list right before (check() may leave a token out), one batch
    of updates per owner, list again: only that listing says what changed."""
    from .sources import whm

    by_owner = {}
    for token, ips in wanted.values():
        by_owner.setdefault(token.owner, []).append((token, ips))
    fates, present = {}, {}
    before = whm.listings(client, sorted(by_owner), parallel)
    for owner, items in by_owner.items():
        listing = before[owner]
        for token, ips in items:
            if isinstance(listing, str):
                fates[token.key()] = Outcome(token, FAILED, "not changed: the tokens of %s "
                                             "could not be listed (%s)" % (owner, listing))
                continue
            fate = check(token, listing.get(token.name))
            if fate is None:
                present.setdefault(owner, []).append((token, ips))
            else:
                fates[token.key()] = fate
    if not present:
        return fates
    errors = whm.update_ips(client, {owner: [(t.name, list(ips)) for t, ips in items]
                                     for owner, items in present.items()}, parallel)
    after = whm.listings(client, sorted(present), parallel)
    for owner, items in present.items():
        listing = after[owner]
        for token, ips in items:
            error = errors.get(owner, {}).get(token.name)
            if isinstance(listing, str):
                why = "could not verify (%s); check with `tokensweeper list --owner %s`" % (
                    listing, owner)
                fates[token.key()] = Outcome(token, UNVERIFIED, "%s; the call failed: %s" % (
                    why, error) if error else why)
                continue
            now_listed = listing.get(token.name)
            if (now_listed is not None and now_listed.create_time == token.create_time
                    and _same_ips(now_listed.whitelist_ips, ips)):
                fates[token.key()] = Outcome(now_listed, done_action, "")
            else:
                fates[token.key()] = Outcome(token, FAILED, error or "whmapi1 answered OK but "
                                             "the IP list listed now is not the one set")
    return fates


def _write(report, event, clock):
    report.finished = int(clock())
    try:
        audit.write(report.body(event, report.token_records()))
    except audit.AuditError as error:
        if event == "preview":
            raise
        report.audit_error = str(error)
