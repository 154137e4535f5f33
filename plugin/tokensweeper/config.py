"""The YAML config: loaded, checked key by key, turned into policy objects.

Every key is optional; a missing file means the documented defaults. Unknown
keys and bad values are errors that name the key path and the value, and all
of them are reported at once so one edit fixes the file.
"""

import copy
import hashlib
import json
import re

from . import cachefiles, paths
from .policy import Protection, Selectors

EVENT_ACTIONS = ("sweep", "revoke_all", "snapshot", "ignore")

DEFAULTS = {
    "mode": "preview",
    # quarantine_days 0 = off: unattended runs revoke what the policy selects, as they
    # always did; N > 0: they quarantine WHM tokens first (quarantine.py), revoke after N days.
    "policy": {"expired": True, "older_than_days": None, "unused_for_days": None, "names": [],
               "quarantine_days": 0},
    "protect": {"builtin": True, "names": []},
    "owners": "all",
    "max_revoke_per_run": 50,
    "parallel_owners": 4,
    "events": {
        "suspend": "sweep",
        "password_change": "ignore",
        "rename": "ignore",
        "remove": "snapshot",
    },
    "schedule": "daily",
    # Notices before unattended revocations (notify.py). notice_days 0 = off: unattended
    # runs revoke at once, as they always did, and nothing is mailed.
    "notify": {"notice_days": 0, "recipients": ["owner", "contact"], "expiry_reminders": []},
    # Which kinds of token sweeps, cron and the hook act on. Without the key: WHM tokens only,
    # what every config did before cPanel accounts' tokens were known (an upgrade never
    # widens what an enforce-mode config revokes); an admin opts in with [whm, cpanel].
    "kinds": ["whm"],
    # The creation guard (guard.py) for cPanel accounts' tokens and the new-token watch for
    # WHM tokens. Without the key: off (an upgrade changes nothing).
    "guard": None,
}

# Token names are [A-Za-z0-9_-]; a glob may add * ? [ ] and ! inside brackets.
GLOB_RE = re.compile(r"^[A-Za-z0-9_*?\[\]!-]{1,100}\Z")
OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")


class ConfigError(Exception):
    def __init__(self, source, problems):
        self.source = source
        self.problems = problems
        super(ConfigError, self).__init__(
            "%s: %s" % (source, "; ".join(problems))
            if len(problems) == 1
            else "%s has %d problems:\n  %s" % (source, len(problems), "\n  ".join(problems))
        )


class Config(object):
    def __init__(self, values, source, from_file):
        self.values = values
        self.source = source
        self.from_file = from_file
        self._protection = None

    def __getattr__(self, key):
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key)

    def selectors(self):
        """The configured policy: stale = expired OR too old OR unused, within names and owners."""
        policy = self.values["policy"]
        owners = () if self.values["owners"] == "all" else tuple(self.values["owners"])
        return Selectors(
            expired=policy["expired"],
            older_than_days=policy["older_than_days"],
            unused_for_days=policy["unused_for_days"],
            names=policy["names"],
            owners=owners,
            combine="any",
        )

    def policy_selects_anything(self):
        return self.selectors().selects_anything()

    def protection(self):
        """The configured protection, with what the server says: the tokens connected
        applications use (their files under cPanel's root), which resellers may have
        cPanel's own DNS cluster tokens (the resellers file) and which accounts linked mail
        node tokens (each one's users file, read only when asked: cpusers.py)."""
        if self._protection is None:  # read once per loaded config (one request or command)
            from . import connapps
            from .cpusers import child_workloads
            from .resellers import read_resellers

            apps = connapps.load()
            self._protection = Protection(
                self.values["protect"]["builtin"], self.values["protect"]["names"],
                connected=apps.tokens, reseller_acls=read_resellers(), problems=apps.problems,
                unreadable=apps.unreadable, child_workloads=child_workloads)
        return self._protection

    def to_dict(self):
        return copy.deepcopy(self.values)


def load(path=None):
    path = path or paths.config_file()
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except FileNotFoundError:
        return Config(copy.deepcopy(DEFAULTS), "defaults (no file at %s)" % path, False)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, ["cannot read it: %s" % error])
    return Config(parse(text, path, remember=True), path, True)


def parse(text, source="config", remember=False):
    """Check the YAML `text` -> values. remember: reuse (and keep) the YAML parser's
    answer for this exact text in the state dir (see _remembered)."""
    raw = _remembered(text) if remember else _MISSING
    if raw is _MISSING:
        raw = _parse_yaml(text, source)
        if remember:
            _remember(text, raw)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the file must be a mapping of keys, got %s" % _kind(raw)])
    problems = []
    values = _check_mapping(raw, DEFAULTS, "", problems)
    notify = values["notify"]
    if not notify["recipients"] and (
            notify["notice_days"] > 0 or notify["expiry_reminders"]):
        # A notice that reaches nobody is no notice: every run would fail, revoke nothing.
        problems.append("notify.recipients: empty, so no notice or expiry reminder could "
                        "reach anyone (name owner, contact or a mail address)")
    if problems:
        raise ConfigError(source, problems)
    return values


