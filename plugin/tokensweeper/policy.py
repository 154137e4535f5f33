"""Which tokens a sweep revokes, and why. Pure: no I/O, no clock.

make_plan(tokens, usage, selectors, protection, now) gives one PlanItem per
token, each with a decision and a reason an administrator can read:
  revoke     selected, and not protected
  protected  selected, but protected (built-in vendor/cPanel names or config globs)
  keep       not selected (the reason says why)
  gone       asked for by name but no longer listed
"""

import copy
import re
import time
from fnmatch import fnmatchcase, translate

from .tokens import DAY, Token

REVOKE, PROTECTED, KEEP, GONE = "revoke", "protected", "keep", "gone"

# Names cPanel and vendors create for themselves: revoking them breaks features
# (cpanel-facts.md, "Tokens cPanel and vendors create for themselves").
BUILTIN_PROTECTED = (
    ("reverse_trust_*", "DNS cluster trust token"),
    ("*-trust", "DNS cluster trust token"),
    ("transfer-*", "Transfer Tool token"),
    ("WebPros_Dashboard", "reserved for the WebPros dashboard"),
    ("WP-Dashboard", "reserved for the WebPros dashboard"),
)


def day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def days_phrase(days):
    return "1 day" if days == 1 else "%d days" % days


class Protection(object):
    def __init__(self, builtin=True, names=()):
        self.builtin = builtin
        self.names = tuple(names)
        # Compiled once: every token of every owner is checked, often twice per page.
        rules = [(p, "protected: %s" % why) for p, why in BUILTIN_PROTECTED] if builtin else []
        rules += [(p, "protected: matches protect.names %r" % p) for p in self.names]
        self._rules = [(re.compile(translate(p)).match, why) for p, why in rules]

    def reason(self, token):
        """Why this token must never be revoked by policy, or None."""
        for matches, why in self._rules:
            if matches(token.name):
                return why
        return None


class Selectors(object):
    """What to select. Criteria are AND-ed (the command line) or OR-ed (the config's policy:
    a token is stale when it is expired OR too old OR unused). Names and owners only ever
    narrow what the criteria select: without a criterion nothing is selected, so a policy
    of only `owners: [bob]` or `names: ["*"]` is never "every token of bob" or "every
    token". every_token is the one explicit "all of them" (an account event's revoke_all)."""

    CRITERIA = (
        "every_token",
        "expired",
        "expiring_within_days",
        "older_than_days",
        "unused_for_days",
        "no_expiry",
        "full_access",
        "no_ip_limit",
    )

    def __init__(
        self,
        every_token=False,
        expired=False,
        expiring_within_days=None,
        older_than_days=None,
        unused_for_days=None,
        no_expiry=False,
        full_access=False,
        no_ip_limit=False,
        names=(),
        owners=(),
        combine="all",
    ):
        if combine not in ("all", "any"):
            raise ValueError("combine must be 'all' or 'any'")
        self.every_token = every_token
        self.expired = expired
        self.expiring_within_days = expiring_within_days
        self.older_than_days = older_than_days
        self.unused_for_days = unused_for_days
        self.no_expiry = no_expiry
        self.full_access = full_access
        self.no_ip_limit = no_ip_limit
        self.names = tuple(names)
        self.owners = tuple(owners)
        self.combine = combine

    def narrowed(self, owners=None, names=None):
        """The same criteria, limited to these owners and/or names."""
        narrowed = copy.copy(self)
        if owners:
            narrowed.owners = tuple(owners)
        if names:
            narrowed.names = tuple(names)
        return narrowed

    def active_criteria(self):
        return [name for name in self.CRITERIA if getattr(self, name) not in (None, False)]

    def selects_anything(self):
        """Whether any token can be selected: owners and names alone never select."""
        return bool(self.active_criteria())

    def to_dict(self):
        """What the audit log and --json record: only what is set."""
        out = {name: getattr(self, name) for name in self.active_criteria()}
        if self.names:
            out["names"] = list(self.names)
        if self.owners:
            out["owners"] = list(self.owners)
        if len(self.active_criteria()) > 1:
            out["combine"] = self.combine
        return out

    def describe(self):
        """One line for people: 'expired or older_than_days=365, names ci-*, owners bob'."""
        criteria = [
            "%s=%s" % (n, getattr(self, n)) if getattr(self, n) is not True else n
            for n in self.active_criteria()
        ]
        parts = [(" and " if self.combine == "all" else " or ").join(criteria)] if criteria else []
        if self.names:
            parts.append("names " + " ".join(self.names))
        if self.owners:
            parts.append("owners " + " ".join(self.owners))
        return ", ".join(parts) or "nothing"


