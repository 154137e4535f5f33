"""The creation guard: cPanel accounts' API tokens checked before cPanel creates them.

cPanel runs every UAPI call's standardized hooks (`Cpanel/API.pm` `execute`,
`Cpanel/EventHandler.pm` `_uapi_std_hook`): category `Cpanel`, event
`UAPI::Tokens::create_full_access`, stage `pre`, data `{"args": {"name",
"expires_at"}, "result", "user"}`. Registered with `blocking: 1`, a `0` answer
stops the creation and the account sees UAPI `status: 0` with the message; with
`escalateprivs: 1` cPanel runs the hook as root (its `hooks2` admin binary), so
it can read the root-only config (docs/cpanel-notes.md). `UAPI::Tokens::rename` pre is
registered the same way: a token made under an exempt name (cPanel's own shapes,
exempt_names) must not leave that name while it breaks the rules.

The guard answers on the account's request path: it reads the config (the
remembered parse, no YAML) and nothing else, starts no process, and FAILS OPEN:
any internal error allows the creation, says so on stderr (cPanel's error_log)
and is recorded in the audit log when it can be. Only the config's `guard:`
decides a refusal, and every refusal is an audit record. WHM's own
`api_token_create` runs no hook: WHM tokens are watched after the fact instead
(`watch()`, the scheduled run).

Part of the hook front end: it reads the clock (TOKENSWEEPER_NOW), the payload
is never logged or stored (only the account and the token name are taken).
"""

import fnmatch
import json
import re
import sys

CATEGORY = "Cpanel"
EVENT = "UAPI::Tokens::create_full_access"
# Tokens::rename: an exempt name (cPanel's own shapes, exempt_names) must not become a way
# around the rules: create "MailNodeLinkage" without expiry, then rename it.
RENAME_EVENT = "UAPI::Tokens::rename"
STAGE = "pre"
ACTOR = "hook:" + EVENT
AUDIT_EVENT = "creation-blocked"
ERROR_EVENT = "guard-error"
ACTION = "blocked"
DAY = 86400
LOG_PREFIX = "tokensweeper-hook: guard: "

# The names cPanel itself gives the cPanel-account tokens it creates (cpanel 11.120):
# linked mail nodes (Cpanel/LinkedNode/Worker/WHM/Accounts.pm: "MailNodeLinkage";
# Cpanel/LinkedNode/Convert/Common/Mail/ToRemote.pm: "MailNodeLinkage-" + unix2iso() with
# every character but [0-9a-zA-Z] made "-"), both full access and without expiry, and the
# Transfer Tool's temporary token (Cpanel/RemoteAPI/cPanel/TemporaryToken.pm with prefix
# "cpmove": "cpmove_" + unix2iso() + "_" + hex, every ":" made "_", valid 24 h).
BUILTIN_EXEMPT = (
    re.compile(r"^MailNodeLinkage\Z"),
    re.compile(r"^MailNodeLinkage-[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}Z\Z"),
    re.compile(r"^cpmove_[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}_[0-9]{2}_[0-9]{2}Z_[0-9a-f]+\Z"),
)
# cPanel's epoch_or_die (Cpanel/Validate/Time.pm): digits only (any number of them, read
# numerically: leading zeros count for nothing), at most 67767976233521999.
DIGITS_RE = re.compile(r"^[0-9]+\Z")
LEADING_ZEROS_RE = re.compile(r"^0+(?=[0-9])")
MAX_EPOCH = 67767976233521999


def descriptors(hook_path, weight):
    """What manage_hooks registers: blocking (a refusal must stop the call) and escalated
    (the hook must run as root to read the 0600 config; a UAPI call runs as the account)."""
    return [{"category": CATEGORY, "event": event, "stage": STAGE, "hook": hook_path,
             "exectype": "script", "weight": weight, "blocking": 1, "escalateprivs": 1,
             "description": "Token Sweeper: the creation guard (config guard:) for cPanel "
                            "accounts' API tokens" + suffix}
            for event, suffix in ((EVENT, ""), (RENAME_EVENT, ", on renames of exempt "
                                                              "names"))]


def builtin_exempt(name):
    return any(pattern.match(name) for pattern in BUILTIN_EXEMPT)


def exempt(name, rules):
    return builtin_exempt(name) or any(
        fnmatch.fnmatchcase(name, glob) for glob in rules.get("exempt_names") or ())


def _days(count):
    return "%d day%s" % (count, "" if count == 1 else "s")


def decide(args, rules, now):
    """(rule, message) when `rules` (the config's guard: mapping) refuse a creation with
    these UAPI arguments at `now`, else None. Pure.

    What cPanel itself refuses (no name, an invalid name, an expiry that is no epoch or in
    the past) is left to cPanel: the guard only adds the host's rules."""
    if not rules:
        return None
    name = _scalar(args.get("name"))
    if not name or exempt(name, rules):
        return None
    expires = _expiry(args.get("expires_at"))
    if expires is False:
        return None  # not an epoch: cPanel's validation refuses it with its own message
    broken = _breaks(expires, rules, now)
    if broken is None:
        return None
    rule, days = broken
    if expires is not None:
        return (rule, "Your host requires API tokens to expire within %s; choose an earlier "
                      "expiry date." % _days(days))
    if days:
        return (rule, "Your host requires API tokens to expire within %s; choose an expiry "
                      "date." % _days(days))
    return (rule, "Your host requires API tokens to expire; choose an expiry date.")


