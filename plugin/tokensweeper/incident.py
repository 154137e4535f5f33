"""Incident response: the values of the incident selectors, and the incident report.

The selectors themselves are policy.Selectors criteria (created_after,
created_before, used_after, used_from); this module turns what a person typed
into their values, the same way for the command line and the page, and turns
one audited run into the document an incident record needs.

Times are UTC epochs. A date means 00:00 UTC that day; a date-time must say
its offset (`Z`, `+02:00`, `-0500`): the server's local zone, and its DST
jumps, never decide what a time means. A duration (`48h`, `7d`) counts back
from now, once: the plan and its confirmation use the same instant.
"""

import calendar
import re
import time

DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"^([0-9]{1,6})([mhdw])\Z")
_DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_DATETIME_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"(?:(Z)|([+-])([0-9]{2}):?([0-9]{2}))?\Z")

MOMENT_HELP = ("a date (2026-11-24, meaning 00:00 UTC), a date-time with its offset "
               "(2026-11-24T09:30+02:00, ...Z) or a duration back from now (48h, 7d, 90m, 2w)")


# The longest duration back from now a selection may name: a token is never older than
# cPanel's API tokens (2017), and a typo such as 999999w (19,000 years) must be refused,
# never turned into a year -17139.
MAX_DURATION_DAYS = 36500
# The most networks one incident selection may name (page and command line alike).
MAX_NETWORKS = 50
LAST_TIME = 253402300799  # 9999-12-31T23:59:59Z, as audit.MAX_EPOCH


def parse_moment(text, now):
    """The UTC epoch `text` means; ValueError naming the value when it means none, or a
    time outside 1970 to 9999. now None: check the form only (the value is then the
    duration's length back from 0, never used)."""
    text = text.strip()
    duration = _DURATION_RE.match(text)
    if duration:
        amount = int(duration.group(1))
        if amount < 1:
            raise ValueError("%r: a duration must be 1 or more" % text)
        seconds = amount * DURATION_UNITS[duration.group(2)]
        if seconds > MAX_DURATION_DAYS * 86400:
            raise ValueError("%r is more than %d days back: give a date instead"
                             % (text, MAX_DURATION_DAYS))
        if now is None:
            return -seconds
        if now - seconds < 0:
            raise ValueError("%r reaches back before 1970-01-01" % text)
        return now - seconds
    date = _DATE_RE.match(text)
    if date:
        return _epoch(text, [int(g) for g in date.groups()] + [0, 0, 0], 0)
    stamp = _DATETIME_RE.match(text)
    if not stamp:
        raise ValueError("%r is not a time: expected %s" % (text, MOMENT_HELP))
    year, month, day, hour, minute, second, zulu, sign, off_h, off_m = stamp.groups()
    if not zulu and not sign:
        raise ValueError("%r has no UTC offset: add Z or one like +02:00 (the server's "
                         "local time is never assumed)" % text)
    offset = 0
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("%r: %s%s:%s is not a UTC offset" % (text, sign, off_h, off_m))
        offset = (int(off_h) * 3600 + int(off_m) * 60) * (-1 if sign == "-" else 1)
    fields = [int(year), int(month), int(day), int(hour), int(minute), int(second or 0)]
    return _epoch(text, fields, offset)


