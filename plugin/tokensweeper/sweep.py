"""From a Plan to a Result: the only code that revokes tokens.

The order is what makes it safe:
  1. the caller holds the sweep lock (one sweep at a time);
  2. an "intent" record reaches the audit log, or nothing is revoked;
  3. per holder, one listing right before revoking: a planned token
     that is no longer listed (or listed with another creation time: re-created)
     is already gone, not revoked by us, and is left out of the revoke call;
  4. batched revoke calls, then one listing: whmapi1 answers OK even for names
     it did not remove, so only that listing says what really went; when it
     fails, the outcome is unknown ("unverified"), never a guess;
  5. an "outcome" record with every token's fate.
How a kind lists and revokes is its source's (sources/): WHM tokens per owner,
cPanel-account tokens many accounts per whmapi1 process. Holders (an owner and
a kind: "bob", "bob@cpanel") are independent: one's failure never stops the others.
"""


from . import audit
from .clock import now as clock_now
from .policy import GONE, NOTICE, PROTECTED, REVOKE, Selectors, make_plan, share_cap
from .sources import DEFAULT_KINDS, ordered, source_for

PREVIEW, ENFORCE = "preview", "enforce"
REVOKED, ALREADY_GONE, FAILED = "revoked", "already-gone", "failed"
# Revoke called, then the verifying listing failed: maybe revoked, maybe not.
UNVERIFIED = "unverified"
KEPT_PROTECTED, WOULD_REVOKE = "kept-protected", "would-revoke"
# Held back by max_revoke_per_run: the owner's own candidates exceed it (refused), or they do
# not fit into what is left of this run (deferred to the next one).
REFUSED, DEFERRED = "refused", "deferred"
# Stale, but an unattended run gave (or would give) notice first (notify.py): the reason
# says when the notice was sent and the day its revocation is due.
NOTICE_PERIOD = "notice-period"
ACTIONS = (REVOKED, ALREADY_GONE, FAILED, UNVERIFIED, KEPT_PROTECTED, WOULD_REVOKE, REFUSED,
           DEFERRED, NOTICE_PERIOD)


class Outcome(object):
    __slots__ = ("token", "action", "reason")

    def __init__(self, token, action, reason):
        self.token = token
        self.action = action
        self.reason = reason

    def to_dict(self, last_used=None, seen_from=None):
        record = self.token.to_dict()
        record.update(action=self.action, reason=self.reason)
        if last_used:
            record["last_used"] = last_used
        if seen_from and seen_from[0]:
            # The addresses it was used from, as the log read then: the log rotates, the
            # incident record must not depend on it (`tokensweeper incident-report`).
            record["seen_from"] = seen_from[0]
            if seen_from[1]:
                record["seen_from_truncated"] = True
        return record


class Result(object):
    """What one run did, the same for every front end."""

    def __init__(self, run_id, actor, mode, started, selectors, confirmation=None):
        self.run_id = run_id
        # The page's one-time id of the preview this run carries out: a second press of
        # the same Revoke button finds this run by it in the audit log.
        self.confirmation = confirmation
        self.actor = actor
        self.mode = mode
        self.started = started
        self.finished = started
        self.selectors = selectors
        self.outcomes = []
        self.owner_errors = {}
        self.refused = None  # why some or all of the run was held back by the cap, or None
        self.held_back = {}  # owner -> why the cap held back its tokens
        self.audit_error = None
        self.last_used = {}  # (owner, name) -> how the usage evidence reads, from the plan
        self.seen_from = {}  # (owner, name) -> (addresses, truncated), from the plan
        self.problems = []  # what the plan could not judge (usage evidence missing), said loudly

    def count(self, action):
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    def counts(self):
        return {action: self.count(action) for action in ACTIONS}

    @property
    def failed_count(self):
        """Tokens that may still be valid: failed, and unverified (nobody knows)."""
        return self.count(FAILED) + self.count(UNVERIFIED)

    @property
    def ok(self):
        return not (self.failed_count or self.owner_errors or self.refused or self.audit_error)

    def exit_code(self):
        """DESIGN.md: 0 ok, 1 runtime failure (a refused run did not do its job either),
        3 finished with failed or unverified tokens."""
        if self.audit_error or self.refused:
            return 1
        if self.failed_count or self.owner_errors:
            return 3
        return 0

    def token_records(self):
        return [o.to_dict(self.last_used.get(o.token.key()), self.seen_from.get(o.token.key()))
                for o in self.outcomes]

    def to_dict(self):
        return {
            "run_id": self.run_id,
            "actor": self.actor,
            "mode": self.mode,
            "started": audit.iso(self.started),
            "finished": audit.iso(self.finished),
            "selectors": self.selectors,
            "counts": self.counts(),
            "tokens": self.token_records(),
            "owner_errors": self.owner_errors,
            "refused": self.refused,
            "held_back": self.held_back,
            "audit_error": self.audit_error,
            "problems": self.problems,
        }