def decide_rename(args, rules, now, expiry_of):
    """(rule, message) when renaming a token from an exempt name to one that is not would
    keep a token the rules refuse, else None. Pure but for `expiry_of(name)`, which answers
    (found, expires_at as stored) from the account's token file.

    UAPI cannot give an existing token an expiry, so the message says to create one."""
    if not rules:
        return None
    old, new = _scalar(args.get("name")), _scalar(args.get("new_name"))
    if not old or not new or old == new or exempt(new, rules) or not exempt(old, rules):
        return None
    found, stored = expiry_of(old)
    if not found:
        return None  # cPanel answers "does not exist" itself
    expires = _expiry(stored)
    broken = None if expires is False else _breaks(expires, rules, now)
    if broken is None:
        return None
    rule, days = broken
    within = " within %s" % _days(days) if days else ""
    return (rule, "Your host requires API tokens to expire%s; create a new token with an "
                  "expiry date instead of renaming this one." % within)


def _expiry(value):
    """An expiry as cPanel reads it: an epoch, None for never ("", "0", "00", absent), or
    False for what cPanel's own validation refuses (not digits, a list, a mapping)."""
    value = _scalar(value)
    if value is None:
        return False
    if value == "":
        return None
    if not DIGITS_RE.match(value):
        return False
    value = LEADING_ZEROS_RE.sub("", value, count=1)  # "000...0" is 0; bounded int() below
    if len(value) > len(str(MAX_EPOCH)) or int(value) > MAX_EPOCH:
        return False
    return int(value) or None  # cPanel compares numerically: 0 is never


def _breaks(expires, rules, now):
    """(rule, max_lifetime_days or None) that an expiry (None: never) breaks, else None.
    Whole days ahead: any time on the last allowed day still counts (the date pickers send
    a time of day the account owner never chose)."""
    days = rules.get("max_lifetime_days")
    if expires is None:
        if days:
            return ("max_lifetime_days", days)
        if rules.get("require_expiry"):
            return ("require_expiry", None)
        return None
    if days and (expires - now) // DAY > days:
        return ("max_lifetime_days", days)
    return None


def _scalar(value):
    """A UAPI argument as cPanel's Perl sees it: text (numbers are their digits); absent is
    "", anything else None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


# -- the hook's side -----------------------------------------------------------------------


def claims(document):
    """Whether a parsed hook event is one the guard answers (a creation, a rename)."""
    if not isinstance(document, dict):
        return False
    context = document.get("context")
    registered = document.get("hook")
    context = context if isinstance(context, dict) else {}
    registered = registered if isinstance(registered, dict) else {}
    where = tuple(context.get(key) or registered.get(key) for key in ("category", "event",
                                                                       "stage"))
    return where in ((CATEGORY, EVENT, STAGE), (CATEGORY, RENAME_EVENT, STAGE))


# The guard's event as the event document names it: in a JSON string value the quotes
# would be escaped, so an argument cannot imitate it.
MARK_RE = re.compile(br'"event"\s*:\s*"UAPI::Tokens::(?:create_full_access|rename)"')
OVERSIZED_RULE = "oversized_request"
OVERSIZED_MESSAGE = ("Your host cannot check an API token request this large; send only the "
                     "token's name and expiry date.")


def marked(chunk):
    """Whether raw event bytes name the guard's event (used on an event too large to parse)."""
    return MARK_RE.search(chunk) is not None


def verdict(raw):
    """The hook's stdout for a raw event, or None when the event is not the guard's.
    Never raises: a broken guard must never stop cPanel (fail open)."""
    if b"UAPI::Tokens::" not in raw:
        return None
    try:
        document = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None  # the account-event hook says what it makes of it
    if not claims(document):
        return None
    return _failing_open(_answer, document)


def oversized_verdict(limit):
    """The answer to a creation or rename event larger than the hook reads (`limit` bytes):
    cPanel's own interface never sends one, but an account can pad its request with an
    argument cPanel ignores. Unparsed, nothing of it is trusted: with guard: rules it is
    refused (else an ignored argument would beat every rule), without them allowed."""
    return _failing_open(_oversized, limit)


def _failing_open(function, argument):
    try:
        return function(argument)
    except Exception as error:  # fail open, whatever it was
        _log("internal error, the request is allowed: %s" % _describe(error))
        _record_error(None, "internal error, the request was allowed: %s"
                      % _describe(error))
        return "1"


def _oversized(limit):
    from . import clock, config

    now = clock.now()
    try:
        cfg = config.load()
    except config.ConfigError as error:
        _log("the config cannot be read, the request is allowed: %s" % error)
        _record_error(now, "a token request was allowed: the config cannot be read (%s)"
                      % error)
        return "1"
    if not cfg.values.get("guard"):
        return "1"
    _log("the token request is larger than %d MiB (cPanel's interface never sends one): "
         "refused" % (limit >> 20))
    _record_refusal(now, "?", "?", None, OVERSIZED_RULE, OVERSIZED_MESSAGE)
    return "0 " + OVERSIZED_MESSAGE