def _epoch(text, fields, offset):
    year, month, day, hour, minute, second = fields
    try:
        # strptime checks the calendar (no 2026-02-30, no 25:00) without a time zone.
        time.strptime("%04d-%02d-%02d %02d:%02d:%02d" % tuple(fields), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ValueError("%r is not a real date and time" % text)
    epoch = calendar.timegm((year, month, day, hour, minute, second)) - offset
    # In UTC: an offset can carry 9999-12-31T23:59-05:00 into year 10000.
    if not 1970 <= year <= 9999 or not 0 <= epoch <= LAST_TIME:
        raise ValueError("%r is out of range (years 1970 to 9999, in UTC)" % text)
    return epoch


def parse_network(text):
    """The canonical form of an IPv4 or IPv6 network (`203.0.113.0/24`, `2001:db8::/32`,
    or one address); ValueError naming the value for anything else, including host bits
    set after the prefix (a typo for another network, most likely)."""
    import ipaddress  # only incident selections need it

    text = text.strip()
    if "%" in text:  # a zone (fe80::1%eth0): Python 3.9+ takes it, 3.6 does not; no log has one
        raise ValueError("%r is not an IPv4 or IPv6 network (like 203.0.113.0/24 or "
                         "2001:db8::/32)" % text)
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("%r is not an IPv4 or IPv6 network (like 203.0.113.0/24 or "
                         "2001:db8::/32)" % text)
    raise ValueError("%r has host bits set: did you mean %s?" % (text, loose))


def networks(texts):
    """ipaddress networks of canonical texts (Selectors.used_from)."""
    import ipaddress

    return tuple(ipaddress.ip_network(text) for text in texts)


def iso(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


# -- the incident report (`tokensweeper incident-report --run ID`) ----------------------

REPORT_KEYS = ("owner", "name", "create_time", "expires_at", "full_access", "ip_limited",
               "last_used", "seen_from", "seen_from_truncated", "action", "reason")


def report_document(run, generated, generated_by, creations=None):
    """One audited run (audit.Run) as an incident record: who ran it and when, its
    selectors, and every token with its creation, last use, addresses and verified
    outcome. Everything comes from the audit log as written at the time."""
    from . import accounting

    records = run.records
    final = run.final
    tokens = []
    # Who created each token: cPanel's accounting.log keeps its lines after a revoke.
    creations = accounting.read() if creations is None else creations
    for token in run.tokens():
        if not isinstance(token, dict):
            continue
        entry = {key: token.get(key) for key in REPORT_KEYS}
        # Records written before kinds existed are WHM tokens.
        entry["kind"] = token.get("kind") or "whm"
        entry["account_owner"] = token.get("account_owner")
        entry["created"] = _iso_or_none(token.get("create_time"))
        entry["created_by"] = accounting.creator_of(
            entry["kind"], token.get("owner"), token.get("name"), token.get("create_time"),
            creations)
        entry["expires"] = _iso_or_none(token.get("expires_at"))
        entry["outcome"] = token.get("action")
        entry["seen_from"] = token.get("seen_from") or []
        entry["seen_from_truncated"] = bool(token.get("seen_from_truncated"))
        tokens.append(entry)
    counts = {}
    for entry in tokens:
        counts[str(entry["outcome"])] = counts.get(str(entry["outcome"]), 0) + 1
    return {
        "run_id": run.run_id,
        "actor": final.get("actor"),
        "mode": final.get("mode"),
        "started": records[0].get("time"),
        "finished": final.get("time"),
        "events": [record.get("event") for record in records],
        "interrupted": run.interrupted,
        "selectors": final.get("selectors") or {},
        "problems": final.get("problems") or [],
        "owner_errors": final.get("owner_errors") or {},
        "refused": final.get("refused"),
        "counts": counts,
        "tokens": tokens,
        "report_generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(generated)),
        "report_generated_by": generated_by,
    }


def _iso_or_none(epoch):
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


KIND_WORDS = {"cpanel": "cPanel account"}

OUTCOME_WORDS = {
    "revoked": "REVOKED (verified: no longer listed)",
    "already-gone": "already gone (not listed right before the revoke)",
    "failed": "FAILED: still valid",
    "unverified": "UNVERIFIED: may still be valid",
    "kept-protected": "kept: protected",
    "would-revoke": "would be revoked (preview only)",
    "revoke": "revoke intended, no outcome recorded",
    "snapshot": "recorded (snapshot)",
}


def report_text(doc):
    """The same document, for people and for pasting into a ticket."""
    lines = ["Token Sweeper incident report: run %s" % doc["run_id"], ""]
    lines.append("Run by:      %s" % doc["actor"])
    lines.append("Mode:        %s" % doc["mode"])
    lines.append("Started:     %s" % doc["started"])
    lines.append("Finished:    %s%s" % (doc["finished"], "  (INTERRUPTED: intent recorded, "
                                        "no outcome)" if doc["interrupted"] else ""))
    selectors = doc["selectors"]
    lines.append("Selectors:   %s" % (", ".join(
        "%s=%s" % (key, ",".join(value) if isinstance(value, list) else value)
        for key, value in sorted(selectors.items())) or "none recorded"))
    lines.append("Outcomes:    %s" % (", ".join(
        "%d %s" % (n, action) for action, n in sorted(doc["counts"].items())) or "no tokens"))
    if doc["refused"]:
        lines.append("Refused:     %s" % doc["refused"])
    for owner, message in sorted(doc["owner_errors"].items()):
        lines.append("NOT LISTED:  %s: %s" % (owner, message))
    for problem in doc["problems"]:
        lines.append("WARNING:     %s" % problem)
    for token in doc["tokens"]:
        lines.append("")
        kind = token.get("kind") or "whm"
        lines.append("%s/%s%s" % (token["owner"], token["name"], "" if kind == "whm" else
                                  " (%s token%s)" % (KIND_WORDS.get(kind, kind), (
                                      ", account of %s" % token["account_owner"]
                                      if token.get("account_owner") else ""))))
        lines.append("  outcome:   %s" % OUTCOME_WORDS.get(token["outcome"], token["outcome"]))
        if token["reason"]:
            lines.append("  why:       %s" % token["reason"])
        lines.append("  created:   %s" % (token["created"] or "unknown"))
        lines.append("  created by: %s" % (token.get("created_by") or "unknown"))
        lines.append("  expires:   %s" % (token["expires"] or "never"))
        lines.append("  access:    %s, %s" % (
            "full access" if token["full_access"] else (
                "limited ACLs" if (token.get("kind") or "whm") == "whm" else "limited features"),
            "IP-limited" if token["ip_limited"] else "no IP limit"))
        lines.append("  last used: %s" % (token["last_used"] or "not recorded"))
        if token["seen_from"]:
            for use in token["seen_from"]:
                lines.append("  seen from: %s: %d use%s, first %s, last %s" % (
                    use.get("ip") or "(no address in the log)", use.get("uses", 0),
                    "" if use.get("uses") == 1 else "s", use.get("first") or "unknown",
                    use.get("last")))
            if token["seen_from_truncated"]:
                lines.append("  seen from: ... and more addresses (only the %d most recent "
                             "are kept)" % 64)
        else:
            lines.append("  seen from: no address recorded")
    lines.append("")
    lines.append("Report generated %s by %s from the audit log." % (
        doc["report_generated"], doc["report_generated_by"]))
    return "\n".join(lines)