def evidence_for(selectors):
    """The usage evidence a run needs for these selectors: the log (usage.load_usage) when
    a criterion depends on use, else None (reading a big log costs time). A notice ends by
    use only under unused_for_days (policy.notice_ended_by_use), so with this evidence the
    hook judges a noticed token exactly as cron and the page do."""
    if not any(getattr(selectors, name) for name in Selectors.EVIDENCE_CRITERIA):
        return None
    from .usage import load_usage
    return load_usage()


def build_plan(client, selectors, protection, usage, now, owners=None, parallel=4,
               kinds=DEFAULT_KINDS, resellers=None, found=None):
    """List the tokens of every kind in `kinds` (each kind's source finds its owners, or
    lists only `owners` when given; `resellers`: only the cPanel accounts they own;
    found: {kind: owners} a caller already discovered) and plan. The Plan carries
    owner_errors (holders whose listing failed) and problems (refused owner names, dormant
    owners: warnings, not failures)."""
    problems, notes, tokens, errors = [], [], [], {}
    for kind in ordered(kinds):
        source = source_for(kind)
        if found and kind in found:
            holders, refused = list(found[kind]), []
        else:
            holders, refused = source.find_holders(client, owners, resellers)
        inventory = source.inventory(client, holders, parallel)
        problems += refused
        notes += inventory.notes
        tokens += inventory.tokens
        errors.update(inventory.errors)
    plan = make_plan(tokens, usage, selectors, protection, now)
    plan.owner_errors = errors
    # The plan's own problems (usage evidence missing) come last.
    plan.problems = problems + notes + protection.problems + plan.problems
    return plan


def execute(plan, client, lock, actor, mode, now, cap=None, parallel=4, clock=clock_now,
            confirmation=None):
    """Carry out a plan. mode PREVIEW revokes nothing and records what would happen.

    cap (unattended runs, max_revoke_per_run): owners are independent. An owner whose own
    candidates exceed the cap is refused, owners that no longer fit into the run's total are
    deferred (policy.share_cap), the others are swept; a held-back owner's tokens are listed
    in the record with the reason, and the run's exit status is 1. A preview applies the
    same rule, so it says what the real run would hold back.
    confirmation: an id recorded in every record of the run (the page's preview id)."""
    if not lock.held:
        raise RuntimeError("execute() needs the sweep lock held")
    result = Result(audit.new_run_id(now), actor, mode, now, plan.selectors.to_dict(),
                    confirmation)
    result.owner_errors.update(plan.owner_errors)
    result.last_used = plan.last_used
    result.problems = list(getattr(plan, "evidence_problems", []))
    result.seen_from = {t.key(): plan.seen_from_of(t) for t in plan.to_revoke()}
    _settle_without_calls(plan, result)
    to_revoke = _within_cap(plan.to_revoke(), cap, result, preview=mode == PREVIEW)

    if mode == PREVIEW:
        result.outcomes.extend(Outcome(t, WOULD_REVOKE, plan.reason_of(t)) for t in to_revoke)
        return _record(result, "preview", clock)
    if not to_revoke and result.refused:
        return _record(result, "refused", clock)
    if not to_revoke:
        return _record(result, "outcome", clock)

    # Step 2: without an intent record nothing is revoked (AuditError propagates).
    audit.write(
        _record_body(
            result,
            "intent",
            [
                Outcome(t, REVOKE, plan.reason_of(t)).to_dict(plan.last_used_of(t),
                                                               result.seen_from.get(t.key()))
                for t in to_revoke
            ],
        )
    )
    result.outcomes.extend(_revoke_all(client, to_revoke, plan, parallel))
    return _record(result, "outcome", clock)


