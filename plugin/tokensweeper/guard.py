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
remembered parse, no YAML) and, for a plain MailNodeLinkage only, the account's cPanel user
file; it starts no process, and FAILS OPEN:
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

# The names cPanel itself gives the cPanel-account tokens it creates (cpanel 11.120), each
# made with Tokens::create_full_access, so through this very hook. An account owner can type
# any of these names too: a name is exempt only with the facts cPanel gives it.
# - The Transfer Tool's temporary token (Cpanel/RemoteAPI/cPanel/TemporaryToken.pm, prefix
#   "cpmove" from Whostmgr/Transfers/Session/Items/AccountRemoteUser.pm): "cpmove_" +
#   unix2iso() + "_" + hex, every ":" made "_", with expires_at = time() + 86400
#   (_CP_TOKEN_VALIDITY_LENGTH). The stamp and the expiry come from the destination
#   server's clock: both must be within a day of ours, and a day apart.
# - Linked mail nodes, full access, no expiry: "MailNodeLinkage-" + unix2iso() with every
#   character but [0-9a-zA-Z] made "-" (Cpanel/LinkedNode/Convert/Common/Mail/ToRemote.pm),
#   stamped now (a day of clock skew between the nodes); plain "MailNodeLinkage"
#   (Cpanel/LinkedNode/Worker/WHM/Accounts.pm) right after PRIVATE_createacct_child made the
#   account a child account: its cPanel user file holds CHILD_WORKLOADS
#   (Cpanel/Config/CpUser/Object.pm child_workloads). An ordinary account is never one.
CPMOVE_RE = re.compile(r"^cpmove_([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})_([0-9]{2})_"
                       r"([0-9]{2})Z_[0-9a-f]{1,40}\Z")
MAIL_NODE = "MailNodeLinkage"
MAIL_NODE_RE = re.compile(r"^MailNodeLinkage-([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})-"
                          r"([0-9]{2})-([0-9]{2})Z\Z")
CPMOVE_VALIDITY = DAY
# cPanel computes the expiry a moment after the name's stamp: an hour covers a slow call.
CPMOVE_SLACK = 3600
CLOCK_SKEW = DAY
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


def builtin_shape(name):
    """Whether a name has the shape of one cPanel gives its own tokens (says nothing about
    who made it: see builtin_exempt)."""
    return name == MAIL_NODE or bool(CPMOVE_RE.match(name) or MAIL_NODE_RE.match(name))


def builtin_exempt(name, expires, now, child_account):
    """Whether a creation is one cPanel makes itself: its name's shape AND the facts cPanel
    gives it (`expires`: an epoch or None; `child_account()` is asked only about a plain
    MailNodeLinkage)."""
    match = CPMOVE_RE.match(name)
    if match:
        stamp = _stamp(match)
        return (stamp is not None and expires is not None and abs(stamp - now) <= CLOCK_SKEW
                and 0 < expires - now and 0 < expires - stamp <= CPMOVE_VALIDITY + CPMOVE_SLACK)
    match = MAIL_NODE_RE.match(name)
    if match:
        stamp = _stamp(match)
        return stamp is not None and abs(stamp - now) <= CLOCK_SKEW
    return name == MAIL_NODE and bool(child_account())


def _stamp(match):
    """The epoch of a name's UTC stamp, or None when it is no real time (unix2iso never
    writes "2026-10-58": timegm would read it as November 27th)."""
    import calendar
    import time

    parts = tuple(int(part) for part in match.groups())
    try:
        stamp = calendar.timegm(parts + (0, 0, 0))
        return stamp if tuple(time.gmtime(stamp)[:6]) == parts else None
    except (ValueError, OverflowError, OSError):
        return None


class ExemptNames(object):
    """The config's exempt_names globs, matched fast however many there are.

    The hook is one process per request: compiling hundreds of globs (fnmatch, or one
    alternation regex) costs tens of milliseconds on the account's request path, and
    Python 3.6's fnmatch cache (256) thrashes past that many. A glob's literal prefix
    (up to its first wildcard) rules most of them out with a startswith; only the rest are
    compiled, each once per instance."""

    def __init__(self, globs):
        self.globs = tuple(globs or ())
        self._prefixed = [(_literal_prefix(glob), glob) for glob in self.globs]
        self._compiled = {}

    def __contains__(self, name):
        for prefix, glob in self._prefixed:
            if name.startswith(prefix) and self._match(glob, name):
                return True
        return False

    def _match(self, glob, name):
        match = self._compiled.get(glob)
        if match is None:
            match = self._compiled[glob] = re.compile(fnmatch.translate(glob)).match
        return match(name) is not None


WILDCARD_RE = re.compile(r"[*?\[]")


def _literal_prefix(glob):
    wildcard = WILDCARD_RE.search(glob)
    return glob if wildcard is None else glob[:wildcard.start()]


def exempt_names(rules):
    """The ExemptNames of a guard: mapping (or of none)."""
    return ExemptNames((rules or {}).get("exempt_names"))