class PlanItem(object):
    __slots__ = ("token", "decision", "reason")

    def __init__(self, token, decision, reason):
        self.token = token
        self.decision = decision
        self.reason = reason

    def __repr__(self):
        return "PlanItem(%r, %r, %r)" % (self.token, self.decision, self.reason)


class Plan(object):
    def __init__(self, items, selectors, now):
        self.items = items
        self.selectors = selectors
        self.now = now
        self.owner_errors = {}  # owner -> why its tokens could not be listed (set by the planner)
        self.problems = []  # owner names that were refused
        self.last_used = {}  # (owner, name) -> "2026-11-20 10:01 UTC from ...", "never used", ...
        self._reasons = {item.token.key(): item.reason for item in items}

    def reason_of(self, token):
        return self._reasons.get(token.key(), "")

    def describe_use(self, usage):
        """Record how each token reads in the usage evidence, for every report of this plan."""
        if usage is not None:
            self.last_used = {i.token.key(): usage.describe(i.token, self.now) for i in self.items}

    def last_used_of(self, token):
        return self.last_used.get(token.key())

    def with_decision(self, decision):
        return [item for item in self.items if item.decision == decision]

    def to_revoke(self):
        return [item.token for item in self.with_decision(REVOKE)]

    def by_owner(self):
        grouped = {}
        for item in self.items:
            grouped.setdefault(item.token.owner, []).append(item)
        return grouped

    def counts(self):
        counts = {REVOKE: 0, PROTECTED: 0, KEEP: 0, GONE: 0}
        for item in self.items:
            counts[item.decision] += 1
        return counts


# -- criteria: each returns (matched, reason) -----------------------------------


def _every_token(token, _selectors, _usage, _now):
    return True, "every token of %s" % token.owner


def _expired(token, _selectors, _usage, now):
    if token.is_expired(now):
        ago = (now - token.expires_at) // DAY
        return True, "expired on %s, %s ago" % (day(token.expires_at), days_phrase(ago))
    if token.expires_at is None:
        return False, "never expires"
    return False, "expires on %s" % day(token.expires_at)


def _expiring_within(token, selectors, _usage, now):
    days = selectors.expiring_within_days
    if token.expires_at is None:
        return False, "never expires"
    if token.is_expired(now):
        return False, "already expired on %s" % day(token.expires_at)
    left = token.expires_in_days(now)
    if token.expires_at <= now + days * DAY:
        return True, "expires on %s, in %s" % (day(token.expires_at), days_phrase(left))
    return False, "expires on %s, in %s" % (day(token.expires_at), days_phrase(left))


def _older_than(token, selectors, _usage, now):
    age = token.age_days(now)
    matched = now - token.create_time > selectors.older_than_days * DAY
    return matched, "created %s, %s ago" % (day(token.create_time), days_phrase(age))


def _unused_for(token, selectors, usage, now):
    if usage is None:
        return False, "unused: unknown (no usage data)"
    matched, reason = usage.unused_for(token, selectors.unused_for_days, now)
    return matched, ("unused: %s" % reason) if matched else ("not selected as unused: %s" % reason)


def _no_expiry(token, _selectors, _usage, _now):
    if token.expires_at is None:
        return True, "never expires"
    return False, "expires on %s" % day(token.expires_at)


def _full_access(token, _selectors, _usage, _now):
    return token.full_access, token.access_words


def _no_ip_limit(token, _selectors, _usage, _now):
    if token.ip_limited:
        return False, "limited to %s" % ", ".join(token.whitelist_ips)
    return True, "no IP limit"


CRITERION_TESTS = {
    "every_token": _every_token,
    "expired": _expired,
    "expiring_within_days": _expiring_within,
    "older_than_days": _older_than,
    "unused_for_days": _unused_for,
    "no_expiry": _no_expiry,
    "full_access": _full_access,
    "no_ip_limit": _no_ip_limit,
}


def _matches_filters(token, selectors):
    if selectors.owners and token.owner not in selectors.owners:
        return False, "owner %s not selected" % token.owner
    if selectors.names:
        matching = [p for p in selectors.names if fnmatchcase(token.name, p)]
        if not matching:
            return False, "name matches none of %s" % ", ".join(selectors.names)
        return True, "name matches %r" % matching[0]
    return True, None


