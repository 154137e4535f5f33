"""Notices before unattended revocations: when one is due and what ends it."""

from ..tokens import DAY
from .criteria import judge
from .plan import PlanItem
from .words import NOTICE, REVOKE, day

# -- notices before unattended revocations ------------------------------------------


class Notice(object):
    """A notice found in the audit log: when it was sent for a token identity, and the
    day (epoch at 00:00 UTC) its revocation is due."""

    __slots__ = ("identity", "sent", "due")

    def __init__(self, identity, sent, due):
        self.identity = identity
        self.sent = sent
        self.due = due


class NoticeState(object):
    """Where a token selected for revocation stands in its notice period.
    sent None: no valid notice yet, one is sent now (due: the day it would be due)."""

    __slots__ = ("sent", "due", "withheld")

    def __init__(self, sent, due, withheld=None):
        self.sent = sent
        self.due = due
        # Why no notice goes out although the token is selected (notify.py): the cap will
        # refuse its holder, or the last one reached nobody. Never revoked meanwhile.
        self.withheld = withheld

    @property
    def new(self):
        return self.sent is None

    def is_due(self, now):
        return not self.new and now >= self.due

    def describe(self):
        if self.withheld:
            return "no notice yet: %s" % self.withheld
        if self.new:
            return "would send a notice now; revocation due on %s" % day(self.due)
        return "notice sent on %s, revocation due on %s" % (day(self.sent), day(self.due))


def due_day(sent, notice_days):
    """A notice sent at `sent` is due at the start (00:00 UTC) of the day notice_days later:
    a cron run a few minutes earlier in the day than the notice's still revokes on time."""
    return (sent // DAY + notice_days) * DAY


def notice_states(plan, notices, notice_days, now):
    """Record in plan.notices where each token selected for revocation stands.

    notices: {identity: Notice}, the latest notice per token identity (notify.py reads
    them from the audit log). A notice counts only for the very token it was sent about
    (the identity binds holder and kind, name, creation time, expiry, ACLs and IP limits:
    a token re-created under the same name starts over).

    The one principle, the same for cron, the hook, the page and Ansible: a notice stands
    while the token stays selected by the policy. A use of this very token cancels it only
    when that use made the token no longer selected, i.e. the token was selected because
    it was unused (`unused_for_days`) and nothing else the policy asks would have selected
    it (notice_ended_by_use). A token in daily use that is selected by its age keeps its
    notice and is revoked when it is due; it is not told again every night.
    Returns plan.notices."""
    states = {}
    for token in plan.to_revoke():
        notice = notices.get(token.identity())
        if notice is not None and notice_ended_by_use(plan.selectors, plan.usage, token,
                                                      notice.sent):
            notice = None
        if notice is None:
            states[token.key()] = NoticeState(None, due_day(now, notice_days))
        else:
            # Never sooner than notice_days after the notice, whatever due day a record
            # claims (a damaged or hand-edited line); a later recorded day stands (it is
            # what the owner was told, under an earlier, longer notice_days).
            due = max(notice.due, due_day(notice.sent, notice_days))
            states[token.key()] = NoticeState(notice.sent, due)
    plan.notices = states
    return states


def notice_ended_by_use(selectors, usage, token, sent):
    """Whether a use of this very token since `sent` took it out of the policy's selection
    (and so ended the notice sent then). Only `unused_for_days` can be undone by use; with
    `combine: any` the token stays selected when another criterion selected it both when
    the notice was sent and at its last use. A kind whose use the log does not show (a
    cPanel account's token) is never judged by another kind's use of the same name."""
    if not selectors.unused_for_days or not token.usage_logged:
        return False
    use = _use_since(usage, token, sent)
    if use is None:
        return False
    if selectors.combine == "all":
        return True  # unused_for_days must hold, and the use undid it
    others = [name for name in selectors.active_criteria() if name != "unused_for_days"]
    if not others:
        return True
    still = all(judge(token, selectors, usage, moment, others)[0] is True
                for moment in (sent, use.last_used))
    return not still


def _use_since(usage, token, since):
    if usage is None or not hasattr(usage, "last_use") or not token.usage_logged:
        return None
    use = usage.last_use(token)
    return use if use is not None and use.last_used >= since else None


def hold_for_notice(plan, now):
    """An unattended run revokes only tokens whose notice is due: the others become
    NOTICE items whose reason says when (notice_states must have run). Returns the
    items held."""
    held = []
    for index, item in enumerate(plan.items):
        state = plan.notices.get(item.token.key())
        if item.decision != REVOKE or state is None:
            continue
        if state.is_due(now):  # revoked now: the record says it was announced
            changed = PlanItem(item.token, REVOKE, "%s; %s" % (item.reason, state.describe()))
        else:
            changed = PlanItem(item.token, NOTICE,
                               "%s (selected: %s)" % (state.describe(), item.reason))
            held.append(changed)
        plan.items[index] = changed
        plan._reasons[item.token.key()] = changed.reason
    return held
