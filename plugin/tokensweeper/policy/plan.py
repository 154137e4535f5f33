"""The plan: one item per token with its decision and reason."""

from ..tokens import Token, split_holder
from .criteria import NOT_LOGGED, _iso, judge
from .selectors import Selectors
from .words import GONE, KEEP, PROTECTED, REVOKE


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
        # Tokens a usage-evidence criterion could not judge (not selected on that ground):
        # PlanItems with decision keep, whose reason says what evidence is missing.
        self.unjudged = []
        self.evidence_problems = []  # the sentence saying so, also in problems
        self.usage = None
        # key -> NoticeState for each token selected for revocation, once notices are
        # weighed (notice_states); empty when notices are off.
        self.notices = {}
        self._reasons = {item.token.key(): item.reason for item in items}

    def reason_of(self, token):
        return self._reasons.get(token.key(), "")

    def reword(self, decision, reason):
        """Give every item of `decision` this reason (the page's "Select all matching":
        "chosen by filter: state=expired", not "chosen by hand")."""
        for item in self.items:
            if item.decision == decision:
                item.reason = reason
                self._reasons[item.token.key()] = reason

    def describe_use(self, usage):
        """Record how each token reads in the usage evidence, for every report of this plan."""
        if usage is not None:
            self.usage = usage
            self.last_used = {i.token.key(): usage.describe(i.token, self.now)
                              if i.token.usage_logged else NOT_LOGGED for i in self.items}

    def seen_from_of(self, token):
        """The addresses the token was used from, for the record: [{ip, first, last, uses}]
        (newest first) and whether more were seen than kept; ([], False) without evidence."""
        if self.usage is None or not hasattr(self.usage, "seen_from") or not token.usage_logged:
            return [], False
        uses, dropped = self.usage.seen_from(token)
        return ([{"ip": u.ip or None, "uses": u.uses, "last": _iso(u.last),
                  "first": None if u.first is None else _iso(u.first)} for u in uses],
                dropped is not None)

    def last_used_of(self, token):
        return self.last_used.get(token.key())

    def with_decision(self, decision):
        return [item for item in self.items if item.decision == decision]

    def to_revoke(self):
        return [item.token for item in self.with_decision(REVOKE)]

    def by_owner(self):
        grouped = {}
        for item in self.items:
            grouped.setdefault(item.token.holder, []).append(item)
        return grouped

    def counts(self):
        counts = {REVOKE: 0, PROTECTED: 0, KEEP: 0, GONE: 0}
        for item in self.items:
            counts[item.decision] = counts.get(item.decision, 0) + 1  # NOTICE only when held
        return counts

    def notice_of(self, token):
        """The token's NoticeState (notices weighed and the token selected), else None."""
        return self.notices.get(token.key())


def make_plan(tokens, usage, selectors, protection, now):
    items = []
    criteria = selectors.active_criteria()  # once, not once per token
    unjudged = []
    for token in tokens:
        verdict, reason = judge(token, selectors, usage, now, criteria)
        if verdict is not True:
            items.append(PlanItem(token, KEEP, reason))
            if verdict is None:
                unjudged.append(items[-1])
            continue
        protected = protection.reason(token)
        if protected:
            items.append(PlanItem(token, PROTECTED, "%s (selected: %s)" % (protected, reason)))
        else:
            items.append(PlanItem(token, REVOKE, _with_resemblance(reason, protection, token)))
    plan = Plan(items, selectors, now)
    plan.describe_use(usage)
    plan.unjudged = unjudged
    if unjudged:
        plan.evidence_problems = [evidence_problem(unjudged, selectors)]
        plan.problems = list(plan.evidence_problems)
    return plan


def _with_resemblance(reason, protection, token):
    """Say so when a token revoked on its account's own event looked like a system token."""
    rule = protection.resemblance(token)
    if rule is None:
        return reason
    return ("%s; looked like a system token (%s), but a name does not shield the tokens of the "
            "account this event is about" % (reason, rule.describe()))


def evidence_problem(unjudged, selectors):
    """One loud sentence for the tokens a usage-evidence criterion could not judge."""
    which = [n for n in selectors.active_criteria() if n in Selectors.EVIDENCE_CRITERIA]
    named = ", ".join("%s/%s" % item.token.key() for item in unjudged[:10])
    more = "" if len(unjudged) <= 10 else " and %d more" % (len(unjudged) - 10)
    return ("usage evidence missing: %d token%s could not be judged by %s and %s NOT "
            "selected on that ground (the usage log cannot tell; see each token's reason): "
            "%s%s" % (len(unjudged), "" if len(unjudged) == 1 else "s",
                      " and ".join(which) or "the usage evidence",
                      "is" if len(unjudged) == 1 else "are", named, more))


def plan_for_names(tokens, wanted, protection, now):
    """A plan for tokens chosen by hand: wanted is a set of (holder, name) (Token.key()).

    Protected tokens stay protected even when chosen; names no longer listed are 'gone'.
    """
    listed = {token.key(): token for token in tokens}
    owners = sorted({split_holder(holder)[0] for holder, _ in wanted})
    items = []
    for key in sorted(wanted):
        token = listed.get(key)
        if token is None:
            # Only holder and name are known: enough for the report and the audit log.
            owner, kind = split_holder(key[0])
            items.append(PlanItem(Token(owner, key[1], 0, kind=kind), GONE, "no longer listed"))
            continue
        protected = protection.reason(token)
        if protected:
            items.append(PlanItem(token, PROTECTED, protected))
        else:
            items.append(PlanItem(token, REVOKE, "chosen by hand"))
    plan = Plan(items, Selectors(names=sorted({n for _, n in wanted}), owners=owners), now)
    plan.problems = list(protection.problems)
    return plan