def select(token, selectors, usage, now, criteria=None):
    """(selected, reason) for one token. criteria: selectors.active_criteria(), if known."""
    if criteria is None:
        criteria = selectors.active_criteria()
    if not criteria:
        # The rule every front end relies on: owners and names only narrow.
        if selectors.names or selectors.owners:
            return False, "no criterion given (owners and names only narrow a selection)"
        return False, "no selector given"
    passed, filter_reason = _matches_filters(token, selectors)
    if not passed:
        return False, filter_reason
    results = [CRITERION_TESTS[name](token, selectors, usage, now) for name in criteria]
    hits = [reason for matched, reason in results if matched]
    misses = [reason for matched, reason in results if not matched]
    wanted = all if selectors.combine == "all" else any
    if not wanted(matched for matched, _ in results):
        return False, "; ".join(misses)
    extra = [filter_reason] if filter_reason else []
    return True, "; ".join(hits + extra)


def make_plan(tokens, usage, selectors, protection, now):
    items = []
    criteria = selectors.active_criteria()  # once, not once per token
    for token in tokens:
        selected, reason = select(token, selectors, usage, now, criteria)
        if not selected:
            items.append(PlanItem(token, KEEP, reason))
            continue
        protected = protection.reason(token)
        if protected:
            items.append(PlanItem(token, PROTECTED, "%s (selected: %s)" % (protected, reason)))
        else:
            items.append(PlanItem(token, REVOKE, reason))
    plan = Plan(items, selectors, now)
    plan.describe_use(usage)
    return plan


def plan_for_names(tokens, wanted, protection, now):
    """A plan for tokens chosen by hand: wanted is a set of (owner, name).

    Protected tokens stay protected even when chosen; names no longer listed are 'gone'.
    """
    listed = {token.key(): token for token in tokens}
    owners = sorted({owner for owner, _ in wanted})
    items = []
    for key in sorted(wanted):
        token = listed.get(key)
        if token is None:
            # Only owner and name are known: enough for the report and the audit log.
            items.append(PlanItem(Token(key[0], key[1], 0), GONE, "no longer listed"))
            continue
        protected = protection.reason(token)
        if protected:
            items.append(PlanItem(token, PROTECTED, protected))
        else:
            items.append(PlanItem(token, REVOKE, "chosen by hand"))
    return Plan(items, Selectors(names=sorted({n for _, n in wanted}), owners=owners), now)


def identity_key(identity):
    """(owner, name) of an identity string "OWNER:NAME:CREATE_TIME:DIGEST" (Token.identity)."""
    owner, _, rest = identity.partition(":")
    return owner, rest.split(":", 1)[0]


def confirmation_changes(confirmed, plan):
    """What differs between the tokens a person confirmed (identity strings) and the
    plan made now, in sentences; empty when they are the same tokens, unchanged.

    The plan's items hold every token listed now for the owners concerned (a policy
    plan: all of them; a plan for names: the names asked for), so a confirmed token
    that is not among them is gone.
    """
    planned = {token.identity() for token in plan.to_revoke()}
    listed = {item.token.key(): item for item in plan.items if item.decision != GONE}
    changes = []
    for identity in sorted(set(confirmed) - planned):
        key = identity_key(identity)
        item = listed.get(key)
        label = "%s/%s" % key
        if item is None:
            changes.append("%s is no longer listed (revoked or removed meanwhile)" % label)
        elif identity.count(":") != 3:
            changes.append("%s: the confirmation did not say which token of that name it "
                           "meant (no creation time)" % label)
        elif item.token.identity() != identity:
            if identity.split(":")[2] != str(item.token.create_time):
                changes.append("%s was re-created under the same name (the token listed now was "
                               "created %s)" % (label, day(item.token.create_time)))
            else:
                changes.append("%s was changed (expiry, ACLs or IP limit)" % label)
        else:
            changes.append("%s is no longer selected: %s" % (label, item.reason))
    confirmed_keys = {identity_key(identity) for identity in confirmed}
    for token in plan.to_revoke():
        if token.key() not in confirmed_keys:
            changes.append("%s/%s is newly selected: %s" % (token.owner, token.name,
                                                            plan.reason_of(token)))
    return changes


EXPIRING_SOON_DAYS = 14
# State key -> the words a listing uses for it.
STATE_WORDS = {
    "protected": "protected",
    "expired": "expired",
    "stale": "stale by policy",
    "expiring": "expiring soon",
    "active": "active",
}


def state_of(item, protection, now):
    """(state, reason): what an overview shows for a token, given its item in the configured
    policy's plan. The one definition the page and the command share."""
    token = item.token
    protected = protection.reason(token)
    if item.decision == PROTECTED or protected:
        return "protected", protected or item.reason
    if token.is_expired(now):
        return "expired", item.reason if item.decision == REVOKE else "expired"
    if item.decision == REVOKE:
        return "stale", item.reason
    left = token.expires_in_days(now)
    if left is not None and token.expires_at - now <= EXPIRING_SOON_DAYS * DAY:
        return "expiring", "expires in %s" % days_phrase(left)
    return "active", ""