# Importing PyYAML costs a page load ~20 ms, more than reading every token from the
# listing cache. So the parser's answer for the config's exact text is kept as JSON
# in the state dir, keyed by a hash of that text: an edited file never matches, and
# every check above still runs on every load. Without a state dir, YAML each time.
CACHE_NAME = "config-cache.json"
_MISSING = object()


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _remembered(text):
    data = cachefiles.read(paths.state_path(CACHE_NAME))
    try:
        entry = json.loads(data.decode("utf-8")) if data else None
    except ValueError:
        return _MISSING
    if not isinstance(entry, dict) or entry.get("sha256") != _digest(text) or "raw" not in entry:
        return _MISSING
    return entry["raw"]


def _remember(text, raw):
    try:
        encoded = json.dumps({"sha256": _digest(text), "raw": raw})  # key order kept
    except (TypeError, ValueError):
        return  # YAML-only types (dates, sets...): the checks reject them anyway
    if json.loads(encoded)["raw"] != raw:
        return  # JSON would change it (e.g. a number as a key): never remember a different answer
    cachefiles.write(paths.state_path(CACHE_NAME), encoded.encode("utf-8"))


def _parse_yaml(text, source):
    import yaml  # only here: the hook's fast path and a remembered config never load it

    try:
        raw = yaml.load(text, Loader=_loader_without_aliases(yaml))  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = " (line %d)" % (mark.line + 1) if mark else ""
        raise ConfigError(
            source, ["not valid YAML%s: %s" % (where, getattr(error, "problem", error))]
        )
    return raw


def _loader_without_aliases(yaml):
    """PyYAML's safe loader, refusing aliases: a config never needs them, and a few
    nested aliases (a "billion laughs") expand into gigabytes before any check runs."""

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed in the config",
                    self.peek_event().start_mark)
            return super(Loader, self).compose_node(parent, index)

    return Loader


def _check_mapping(raw, defaults, prefix, problems):
    values = copy.deepcopy(defaults)
    for key, value in raw.items():
        where = prefix + str(key)
        if key not in defaults:
            problems.append("%s: unknown key (known: %s)" % (where, ", ".join(sorted(defaults))))
            continue
        checker = CHECKS.get(where)
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                problems.append("%s: expected a mapping, got %r" % (where, value))
                continue
            values[key] = _check_mapping(value, defaults[key], where + ".", problems)
        else:
            try:
                values[key] = checker(value)
            except ValueError as error:
                problems.append("%s: %s" % (where, error))
    return values


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError("expected one of %s, got %r" % (", ".join(allowed), value))
        return value

    return check


def _schedule(value):
    # YAML 1.1 reads a bare `off` as false; an admin who wrote `schedule: off` meant "off".
    return _choice("daily", "hourly", "off")("off" if value is False else value)


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError("expected true or false, got %r" % (value,))
    return value


