"""The criteria a token is judged by: each returns (matched, reason)."""

import time
from fnmatch import fnmatchcase

from ..tokens import DAY
from .words import ago_phrase, day, until_phrase

# -- criteria: each returns (matched, reason) -----------------------------------


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _minute(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _every_token(token, _selectors, _usage, _now):
    return True, "every token of %s" % token.owner


def _expired(token, _selectors, _usage, now):
    if token.is_expired(now):
        return True, "expired on %s, %s" % (day(token.expires_at),
                                             ago_phrase(now - token.expires_at))
    if token.expires_at is None:
        return False, "never expires"
    return False, "expires on %s" % day(token.expires_at)


def _expiring_within(token, selectors, _usage, now):
    days = selectors.expiring_within_days
    if token.expires_at is None:
        return False, "never expires"
    if token.is_expired(now):
        return False, "already expired on %s" % day(token.expires_at)
    left = until_phrase(token.expires_at - now)
    if token.expires_at <= now + days * DAY:
        return True, "expires on %s, %s" % (day(token.expires_at), left)
    return False, "expires on %s, %s" % (day(token.expires_at), left)


def _older_than(token, selectors, _usage, now):
    matched = now - token.create_time > selectors.older_than_days * DAY
    # The rule first (issue 30.7): "older than 730 days (created 2024-06-18, 900 days ago)".
    limit = selectors.older_than_days
    return matched, "%s than %d day%s (created %s, %s)" % (
        "older" if matched else "not older", limit, "" if limit == 1 else "s",
        day(token.create_time), ago_phrase(now - token.create_time))


# A kind whose use api_tokens_log does not show (tokens.USAGE_LOGGED): never "unused".
NOT_LOGGED = "unknown (cPanel-account token use is not in api_tokens_log)"


def _unused_for(token, selectors, usage, now):
    if not token.usage_logged:
        return False, "not selected as unused: last use %s" % NOT_LOGGED
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


def _created_after(token, selectors, _usage, _now):
    matched = token.create_time >= selectors.created_after
    return matched, "created %s, %s %s" % (_minute(token.create_time),
                                          "at or after" if matched else "before",
                                          _minute(selectors.created_after))


def _created_before(token, selectors, _usage, _now):
    matched = token.create_time < selectors.created_before
    return matched, "created %s, %s %s" % (_minute(token.create_time),
                                          "before" if matched else "at or after",
                                          _minute(selectors.created_before))


# The usage-evidence criteria answer True, False or None: None means the log cannot
# tell (no log, or it does not reach back far enough), and such a token is never
# selected, nor silently passed over: make_plan lists it in plan.unjudged.


def _used_after(token, selectors, usage, _now):
    if not token.usage_logged:
        return None, "use %s" % NOT_LOGGED
    if usage is None:
        return None, "no usage evidence (no api_tokens_log to read)"
    matched, reason = usage.used_since(token, selectors.used_after)
    if matched and selectors.used_from:
        return True, ""  # used_from's reason already names the use in that window
    return matched, reason


def _used_from(token, selectors, usage, _now):
    """Used from one of the networks; with used_after, at or after that time (the window
    of a leak), which also means the log only needs to reach back that far."""
    if not token.usage_logged:
        return None, "use %s" % NOT_LOGGED
    if usage is None:
        return None, "no usage evidence (no api_tokens_log to read)"
    matched, reason, _ = usage.used_from(token, selectors.networks(), selectors.used_after)
    return matched, reason


CRITERION_TESTS = {
    "every_token": _every_token,
    "expired": _expired,
    "expiring_within_days": _expiring_within,
    "older_than_days": _older_than,
    "unused_for_days": _unused_for,
    "no_expiry": _no_expiry,
    "full_access": _full_access,
    "no_ip_limit": _no_ip_limit,
    "created_after": _created_after,
    "created_before": _created_before,
    "used_after": _used_after,
    "used_from": _used_from,
}


def _matches_filters(token, selectors):
    if selectors.owners and token.owner not in selectors.owners:
        return False, "owner %s not selected" % token.owner
    if selectors.resellers and token.account_owner not in selectors.resellers:
        return False, "not a token of an account of %s" % " or ".join(selectors.resellers)
    if selectors.names:
        matching = [p for p in selectors.names if fnmatchcase(token.name, p)]
        if not matching:
            return False, "name matches none of %s" % ", ".join(selectors.names)
        return True, "name matches %r" % matching[0]
    return True, None


def judge(token, selectors, usage, now, criteria=None):
    """(True | False | None, reason): None when a usage-evidence criterion cannot tell
    and the others would not already exclude the token."""
    if criteria is None:
        criteria = selectors.active_criteria()
    if not criteria:
        # The rule every front end relies on: owners and names only narrow.
        if selectors.names or selectors.owners or selectors.resellers:
            return False, "no criterion given (owners and names only narrow a selection)"
        return False, "no selector given"
    passed, filter_reason = _matches_filters(token, selectors)
    if not passed:
        return False, filter_reason
    results = [CRITERION_TESTS[name](token, selectors, usage, now) for name in criteria]
    passed = [reason for matched, reason in results if matched]
    hits = [reason for reason in passed if reason]  # an empty reason is said by another
    unknown = [reason for matched, reason in results if matched is None]
    misses = [reason for matched, reason in results if matched is not None and not matched]
    if selectors.combine == "all":
        settled = not unknown or bool(misses)
        selected = not misses and not unknown
    else:
        settled = bool(passed) or not unknown
        selected = bool(passed)
    if not settled:
        return None, "NOT JUDGED, not selected: " + "; ".join(unknown)
    if not selected:
        return False, "; ".join(misses)
    extra = [filter_reason] if filter_reason else []
    return True, "; ".join(hits + extra)