def _answer(document):
    from . import clock, config

    data = document.get("data")
    data = data if isinstance(data, dict) else {}
    args = data.get("args")
    args = args if isinstance(args, dict) else {}
    account = data.get("user") if isinstance(data.get("user"), str) else ""
    now = clock.now()
    try:
        cfg = config.load()
    except config.ConfigError as error:
        _log("the config cannot be read, the creation is allowed: %s" % error)
        _record_error(now, "%s's token creation was allowed: the config cannot be read (%s)"
                      % (_safe(account), error))
        return "1"
    rules = cfg.values.get("guard")
    context = document.get("context")
    event = context.get("event") if isinstance(context, dict) else None
    registered = document.get("hook")
    event = event or (registered.get("event") if isinstance(registered, dict) else None)
    if event == RENAME_EVENT:
        seen = []

        def expiry_of(name):
            seen.append(_stored_expiry(account, name))
            return seen[-1]

        refusal = decide_rename(args, rules, now, expiry_of)
        if refusal is None:
            return "1"
        rule, message = refusal
        _record_refusal(now, _safe(account), _safe(_scalar(args.get("name"))),
                        _expiry(seen[-1][1]) or None, rule, message,
                        renamed_to=_safe(_scalar(args.get("new_name"))))
        return "0 " + message
    refusal = decide(args, rules, now)
    if refusal is None:
        return "1"
    rule, message = refusal
    requested = _expiry(args.get("expires_at")) or None
    _record_refusal(now, _safe(account), _safe(_scalar(args.get("name"))), requested, rule,
                    message)
    return "0 " + message


def _stored_expiry(account, name):
    """(found, expires_at) of the account's token `name` in its cPanel token file (read
    only when a rename needs it). TokenFileError and a bad account name reach verdict:
    the rename is allowed (fail open)."""
    from . import paths, tokenfiles
    from .config import OWNER_RE

    if not OWNER_RE.match(account):
        raise ValueError("the event names no valid account")
    for record in tokenfiles.read_records(account, paths.cpanel_token_dir()).values():
        if isinstance(record, dict) and record.get("name") == name:
            return True, record.get("expires_at")
    return False, None


def emit(text):
    """Write the verdict as cPanel reads it: the first word decides, no newline after."""
    data = text.encode("ascii", "backslashreplace")
    out = getattr(sys.stdout, "buffer", None)
    try:
        if out is None:
            sys.stdout.write(data.decode("ascii"))
            sys.stdout.flush()
        else:
            sys.stdout.flush()
            out.write(data)
            out.flush()
    except (OSError, ValueError, AttributeError):  # no stdout at all: None
        pass
    return 0


def _record_refusal(now, account, name, expires_at, rule, message, renamed_to=None):
    from . import audit

    try:
        audit.write({
            "event": AUDIT_EVENT, "time": audit.iso(now), "epoch": now,
            # The guard acts whatever `mode` says (preview governs revoking only).
            "run_id": audit.new_run_id(now), "actor": ACTOR, "mode": "guard",
            "selectors": {"owners": [account]}, "owner_errors": {}, "refused": None,
            "note": ("%s tried to create the API token %s; the guard refused it (%s)."
                     % (account, name, rule)) if renamed_to is None else (
                "%s tried to rename the API token %s to %s; the guard refused it (%s)."
                % (account, name, renamed_to, rule)),
            # What was asked for: Tokens::create_full_access, no IP limit (UAPI has none).
            "tokens": [{"owner": account, "name": name, "kind": "cpanel", "action": ACTION,
                        "rule": rule, "reason": message, "full_access": True,
                        "ip_limited": False, "expires_at": expires_at,
                        "renamed_to": renamed_to}],
        })
    except Exception as error:  # the refusal stands: it is the config's; say it here
        _log("refused %s's token %s (%s) but could not record it: %s"
             % (account, name, rule, _describe(error)))


def _record_error(now, message):
    try:
        from . import audit, clock

        if now is None:
            now = clock.now()
        audit.write({
            "event": ERROR_EVENT, "time": audit.iso(now), "epoch": now,
            "run_id": audit.new_run_id(now), "actor": ACTOR, "mode": "unknown",
            "selectors": {}, "owner_errors": {}, "refused": None, "tokens": [],
            "note": message,
        })
    except Exception as error:
        _log("could not record it in the audit log either: %s" % _describe(error))


def _safe(text):
    """An account or token name as the payload gave it, kept to the characters names have."""
    if not isinstance(text, str):
        return "?"
    kept = "".join(c for c in text if c.isalnum() or c in "_.-")
    return kept[:64] or "?"


def _describe(error):
    return "%s: %s" % (type(error).__name__, error)


def _log(message):
    try:
        sys.stderr.write(LOG_PREFIX + message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # no stderr at all: None
        pass
