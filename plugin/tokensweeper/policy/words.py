"""The words a plan uses: its decisions, spans of time for people, and the state a
listing shows for a token."""

import time

from ..tokens import DAY

REVOKE, PROTECTED, KEEP, GONE = "revoke", "protected", "keep", "gone"
NOTICE = "notice"


def day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def days_phrase(days):
    return "1 day" if days == 1 else "%d days" % days


def _span(seconds):
    """A span for people: whole days, or hours under a day (never "0 days")."""
    if seconds >= DAY:
        return days_phrase(seconds // DAY)
    hours = seconds // 3600
    if hours >= 1:
        return "1 hour" if hours == 1 else "%d hours" % hours
    return None


def ago_phrase(seconds):
    """'30 days ago', '5 hours ago', 'less than an hour ago'."""
    span = _span(max(0, seconds))
    return span + " ago" if span else "less than an hour ago"


def until_phrase(seconds):
    """'in 30 days', 'in 5 hours', 'within the hour'."""
    span = _span(max(0, seconds))
    return "in " + span if span else "within the hour"


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
        return "expiring", "expires %s" % until_phrase(token.expires_at - now)
    return "active", ""