def _within_cap(to_revoke, cap, result, preview):
    """The tokens the cap lets this run revoke; the held-back ones become outcomes."""
    if cap is None:
        return to_revoke
    share = share_cap(to_revoke, cap)
    if not share.held_back:
        return share.admitted
    held = {}
    for token in to_revoke:
        held.setdefault(token.holder, []).append(token)
    were = "would be" if preview else "were"
    for owner, count in sorted(share.refused.items()):
        first = held[owner][0]
        why = ("over the cap: %s has %d tokens to revoke, more than max_revoke_per_run (%d); "
               "none of them %s revoked: a person must revoke them (tokensweeper sweep %s)"
               % (owner, count, cap, were,
                  source_for(first.kind).selector_args(first.owner)))
        result.held_back[owner] = why
        result.outcomes.extend(Outcome(t, REFUSED, why) for t in held[owner])
    for owner, count in sorted(share.deferred.items()):
        why = ("over the run's cap: %s's %d tokens do not fit into what is left of "
               "max_revoke_per_run (%d) after the owners before it; they %s left for the next run"
               % (owner, count, cap, were))
        result.held_back[owner] = why
        result.outcomes.extend(Outcome(t, DEFERRED, why) for t in held[owner])
    held_owners = (["refused %s (%d tokens)" % item for item in sorted(share.refused.items())]
                   + ["deferred %s (%d tokens)" % item for item in sorted(share.deferred.items())])
    result.refused = "over the cap: max_revoke_per_run is %d; %s; their tokens %s" % (
        cap, "; ".join(held_owners), "would not be revoked" if preview else "were not revoked")
    return share.admitted


def _settle_without_calls(plan, result):
    for item in plan.items:
        if item.decision == PROTECTED:
            result.outcomes.append(Outcome(item.token, KEPT_PROTECTED, item.reason))
        elif item.decision == GONE:
            result.outcomes.append(Outcome(item.token, ALREADY_GONE, item.reason))
        elif item.decision == NOTICE:
            result.outcomes.append(Outcome(item.token, NOTICE_PERIOD, item.reason))


def _revoke_all(client, tokens, plan, parallel):
    """Outcomes of the tokens to revoke, holder by holder (sorted), each in plan order.
    Each kind's source lists, revokes and lists again for all its holders at once: a
    cPanel source runs many accounts in one whmapi1 process."""
    by_kind = {}
    for token in tokens:
        by_kind.setdefault(token.kind, {}).setdefault(token.owner, []).append(token)
    fates = {}
    for kind in sorted(by_kind):
        fates.update(_revoke_with(source_for(kind), client, by_kind[kind], plan, parallel))
    by_holder = {}
    for token in tokens:
        by_holder.setdefault(token.holder, []).append(fates[token.key()])
    return [outcome for holder in sorted(by_holder) for outcome in by_holder[holder]]