def _whole(value, what, low, high=None, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number of %s, got %r" % (what, value))
    if value < low or (high is not None and value > high):
        bound = "from %d to %d" % (low, high) if high is not None else "at least %d" % low
        raise ValueError("expected a whole number of %s %s, got %r" % (what, bound, value))
    return value


# The same range the command line takes (commands.arguments.MAX_DAYS): a hundred years.
MAX_DAYS = 36500


def _days_or_none(value):
    return _whole(value, "days", 1, MAX_DAYS, optional=True)


def _revoke_cap(value):
    # Never optional: `max_revoke_per_run: null` must not read as "no cap" for unattended runs.
    return _whole(value, "tokens", 0)


def _parallel_owners(value):
    return _whole(value, "owners", 1, 32)


def _globs(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of name patterns, got %r" % (value,))
    for glob in value:
        check_glob(glob)
    return list(value)


def check_glob(glob):
    """A token name pattern as the config and the command line take it; ValueError naming
    the value otherwise."""
    if (
        not isinstance(glob, str)
        or not GLOB_RE.match(glob)
        or glob.count("[") != glob.count("]")
        or not _ranges_run_forward(glob)
    ):
        raise ValueError(
            "%r is not a token name pattern (letters, digits, _ - and the wildcards "
            "* ? [...])" % (glob,)
        )
    return glob


def _ranges_run_forward(glob):
    """Whether every [...] of the glob is a class re can compile: Python before 3.10 hands
    fnmatch's brackets to re as they are, and re refuses a range that runs backwards
    (`[z-a]`), so such a glob would pass the config check and then stop every run. Each
    bracket is found as fnmatch.translate finds it and compiled alone."""
    index, size = 0, len(glob)
    while index < size:
        char = glob[index]
        index += 1
        if char != "[":
            continue
        end = index
        if end < size and glob[end] == "!":
            end += 1
        if end < size and glob[end] == "]":
            end += 1
        while end < size and glob[end] != "]":
            end += 1
        if end >= size:
            continue  # no closing bracket: fnmatch reads "[" as itself
        body = glob[index:end]
        body = "^" + body[1:] if body.startswith("!") else body
        try:
            re.compile("[%s]" % body)
        except re.error:
            return False
        index = end + 1
    return True


# A mail address a config may name: the plain ASCII shape local MTAs accept, nothing a
# header could be bent with (no spaces, commas, quotes, angle brackets or line breaks).
ADDRESS_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
                        r"@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\Z")
RECIPIENT_WORDS = ("owner", "contact")


def valid_address(text):
    return isinstance(text, str) and len(text) <= 254 and bool(ADDRESS_RE.match(text))


def _notice_days(value):
    return _whole(value, "days", 0, 365)


def _quarantine_days(value):
    return _whole(value, "days", 0, 365)


def _recipients(value):
    if not isinstance(value, list):
        raise ValueError("expected a list of owner, contact or mail addresses, got %r" % (value,))
    for entry in value:
        if entry not in RECIPIENT_WORDS and not valid_address(entry):
            raise ValueError("%r is neither owner, contact nor a mail address like "
                             "admin@example.com" % (entry,))
    return list(dict.fromkeys(value))  # in order, each once


def _reminder_days(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of whole numbers of days, e.g. [7, 1], got %r" % (value,))
    for entry in value:
        _whole(entry, "days", 1, 365)
    return sorted(set(value), reverse=True)


def _kinds(value):
    from .tokens import KINDS

    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of token kinds (%s), got %r"
                         % (", ".join(KINDS), value))
    for kind in value:
        if kind not in KINDS:
            raise ValueError("%r is not a token kind (%s)" % (kind, ", ".join(KINDS)))
    if len(set(value)) != len(value):
        raise ValueError("a kind is listed twice: %r" % (value,))
    return list(value)


def _owners(value):
    if value == "all":
        return value
    if not isinstance(value, list) or not value:
        raise ValueError("expected 'all' or a list of user names, got %r" % (value,))
    for owner in value:
        if not isinstance(owner, str) or not (owner == "root" or OWNER_RE.match(owner)):
            raise ValueError("%r is not a cPanel user name" % (owner,))
    return list(value)


GUARD_KEYS = ("require_expiry", "max_lifetime_days", "exempt_names")


def _guard(value):
    """guard: absent or bare (null) = off; otherwise a mapping of GUARD_KEYS (`{}` is on:
    no rule about expiry, the new-token watch still reports full access)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("expected a mapping (require_expiry, max_lifetime_days, "
                         "exempt_names), got %r" % (value,))
    unknown = sorted(str(key) for key in value if key not in GUARD_KEYS)
    if unknown:
        raise ValueError("unknown key %s (known: %s)" % (", ".join(unknown),
                                                          ", ".join(sorted(GUARD_KEYS))))
    checked = {}
    try:
        checked["require_expiry"] = _boolean(value.get("require_expiry", False))
    except ValueError as error:
        raise ValueError("require_expiry: %s" % error)
    try:
        checked["max_lifetime_days"] = _whole(value.get("max_lifetime_days"), "days", 1, 3650,
                                              optional=True)
    except ValueError as error:
        raise ValueError("max_lifetime_days: %s" % error)
    try:
        checked["exempt_names"] = _globs(value.get("exempt_names"))
    except ValueError as error:
        raise ValueError("exempt_names: %s" % error)
    if value.get("require_expiry") is False and checked["max_lifetime_days"]:
        raise ValueError("require_expiry: false contradicts max_lifetime_days: %d (a token "
                         "that never expires outlives any limit); remove one of them"
                         % checked["max_lifetime_days"])
    return checked


CHECKS = {
    "mode": _choice("preview", "enforce"),
    "policy.expired": _boolean,
    "policy.older_than_days": _days_or_none,
    "policy.unused_for_days": _days_or_none,
    "policy.names": _globs,
    "policy.quarantine_days": _quarantine_days,
    "protect.builtin": _boolean,
    "protect.names": _globs,
    "owners": _owners,
    "max_revoke_per_run": _revoke_cap,
    "parallel_owners": _parallel_owners,
    "events.suspend": _choice(*EVENT_ACTIONS),
    "events.password_change": _choice(*EVENT_ACTIONS),
    "events.rename": _choice(*EVENT_ACTIONS),
    "events.remove": _choice("snapshot", "revoke_all", "ignore"),
    "schedule": _schedule,
    "notify.notice_days": _notice_days,
    "notify.recipients": _recipients,
    "notify.expiry_reminders": _reminder_days,
    "kinds": _kinds,
    "guard": _guard,
}


def _kind(value):
    return type(value).__name__
