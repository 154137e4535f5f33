"""The Token value object and the parsing of `api_token_list` answers.

cPanel's answer is loosely typed (cpanel-facts.md §1): `expires_at` may be
null, an integer or a string of digits (also "" or "00": see _expiry); ACL values may
be 0/1 or "0"/"1"; `whitelist_ips` may be a list, null or absent. Everything is
normalised here so the rest of the code sees one shape.
"""

import hashlib
import json
import re

DAY = 86400

# cPanel's own rule for token names (api_token_create), as typed by an admin.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}\Z")
# What cPanel lets through (Validate.pm's Perl /^[A-Za-z0-9_-]{1,50}$/, whose `$` also
# matches before one final newline: tests/contract creates "name\n" with cPanel's code).
# A listing holding such a name is read, never refused: one odd name must not hide all of
# an account's tokens from every sweep.
LISTED_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}\n?\Z")
DIGITS_RE = re.compile(r"^[0-9]+\Z")
# Cpanel::Validate::Time::epoch_or_die: the largest expiry cPanel accepts (no EOVERFLOW).
MAX_EXPIRY = 67767976233521999
# The last second every clock of the platform can show (9999-12-31T23:59:59Z): a creation
# time past it, or before 1970, is no time cPanel wrote (audit.MAX_EPOCH).
LAST_TIME = 253402300799

# The two kinds of API token: WHM's (root and resellers, whmapi1 api_token_*) and cPanel
# accounts' own (UAPI Tokens, reached through whmapi1 uapi_cpanel). The same user can have
# both (a reseller's WHM tokens and its own cPanel account's), under the same names.
WHM, CPANEL = "whm", "cpanel"
KINDS = (WHM, CPANEL)
# Whether api_tokens_log shows a kind's use in a shape we verified (docs/cpanel-notes.md):
# only WHM's ([whostmgrd] lines). A cPanel token's last use is unknown, never "unused".
USAGE_LOGGED = {WHM: True, CPANEL: False}


class TokenDataError(ValueError):
    """whmapi1 described a token in a way we cannot trust."""