def _revoke_with(source, client, by_owner, plan, parallel):
    """{token key: Outcome} for one kind's planned tokens: list right before, revoke what
    is still the planned token, list again to verify."""
    fates, present = {}, {}
    listed = source.listings(client, sorted(by_owner), parallel)
    for owner, tokens in by_owner.items():
        now_listed = listed[owner]
        if isinstance(now_listed, str):
            why = ("not revoked: the tokens of %s could not be listed right before revoking (%s)"
                   % (tokens[0].holder, now_listed))
            fates.update((token.key(), Outcome(token, FAILED, why)) for token in tokens)
            continue
        for token in tokens:
            fate = _before_revoking(token, now_listed.get(token.name))
            if fate is None:
                present.setdefault(owner, []).append(token)
            else:
                fates[token.key()] = fate
    if present:
        fates.update(_revoke_present(source, client, present, plan, parallel))
    return fates


def _before_revoking(token, listed):
    """The outcome of a planned token that must not be revoked, or None to revoke it."""
    if listed is None:
        return Outcome(token, ALREADY_GONE,
                       "no longer listed right before the revoke (removed by someone else)")
    if listed.create_time != token.create_time:
        return Outcome(token, ALREADY_GONE,
                       "re-created under the same name since it was planned (the token listed "
                       "now was created %s); the new token was not revoked"
                       % audit.iso(listed.create_time))
    if listed.identity() != token.identity():
        return Outcome(token, FAILED, "changed since it was planned (expiry, ACLs or IP limit): "
                                      "not revoked; plan again")
    return None


def _revoke_present(source, client, present, plan, parallel):
    names = {owner: [token.name for token in tokens] for owner, tokens in present.items()}
    call_errors = source.revoke(client, names, parallel)
    still = source.listings(client, sorted(present), parallel)
    fates = {}
    for owner, tokens in present.items():
        call_error = call_errors.get(owner)
        still_listed = still[owner]
        if isinstance(still_listed, str):
            why = "could not verify (%s); check with `%s`" % (still_listed,
                                                             source.check_hint(owner))
            if call_error:
                why = "%s; the revoke call failed: %s" % (why, call_error)
            fates.update((token.key(), Outcome(token, UNVERIFIED, why)) for token in tokens)
            continue
        for token in tokens:
            now_listed = still_listed.get(token.name)
            if now_listed is None or now_listed.create_time != token.create_time:
                outcome = Outcome(token, REVOKED, plan.reason_of(token))
            elif call_error:
                outcome = Outcome(token, FAILED, call_error)
            else:
                outcome = Outcome(token, FAILED,
                                  "whmapi1 answered OK but the token is still listed")
            fates[token.key()] = outcome
    return fates


def _record_body(result, event, tokens):
    body = {
        "event": event,
        "time": audit.iso(result.finished),
        "epoch": result.finished,
        "run_id": result.run_id,
        "actor": result.actor,
        "mode": result.mode,
        "selectors": result.selectors,
        "tokens": tokens,
        "owner_errors": result.owner_errors,
        "refused": result.refused,
    }
    if result.problems:
        body["problems"] = result.problems
    if result.confirmation:
        body["confirmation"] = result.confirmation
    return body


def _record(result, event, clock):
    result.finished = int(clock())
    try:
        audit.write(_record_body(result, event, result.token_records()))
    except audit.AuditError as error:
        if event == "refused" or event == "preview":
            raise
        result.audit_error = str(error)
    return result


def record_snapshot(tokens, actor, now, note):
    """Write an account's tokens to the audit log before cPanel deletes them. Returns the run id."""
    run_id = audit.new_run_id(now)
    audit.write(
        {
            "event": "snapshot",
            "time": audit.iso(now),
            "epoch": now,
            "run_id": run_id,
            "actor": actor,
            "mode": "snapshot",
            "selectors": {},
            "note": note,
            "tokens": [dict(t.to_dict(), action="snapshot", reason=note) for t in tokens],
            "owner_errors": {},
            "refused": None,
        }
    )
    return run_id