def admin_exempt(name, rules):
    """Whether the config's exempt_names globs cover a name."""
    return name in exempt_names(rules)


def exempt(name, rules, expires=None, now=0, child_account=lambda: False):
    return admin_exempt(name, rules) or builtin_exempt(name, expires, now, child_account)


def _days(count):
    return "%d day%s" % (count, "" if count == 1 else "s")


def decide(args, rules, now, child_account=lambda: False):
    """(rule, message) when `rules` (the config's guard: mapping) refuse a creation with
    these UAPI arguments at `now`, else None. Pure but for `child_account()` (whether the
    account is a linked node's child account), asked only about a plain MailNodeLinkage.

    What cPanel itself refuses (no name, an invalid name, an expiry that is no epoch or in
    the past) is left to cPanel: the guard only adds the host's rules."""
    if not rules:
        return None
    name = _scalar(args.get("name"))
    if not name:
        return None
    expires = _expiry(args.get("expires_at"))
    if expires is False:
        return None  # not an epoch: cPanel's validation refuses it with its own message
    if exempt(name, rules, expires, now, child_account):
        return None
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
    # The old name is judged by its shape alone: a stamp that was "now" at creation is old
    # by the rename, and the token was let in under it.
    if not old or not new or old == new or not (builtin_shape(old) or admin_exempt(old, rules)):
        return None
    found, stored = expiry_of(old)
    if not found:
        return None  # cPanel answers "does not exist" itself
    expires = _expiry(stored)
    if expires is not False and exempt(new, rules, expires, now):
        return None  # a rename into one of cPanel's shapes is judged as its creation is
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


# The guard's event as the event document's context names it (a flat object: category,
# event, stage, point, escalateprivs): in a JSON string value the quotes would be escaped,
# so an argument cannot imitate it. The context, not merely the event's name anywhere: the
# registry entry under "hook" names the guard's event whatever event is being delivered.
MARK_RE = re.compile(
    br'"context"\s*:\s*\{'
    br'(?=[^{}]*"category"\s*:\s*"Cpanel"\s*[,}])'
    br'(?=[^{}]*"event"\s*:\s*"(UAPI::Tokens::(?:create_full_access|rename))"\s*[,}])'
    br'(?=[^{}]*"stage"\s*:\s*"pre"\s*[,}])')
OVERSIZED_RULE = "oversized_request"
OVERSIZED_MESSAGE = ("Your host cannot check an API token request this large; send only the "
                     "token's name and expiry date.")
OVERSIZED_RENAME_MESSAGE = ("Your host cannot check an API token rename request this large; "
                            "send only the token's name and its new name.")


def marked(chunk):
    """The guard's event (EVENT or RENAME_EVENT) that a context in raw event bytes names, in
    its pre stage, else None (used on an event too large to parse)."""
    match = MARK_RE.search(chunk)
    return None if match is None else match.group(1).decode("ascii")


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


def oversized_verdict(limit, event=EVENT):
    """The answer to a creation or rename (`event`, as marked() found it) event larger than
    the hook reads (`limit` bytes):
    cPanel's own interface never sends one, but an account can pad its request with an
    argument cPanel ignores. Unparsed, nothing of it is trusted: with guard: rules it is
    refused (else an ignored argument would beat every rule), without them (no guard:, or
    one with neither require_expiry nor max_lifetime_days) allowed."""
    return _failing_open(_oversized, (limit, event))


def _failing_open(function, argument):
    try:
        return function(argument)
    except Exception as error:  # fail open, whatever it was
        _log("internal error, the request is allowed: %s" % _describe(error))
        _record_error(None, "internal error, the request was allowed: %s"
                      % _describe(error))
        return "1"


def _oversized(limit_and_event):
    from . import clock, config

    limit, event = limit_and_event

    now = clock.now()
    try:
        cfg = config.load()
    except config.ConfigError as error:
        _log("the config cannot be read, the request is allowed: %s" % error)
        _record_error(now, "a token request was allowed: the config cannot be read (%s)"
                      % error)
        return "1"
    rules = cfg.values.get("guard")
    if not rules or _breaks(None, rules, now) is None:
        return "1"  # no rule that could refuse any creation: nothing to check
    _log("the token request is larger than %d MiB (cPanel's interface never sends one): "
         "refused" % (limit >> 20))
    if event == RENAME_EVENT:
        _record_refusal(now, "?", "?", None, OVERSIZED_RULE, OVERSIZED_RENAME_MESSAGE,
                        renamed_to="?")
        return "0 " + OVERSIZED_RENAME_MESSAGE
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
    refusal = decide(args, rules, now, lambda: _child_account(account))
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


def _child_account(account):
    """Whether the account is a linked node's child account (cpusers: its users file holds a
    non-empty CHILD_WORKLOADS). Read only for a plain MailNodeLinkage; unknown (no file, a
    link, a bad name) is no: the rules apply."""
    from . import cpusers

    return cpusers.child_workloads(account) is True


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
            "run_id": audit.new_run_id(now), "mode": "guard",
            "actor": ACTOR if renamed_to is None else "hook:" + RENAME_EVENT,
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