class Token(object):
    """One API token as listed. `owner_acls`: the owner's own privileges (a reseller's
    line in cPanel's resellers file), None for root or when they are not known.

    kind: WHM or CPANEL. A cPanel token's `owner` is its cPanel account, `account_owner`
    the reseller (or root) that owns the account (None when unknown), `features` what a
    limited token may use, and `full_access` is what UAPI lists (`has_full_access`).

    expiry_damaged: None, or the listed `expires_at` (as JSON text) when it is no time at
    all; `expires_at` is then None and the token is protected (policy.protection): an
    expiry nobody can read must not decide a revocation."""

    __slots__ = ("owner", "name", "create_time", "expires_at", "acls", "whitelist_ips",
                 "owner_acls", "full_access", "kind", "account_owner", "features",
                 "expiry_damaged")

    def __init__(self, owner, name, create_time, expires_at=None, acls=None, whitelist_ips=(),
                 owner_acls=None, kind=WHM, account_owner=None, full_access=None, features=(),
                 expiry_damaged=None):
        self.owner = owner
        self.name = name
        self.create_time = create_time
        self.expires_at = expires_at
        self.acls = dict(acls or {})
        self.whitelist_ips = tuple(whitelist_ips or ())
        self.owner_acls = None if owner_acls is None else tuple(owner_acls)
        self.kind = kind
        self.account_owner = account_owner
        self.features = tuple(features or ())
        self.expiry_damaged = expiry_damaged
        if full_access is None:
            full_access = has_full_access(self.acls, self.owner_acls, owner)
        self.full_access = bool(full_access)

    def __repr__(self):
        if self.kind == WHM:
            return "Token(%r, %r)" % (self.owner, self.name)
        return "Token(%r, %r, kind=%r)" % (self.owner, self.name, self.kind)

    @property
    def holder(self):
        """Who holds the token, kind included: "bob" (WHM) or "bob@cpanel" (bob's cPanel
        account). What the engine groups, caps and reports by: a reseller's WHM tokens and
        its own cPanel account's are two holders. `@` is in no cPanel user name."""
        return holder_of(self.owner, self.kind)

    @property
    def usage_logged(self):
        return USAGE_LOGGED.get(self.kind, False)

    def __eq__(self, other):
        return (
            isinstance(other, Token)
            and self.key() == other.key()
            and self.to_dict() == other.to_dict()
        )

    def __hash__(self):
        return hash(self.key())

    def key(self):
        """(holder, name): the kind is part of it, so bob's WHM `foo` and the `foo` of bob's
        cPanel account are never taken for each other."""
        return (self.holder, self.name)

    def identity(self):
        """"HOLDER:NAME:CREATE_TIME:DIGEST", what a confirmation binds (HOLDER names the
        kind: "bob" or "bob@cpanel"). The digest covers everything else cPanel lists for the
        token (expiry, ACLs or features, IP limits), so a token re-created or changed under
        the same name has another identity."""
        facts = [self.expires_at, sorted(self.acls.items()), list(self.whitelist_ips)]
        if self.kind != WHM:
            facts += [self.kind, self.full_access, sorted(self.features)]
        if self.expiry_damaged is not None:
            facts.append(self.expiry_damaged)  # only then: every other identity stays
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()
        return "%s:%s:%d:%s" % (self.holder, self.name, self.create_time, digest[:12])

    @property
    def access_words(self):
        """How the overview, the command line and the plan name this token's reach."""
        if not self.full_access:
            return "limited ACLs" if self.kind == WHM else "limited features"
        if self.owner_acls is None or "all" in self.owner_acls:
            return "full access"
        return "full access (owner's privileges)"

    @property
    def ip_limited(self):
        return bool(self.whitelist_ips)

    def is_expired(self, now):
        return self.expires_at is not None and self.expires_at <= now

    def age_days(self, now):
        return max(0, (now - self.create_time) // DAY)

    def expires_in_days(self, now):
        """Whole days until expiry (negative once expired), None when it never expires."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now) // DAY

    def to_dict(self):
        """The facts the audit log and --json output record (cPanel keeps no secret here)."""
        record = {
            "owner": self.owner,
            "name": self.name,
            "create_time": self.create_time,
            "expires_at": self.expires_at,
            "full_access": self.full_access,
            "ip_limited": self.ip_limited,
            "kind": self.kind,
        }
        if self.kind != WHM:
            record["account_owner"] = self.account_owner
        if self.expiry_damaged is not None:
            record["expiry_damaged"] = self.expiry_damaged
        return record


def expiry_words(token, show):
    """A token's expiry as a listing shows it: `show(expires_at)`, or "damaged: <as
    listed>" when cPanel's value is no time (never "never": it may well have expired)."""
    if token.expiry_damaged is not None:
        return "damaged: %s" % token.expiry_damaged
    return show(token.expires_at)


def holder_of(owner, kind=WHM):
    """Token.holder for an owner and a kind."""
    return owner if kind == WHM else "%s@%s" % (owner, kind)


def split_holder(holder):
    """(owner, kind) of a holder ("bob" -> ("bob", "whm"), "bob@cpanel" -> ("bob", "cpanel"))."""
    owner, sep, kind = holder.partition("@")
    return owner, (kind if sep else WHM)


def has_full_access(acls, owner_acls=None, owner=None):
    """Whether a token can do everything its owner can, judged from its listing alone
    (cpanel-facts.md "Full access and ACLs in listings").

    Root's listing of a full-access token grants `all` (a limited one shows `all: 0`, or
    only its ACLs): root's token needs `all`. A reseller's listing shows only the ACLs the
    reseller has, minus those of disabled dynamic components (Whostmgr/ACLS.pm,
    get_filtered_reseller_privs), so comparing it with the resellers file would call a
    real full-access token limited: a reseller's token has full access when `all` is
    granted or its listed map is non-empty and grants every key. `owner` None (an old
    caller) with `owner_acls` None reads as root. `owner_acls` no longer decides."""
    if acls.get("all"):
        return True
    if owner == "root" or (owner is None and owner_acls is None):
        return False
    return bool(acls) and all(acls.values())


def parse_token_list(owner, data, owner_acls=None):
    """Turn the `data` of an api_token_list answer into Tokens, sorted by name.

    `owner_acls`: the owner's own ACLs when it is a reseller (see has_full_access)."""
    if not isinstance(data, dict):
        raise TokenDataError(
            "api_token_list for %s: expected an object, got %s" % (owner, _kind(data))
        )
    entries = data.get("tokens")
    if entries is None or entries == []:
        # A user without tokens may come back as {}, [] or with no key at all.
        return []
    if not isinstance(entries, dict):
        raise TokenDataError(
            "api_token_list for %s: 'tokens' is %s, not an object" % (owner, _kind(entries))
        )
    return sorted(
        (parse_token(owner, key, value, owner_acls) for key, value in entries.items()),
        key=lambda t: t.name,
    )


def parse_token(owner, key, entry, owner_acls=None):
    # `at` names the token in errors; it is formatted only when there is one (5,000 tokens
    # on a page load: the common case must stay cheap).
    at = (owner, key)
    if not isinstance(entry, dict):
        raise _error(at, "expected an object, got %s" % _kind(entry))
    name = entry.get("name", key)
    if name != key:
        raise _error(at, "its name field says %r" % (name,))
    create_time = _epoch(entry.get("create_time"), at, "create_time")
    if create_time is None:
        raise _error(at, "create_time is missing")
    expires_at, damaged = _expiry(entry.get("expires_at"))
    return Token(
        owner=owner,
        name=name,
        create_time=create_time,
        expires_at=expires_at,
        acls=_acls(entry.get("acls"), at),
        whitelist_ips=_ips(entry.get("whitelist_ips"), at),
        owner_acls=owner_acls,
        expiry_damaged=damaged,
    )


def parse_uapi_token_list(account, data, account_owner=None):
    """Turn the `data` of UAPI Tokens::list (a list of records, any order) into cPanel-kind
    Tokens of `account`, sorted by name. Raises TokenDataError naming account and token."""
    if data is None or data == [] or data == {}:
        return []
    if not isinstance(data, list):
        raise TokenDataError("Tokens::list for %s: expected a list, got %s"
                             % (account, _kind(data)))
    tokens = [parse_uapi_token(account, entry, account_owner) for entry in data]
    names = [token.name for token in tokens]
    if len(set(names)) != len(names):
        raise TokenDataError("Tokens::list for %s: a token name is listed twice" % account)
    return sorted(tokens, key=lambda t: t.name)


def parse_uapi_token(account, entry, account_owner=None):
    if not isinstance(entry, dict):
        raise TokenDataError("Tokens::list for %s: a record is %s, not an object"
                             % (account, _kind(entry)))
    name = entry.get("name")
    if not isinstance(name, str) or not LISTED_NAME_RE.match(name):
        raise TokenDataError("Tokens::list for %s: a record has no valid name: %r"
                             % (account, name))
    at = (account, name)
    create_time = _epoch(entry.get("create_time"), at, "create_time")
    if create_time is None:
        raise _error(at, "create_time is missing")
    features = entry.get("features")
    if features is None:
        features = []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _error(at, "features is %r, expected a list of names" % (features,))
    full = entry.get("has_full_access")
    if full is None or isinstance(full, (list, dict)):
        raise _error(at, "has_full_access is %r, expected 0 or 1" % (full,))
    expires_at, damaged = _expiry(entry.get("expires_at"))
    return Token(
        owner=account,
        name=name,
        create_time=create_time,
        expires_at=expires_at,
        kind=CPANEL,
        account_owner=account_owner,
        full_access=_flag(full, at, "has_full_access"),
        features=sorted(features),
        expiry_damaged=damaged,
    )


def _error(at, message):
    return TokenDataError("token %r of %s: %s" % (at[1], at[0], message))


def _epoch(value, at, field):
    if value is None:
        return None
    if isinstance(value, bool):
        raise _error(at, "%s is a boolean" % field)
    number = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and len(value) <= 64 and DIGITS_RE.match(value.strip()):
        # ASCII digits only (str.isdigit() also takes "²", which int() refuses, and "١٢٣"),
        # and not thousands of them (int() refuses those too).
        number = int(value.strip())
    if number is not None and 0 <= number <= LAST_TIME:
        return number
    raise _error(at, "%s is not a Unix time: %r" % (field, value))


def _expiry(value):
    """(expires_at, damaged) as cPanel's own check reads the stored value
    (Cpanel/Security/Authn/APITokens.pm: `$expires_at && $expires_at < time()`): null,
    absent, "", 0 and "0" are false to Perl, so the token never expires; any other digit
    string is its number, leading zeros too ("00" is 1970: expired); the numbers cPanel
    accepts go up to MAX_EXPIRY. Anything else is no time: (None, its JSON text), so one
    damaged record never makes its owner unlistable."""
    if value in (None, "", "0") or (type(value) in (int, float) and value == 0):
        return None, None
    number = None
    if isinstance(value, str) and DIGITS_RE.match(value):
        number = int(value)
    elif type(value) is int or (type(value) is float and value.is_integer()):
        number = int(value)
    if number is not None and 0 <= number <= MAX_EXPIRY:
        return number, None
    return None, json.dumps(value, default=repr)[:80]


def _acls(value, at):
    if value is None:
        return {}
    if isinstance(value, list):
        # Some versions list the granted ACL names instead of a 0/1 map.
        if all(isinstance(item, str) for item in value):
            return dict.fromkeys(value, True)
        raise _error(at, "acls list holds non-names")
    if not isinstance(value, dict):
        raise _error(at, "acls is %s, not an object" % _kind(value))
    return {str(acl): _flag(granted, at, acl) for acl, granted in value.items()}


def _flag(value, at, acl):
    if value.__class__ is int and (value == 0 or value == 1):  # the usual case, first
        return value == 1
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    raise _error(at, "ACL %r is %r, expected 0 or 1" % (acl, value))


def _ips(value, at):
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value and value != "any" else ()
    if isinstance(value, list) and all(isinstance(ip, str) for ip in value):
        return tuple(value)
    raise _error(at, "whitelist_ips is %r, expected a list of addresses" % (value,))


def _kind(value):
    return "null" if value is None else type(value).__name__
