"""The per-token and per-address evidence the log gives (UsageFacts), and its words."""

import collections
import time

from .scan import ADDRESS_CAP

DAY = 86400

TokenUsage = collections.namedtuple("TokenUsage", "last_used last_ip uses")
# One address a token was used from: ip is "" when the lines named no address; first
# is None when uses of an earlier token of the same name from there came first.
AddressUse = collections.namedtuple("AddressUse", "ip first last uses")


class UsageFacts:
    """What the log proves about token use, and how far back it can prove it.

    `oldest`/`newest`: UTC epochs of the first and last entry (None without
    evidence); `malformed`/`lines`: lines that could not be used / all lines;
    `sources`: the files read, oldest content first; `errors`: files that
    could not be (fully) read; `bytes_read`: log text parsed by this load
    (decompressed for .gz), 0 when the cache already had everything.
    """

    def __init__(self, tokens=None, oldest=None, newest=None, malformed=0, lines=0, sources=(),
                 addresses=None):
        self._tokens = dict(tokens or {})
        # (owner, name) -> (tuple of AddressUse, latest use of an address not kept or None)
        self._addresses = dict(addresses or {})
        self.oldest = oldest
        self.newest = newest
        self.malformed = malformed
        self.lines = lines
        self.sources = tuple(sources)
        self.bytes_read = 0
        self.errors = ()

    @classmethod
    def empty(cls):
        return cls()

    def __len__(self):
        return len(self._tokens)

    def get(self, owner, name):
        return self._tokens.get((owner, name))

    def covers_days(self, days, now):
        """True when the evidence reaches back at least `days` before `now`."""
        return self.oldest is not None and self.oldest <= now - days * DAY

    def covered_days(self, now):
        """Whole days of evidence before `now` (None without evidence)."""
        if self.oldest is None:
            return None
        return max(0, (now - self.oldest) // DAY)

    def last_use(self, token):
        """This token's TokenUsage, or None.

        An entry older than the token's creation belongs to an earlier,
        revoked token of the same name, so it does not count.
        """
        if not getattr(token, "usage_logged", True):
            return None  # a WHM use of the name is never a cPanel account token's use
        use = self.get(token.owner, token.name)
        if use is None or use.last_used < token.create_time:
            return None
        return use

    def describe(self, token, now):
        """Last use in words an admin can act on."""
        if self.oldest is None:
            return "unknown (no usage data)"
        use = self.last_use(token)
        if use is not None and use.last_ip:
            return f"{_minute(use.last_used)} from {use.last_ip}"
        if use is not None:
            return _minute(use.last_used)  # a log line without Host: names no address
        if token.create_time > self.oldest:
            return "never used"
        return f"not seen since {_day(self.oldest)}"

    def unused_for(self, token, days, now):
        """(True, why) only when the log PROVES no use in the last `days` days.

        That needs evidence reaching back `days` days, read whole (no file in
        `errors`), a token older than that, and no use since. Otherwise
        (False, why) says which condition failed.
        """
        cutoff = now - days * DAY
        if self.oldest is None:
            return False, "unknown (no usage data)"
        use = self.last_use(token)
        if use is not None and use.last_used > cutoff:
            return False, f"used {_ago(now - use.last_used)}"
        if token.create_time > cutoff:
            return False, f"created {_ago(now - token.create_time)}"
        if not self.covers_days(days, now):
            return False, f"usage log only covers {_span(now - self.oldest)}"
        if self.errors:
            # A file read in part (or not at all) may hold this token's last use: the
            # evidence has a hole, and missing evidence never counts as disuse.
            return False, "usage log incomplete: %s could not be read" % "; ".join(self.errors)
        if use is not None:
            return True, f"last used {_day(use.last_used)} ({_ago(now - use.last_used)})"
        if token.create_time > self.oldest:
            return True, "never used"
        return True, f"not seen since {_day(self.oldest)}"

    # -- per-address evidence (incident response) ---------------------------------

    def seen_from(self, token):
        """(AddressUse list, newest first; the latest use of an address not kept, or None).

        Uses older than the token belong to an earlier token of the same name: an
        address used only then is left out, and one used before and after keeps
        first=None (its first use by THIS token is not known).
        """
        uses, dropped = self._addresses.get((token.owner, token.name), ((), None))
        mine = []
        for use in uses:
            if use.last < token.create_time:
                continue
            if use.first is not None and use.first < token.create_time:
                use = use._replace(first=None)
            mine.append(use)
        mine.sort(key=lambda u: (-u.last, u.ip))
        if dropped is not None and dropped < token.create_time:
            dropped = None
        return mine, dropped

    def _window_gaps(self, token, start):
        """Why the log cannot vouch for every use of `token` since `start`, or []."""
        if self.oldest is not None and self.oldest > start:
            return ["the usage log starts %s, after %s" % (_minute(self.oldest), _minute(start))]
        return []

    def used_since(self, token, since):
        """(True | False | None, why): used at or after `since`? None = the log cannot tell."""
        if self.oldest is None:
            return None, "no usage evidence (no api_tokens_log to read)"
        use = self.last_use(token)
        if use is not None and use.last_used >= since:
            where = f" from {use.last_ip}" if use.last_ip else ""
            return True, f"used {_minute(use.last_used)}{where}"
        gaps = self._window_gaps(token, max(since, token.create_time))
        if gaps:
            return None, "cannot tell whether used since %s: %s" % (_minute(since), gaps[0])
        if use is not None:
            return False, f"not used since {_minute(since)} (last used {_minute(use.last_used)})"
        return False, f"not used since {_minute(since)}"

    def used_from(self, token, networks, since=None):
        """(True | False | None, why, matching AddressUses): was the token used from one of
        `networks` (ipaddress networks), at or after `since` when given? None = the log
        cannot tell: it starts too late, names no address for some uses in that time,
        or more addresses were seen than are kept."""
        if self.oldest is None:
            return None, "no usage evidence (no api_tokens_log to read)", []
        start = token.create_time if since is None else max(since, token.create_time)
        seen, dropped = self.seen_from(token)
        in_window = [use for use in seen if use.last >= start]
        matched, unnamed = [], 0
        for use in in_window:
            verdict = address_in(use.ip, networks)
            if verdict:
                matched.append(use)
            elif verdict is None:
                unnamed += use.uses
        if matched:
            return True, "used from " + "; ".join(describe_address(u) for u in matched), matched
        gaps = self._window_gaps(token, start)
        if unnamed:
            gaps.append("%s since %s name no address" % (_plural(unnamed, "use"), _minute(start)))
        if dropped is not None and dropped >= start:
            gaps.append("used from more than %d addresses; only the most recent are kept"
                        % ADDRESS_CAP)
        where = " or ".join(str(n) for n in networks)
        if gaps:
            return None, "cannot tell whether used from %s: %s" % (where, "; ".join(gaps)), []
        since_words = "" if since is None else " since " + _minute(since)
        others = ", ".join(u.ip for u in in_window[:5])
        return False, "not used from %s%s%s" % (where, since_words,
                                                 " (seen from %s)" % others if others else ""), []


def address_in(ip, networks):
    """True / False: is `ip` (text from the log) in one of `networks`; None when it names
    no usable address (the line had none, or it is not an IP address)."""
    if not ip:
        return None
    import ipaddress  # only incident selections need it

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)  # ::ffff:203.0.113.7 is 203.0.113.7
    return any(a in network for a in candidates for network in networks)


def describe_address(use):
    """'203.0.113.7 (3 uses, first 2026-11-20 10:01 UTC, last 2026-11-28 08:00 UTC)'."""
    first = _minute(use.first) if use.first is not None else "unknown"
    return "%s (%s, first %s, last %s)" % (use.ip or "no address", _plural(use.uses, "use"),
                                           first, _minute(use.last))


def _minute(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _plural(n, unit):
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _ago(seconds):
    if seconds < 60:
        return "just now"
    return _span(seconds) + " ago"


def _span(seconds):
    if seconds >= DAY:
        return _plural(seconds // DAY, "day")
    if seconds >= 3600:
        return _plural(seconds // 3600, "hour")
    return _plural(max(0, seconds) // 60, "minute")
