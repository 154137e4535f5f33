"""Template filters: dates and counts the way an admin reads them."""

import re
import time

from .tokenvalue import identity_value


def date(epoch):
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def datetime_utc(epoch):
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch is not None else ""


DAY = 86400


def relative(epoch, today):
    """How long ago (or ahead) a time is, in whole days from `today` (a day number, now //
    DAY): a page shown the same day reads the same, so the page cache keeps it."""
    if epoch is None:
        return ""
    days = today - epoch // DAY
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days == -1:
        return "tomorrow"
    return "{} days ago".format(days) if days > 0 else "in {} days".format(-days)


def plural(count, word, words=None):
    if count == 1:
        return "1 " + word
    return "{} {}".format(count, words or word + "s")


def days(count):
    if count is None:
        return ""
    if count == 0:
        return "under a day"
    return plural(count, "day")


# What each outcome in the audit log means, in words (never the action id).
ACTION_WORDS = {
    "revoked": "revoked", "already-gone": "already gone", "failed": "failed",
    "unverified": "not verified", "kept-protected": "kept (protected)",
    "would-revoke": "would be revoked", "snapshot": "recorded", "revoke": "to revoke",
    "refused": "refused (over the cap)", "deferred": "deferred (over the run's cap)",
    "notice-period": "waiting for its notice period", "notice": "notice sent",
    "reminder": "reminded of expiry", "blocked": "blocked at creation",
    "rename-blocked": "rename blocked",
    "watched": "new, breaking the guard's rules",
}


def token_action(token):
    """An audit record's token's action as people read it (audit.action_of)."""
    from .. import audit

    return audit.action_of(token) if isinstance(token, dict) and "action" in token else ""


def action_words(action):
    return ACTION_WORDS.get(action, str(action).replace("-", " "))


_CRITERION_WORDS = (
    ("every_token", "every token of the account"),
    ("expired", "expired"),
    ("expiring_within_days", "expiring within {} days"),
    ("older_than_days", "older than {} days"),
    ("unused_for_days", "unused for {} days"),
    ("no_expiry", "never expiring"),
    ("full_access", "with full access"),
    ("no_ip_limit", "without an IP limit"),
)


def selection_words(selectors):
    """An audit record's selectors (Selectors.to_dict()) in words: what the run chose."""
    if not isinstance(selectors, dict):
        return ""
    criteria = []
    for key, words in _CRITERION_WORDS:
        value = selectors.get(key)
        if value not in (None, False):
            criteria.append(words.format(value))
    joiner = " and " if selectors.get("combine", "all") == "all" else " or "
    names, owners = selectors.get("names"), selectors.get("owners")
    parts = [joiner.join(criteria)] if criteria else []
    if isinstance(names, list) and names:
        # Without a criterion, names are what a person picked (the page, `revoke`).
        parts.append("names " + ", ".join(str(n) for n in names) if criteria else
                     "picked by hand")
    if isinstance(owners, list) and owners:
        parts.append("owner{} {}".format("s" if len(owners) > 1 else "",
                                         ", ".join(str(o) for o in owners)))
    return "; ".join(parts)


# A token name's control characters, told apart from the name without them: cPanel's rule
# lets a name end in a newline (`leak\n`, tokens.LISTED_NAME_RE), which HTML would fold
# into nothing. The escape `tokensweeper list` shows is for the eye, words for the ear.
CONTROL_RE = re.compile("[\x00-\x1f\x7f]")
CONTROL_SHOWN = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
CONTROL_WORDS = {"\n": "newline character", "\t": "tab character",
                 "\r": "carriage return character"}


def _control_words(char):
    return CONTROL_WORDS.get(char, "control character 0x%02x" % ord(char))


def shown_name(name):
    """A token name for the page's text: each control character as its escape (`\n`),
    hidden from screen readers, which read its words instead; escaped for HTML."""
    from markupsafe import Markup, escape  # called only while Jinja2 renders

    text = str(name)
    if not CONTROL_RE.search(text):
        return text
    parts = []
    for char in text:
        if CONTROL_RE.match(char):
            words = _control_words(char)
            parts.append('<span class="ts-ctrl" title="%s"><span aria-hidden="true">%s</span>'
                         '<span class="ts-visually-hidden"> (%s)</span></span>'
                         % (words, CONTROL_SHOWN.get(char, "\\x%02x" % ord(char)), words))
        else:
            parts.append(str(escape(char)))
    return Markup("".join(parts))


def spoken_name(name):
    """A token name for an attribute (aria-label) or hidden text: control characters in
    words, "leak (newline character)"."""
    return CONTROL_RE.sub(lambda match: " (%s)" % _control_words(match.group()), str(name))


def page_window(current, pages, around=2):
    """Page numbers a pager links: the first, the last, and `around` either side of the
    current one; None where numbers are left out."""
    shown = sorted({1, pages} | set(range(max(1, current - around),
                                          min(pages, current + around) + 1)))
    window, previous = [], 0
    for number in shown:
        if number - previous > 1:
            window.append(None)
        window.append(number)
        previous = number
    return window


FILTERS = {
    "page_window": page_window,
    "date": date,
    "datetime_utc": datetime_utc,
    "iso": iso,
    "relative": relative,
    "action_words": action_words,
    "token_action": token_action,
    "shown_name": shown_name,
    "spoken_name": spoken_name,
    "identity_value": identity_value,
    "selection_words": selection_words,
    "plural": plural,
    "days": days,
}
