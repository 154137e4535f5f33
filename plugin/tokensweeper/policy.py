"""Which tokens a sweep revokes, and why. Pure: no I/O, no clock.

make_plan(tokens, usage, selectors, protection, now) gives one PlanItem per
token, each with a decision and a reason an administrator can read:
  revoke     selected, and not protected
  protected  selected, but protected (cPanel's own name shapes, connected applications,
             config globs; the reason names the rule)
  keep       not selected (the reason says why)
  gone       asked for by name but no longer listed
  notice     selected and not protected, but an unattended run must first give notice
             (hold_for_notice: notify.notice_days; the reason says when it is due)
"""

import copy
import re
import time
from fnmatch import fnmatchcase, translate

from .tokens import CPANEL, DAY, WHM, Token, split_holder

REVOKE, PROTECTED, KEEP, GONE = "revoke", "protected", "keep", "gone"
NOTICE = "notice"

# Where a protection rule comes from. Only the admin's own config shields a token from
# an event that says its account must lose its tokens (revoke_all on suspension or removal):
# built-in name shapes and connected-application files can be written by that account.
BUILTIN, CONFIGURED, CONNECTED = "built-in", "config", "connected application"
TRANSFER_NAME = re.compile(r"^transfer-([0-9]{1,12})\Z")
# Cpanel::UUID::random_uuid, lowercase RFC 4122 version 4
# (Cpanel/NameServer/Setup/Remote/cPanel.pm).
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
REVERSE_TRUST_NAME = re.compile(r"^reverse_trust_" + UUID4 + r"\Z")
CLUSTER_ACLS = ("all", "clustering")
# WHM » Link Server Nodes (whostmgr/docroot/templates/link-server-nodes/main.js,
# _generateTokenName): "PARENT-DO_NOT_DELETE-" + the short hostname with [^a-z0-9_-]
# (case-insensitively) made "_", cut to leave room for "-" + Math.random().toString(36)
# digits; at most 50 characters.
LINKED_NODE_NAME = re.compile(r"^PARENT-DO_NOT_DELETE-[A-Za-z0-9_-]*-[0-9a-z]{1,20}\Z")
# scripts/convert_accesshash_to_token: "accesshash-" . time, then "-" + 8 of [0-9A-Z]
# when that name is taken.
ACCESSHASH_NAME = re.compile(r"^accesshash-([0-9]{1,12})(?:-[0-9A-Z]{8})?\Z")


def _granted(token):
    """The ACLs a token's listing grants (values already read as booleans)."""
    return {acl for acl, on in token.acls.items() if on}


def _may_cluster(owner, reseller_acls):
    """Whether `owner` can set up a DNS cluster (root, or a reseller with clustering or all).
    Without the resellers file nobody can tell: then the token keeps its protection."""
    if owner == "root" or reseller_acls is None:
        return True
    return any(acl in CLUSTER_ACLS for acl in reseller_acls.get(owner) or ())


def _epoch_stamp_is_creation(pattern):
    """A name stamped with the epoch second cPanel made the token (transfer-<epoch>,
    accesshash-<epoch>): the stamp is the token's own create_time (within a day of clock
    skew), not any number."""
    def matches(token):
        match = pattern.match(token.name)
        return bool(match) and abs(int(match.group(1)) - token.create_time) <= DAY
    return matches


_transfer_stamp_is_creation = _epoch_stamp_is_creation(TRANSFER_NAME)
_accesshash_stamp_is_creation = _epoch_stamp_is_creation(ACCESSHASH_NAME)


def _reverse_trust(token, reseller_acls):
    """cPanel's DNS cluster trust token: the exact name, ACL `clustering` and nothing else,
    owned by a WHM user that can set up a cluster."""
    return (bool(REVERSE_TRUST_NAME.match(token.name)) and _granted(token) == {"clustering"}
            and _may_cluster(token.owner, reseller_acls))


def _linked_node(token, reseller_acls):
    """The parent node's token on a linked child node: ACL all, no expiry, made with the
    credentials of a root-level administrator (Cpanel/LinkedNode.pm): root, or a reseller
    with `all` (any reseller when the resellers file cannot be read)."""
    return (token.full_access and token.expires_at is None
            and bool(LINKED_NODE_NAME.match(token.name))
            and _root_level(token.owner, reseller_acls))


def _root_level(owner, reseller_acls):
    if owner == "root" or reseller_acls is None:
        return True
    return "all" in (reseller_acls.get(owner) or ())


def _transfer(token, _acls):
    """The Transfer Tool's token on a transfer source: `whmapi1 api_token_create
    token_name=transfer-<time()>` run as root over SSH (Preflight/RemoteRoot/Create.pm), so
    root's, full access, no expiry. A reseller's token of that shape is its own."""
    return (token.owner == "root" and token.full_access and token.expires_at is None
            and _transfer_stamp_is_creation(token))


def _accesshash(token, _acls):
    """A converted access hash: full access (no ACL list), no expiry, stamped when made."""
    return (token.full_access and token.expires_at is None
            and _accesshash_stamp_is_creation(token))


class Rule(object):
    """One reason a token is never revoked by policy: `label` names the rule, `description`
    is what reports say (it names the rule too), `source` is BUILTIN, CONFIGURED or
    CONNECTED."""

    def __init__(self, label, description, source, matches):
        self.label = label
        self.description = description
        self.source = source
        self.matches = matches  # (token, reseller_acls) -> bool

    def describe(self):
        return self.description


def _builtin(label, why, matches):
    return Rule(label, "%s (built-in rule %s)" % (why, label), BUILTIN, matches)


def _exact(name, owners=None):
    return lambda token, _acls: token.name == name and (owners is None or token.owner in owners)


# The exact shapes cPanel and vendors give their own tokens (cpanel-facts.md, "Tokens cPanel
# and vendors create for themselves"), each only for the owners that can have it. A glob
# such as *-trust is no cPanel shape: any reseller can name a token that way.
BUILTIN_RULES = (
    _builtin("reverse_trust_<uuid>", "DNS cluster trust token", _reverse_trust),
    _builtin("PARENT-DO_NOT_DELETE-<host>-<id>",
             "linked server node token (WHM » Link Server Nodes)", _linked_node),
    _builtin("accesshash-<creation epoch>", "converted access hash (billing systems such as "
             "WHMCS may still use it)", _accesshash),
    _builtin("transfer-<creation epoch>", "Transfer Tool token", _transfer),
    _builtin("WebPros_Dashboard", "reserved for the WebPros dashboard",
             _exact("WebPros_Dashboard")),
    _builtin("WP-Dashboard", "reserved for the WebPros dashboard", _exact("WP-Dashboard")),
    _builtin("prospamfilter (root)", "SpamExperts token", _exact("prospamfilter", ("root",))),
)

# cPanel accounts' tokens cPanel creates itself (cpanel-facts.md; docs/cpanel-notes.md):
# a transfer's `cpmove_<time>_<hex>` (Cpanel/RemoteAPI/cPanel/TemporaryToken.pm:
# "${prefix}_${isotime}_$hex" with every ':' made '_', so 2026-11-30T02_40_00Z) and linked
# mail nodes' `MailNodeLinkage` and `MailNodeLinkage-<time>` (<time>: the ISO time with
# every character a token name cannot hold made a hyphen, 2026-11-30T02-40-00Z), stamped
# when the token is made: a name whose stamp is not its creation time (within a day) is a
# lookalike.
ISO_STAMP = r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})-([0-9]{2})-([0-9]{2})Z"
CPMOVE_STAMP = r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})_([0-9]{2})_([0-9]{2})Z"
CPMOVE_NAME = re.compile(r"^cpmove_" + CPMOVE_STAMP + r"_[0-9a-f]{1,40}\Z")
MAIL_NODE_NAME = re.compile(r"^MailNodeLinkage-" + ISO_STAMP + r"\Z")
CPMOVE_VALIDITY = DAY  # AccountRemoteUser.pm _CP_TOKEN_VALIDITY_LENGTH: 86400 seconds


def _stamp_is_creation(pattern):
    import calendar

    def matches(token, _acls):
        match = pattern.match(token.name)
        if not match:
            return False
        try:
            stamp = calendar.timegm(tuple(int(part) for part in match.groups()) + (0, 0, 0))
        except (ValueError, OverflowError):
            return False
        return abs(stamp - token.create_time) <= DAY
    return matches


_cpmove_stamp = _stamp_is_creation(CPMOVE_NAME)


def _cpmove(token, acls):
    """The transfer's temporary token: full access, valid for a day from its stamp."""
    return (token.full_access and token.expires_at is not None
            and 0 < token.expires_at - token.create_time <= CPMOVE_VALIDITY + DAY
            and _cpmove_stamp(token, acls))


_mail_node_stamp = _stamp_is_creation(MAIL_NODE_NAME)


def _full(matches):
    """cPanel makes its mail node tokens with Tokens::create_full_access: an account's
    limited token of that name is its own. (An expiry is allowed: such a token stops
    working by itself.)"""
    return lambda token, acls: token.full_access and matches(token, acls)


CPANEL_RULES = (
    _builtin("cpmove_<creation time>_<hex>", "cPanel transfer token", _cpmove),
    _builtin("MailNodeLinkage", "linked mail node token",
             _full(_exact("MailNodeLinkage"))),
    _builtin("MailNodeLinkage-<creation time>", "linked mail node token",
             _full(_mail_node_stamp)),
)

# The protection table: each kind's built-in rules. WHM shapes never protect a cPanel
# account's token, nor cPanel's shapes a WHM token.
BUILTIN_RULES_BY_KIND = {WHM: BUILTIN_RULES, CPANEL: CPANEL_RULES}


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


class Protection(object):
    """Which tokens policy never revokes, and by which rule.

    builtin: cPanel's own shapes (BUILTIN_RULES); names: the config's protect.names globs;
    connected: {owner: {token_name: app}} from the Connected Applications files;
    unreadable: {owner: why} for owners whose Connected Applications file cannot be read:
    which of their tokens an application uses is unknown, so all of them are kept;
    reseller_acls: {reseller: [acl, ...]} from the resellers file, None when unknown;
    problems: warnings from reading those files, for every report that uses this.
    """

    def __init__(self, builtin=True, names=(), connected=None, reseller_acls=None, problems=(),
                 unreadable=None, account_event=False):
        self.builtin = builtin
        self.names = tuple(names)
        self.connected = connected or {}
        self.unreadable = unreadable or {}
        self.reseller_acls = reseller_acls
        self.problems = list(problems)
        self.account_event = account_event
        # Compiled once: every token of every owner is checked, often twice per page.
        self._configured = [
            Rule(glob, "matches protect.names %r" % glob, CONFIGURED, _glob_matcher(glob))
            for glob in self.names]
        self._any_configured = (re.compile("|".join(translate(glob) for glob in self.names)).match
                                if self.names else None)

    def for_account_event(self):
        """The same rules for revoke_all on an account's own suspension or removal: only the
        admin's protect.names still shield; a system-looking name is only reported."""
        return Protection(self.builtin, self.names, self.connected, self.reseller_acls,
                          self.problems, self.unreadable, account_event=True)

    def rule_for(self, token):
        """The rule that protects this token: a shielding one first, else any that matches
        (a system-looking name on an account event), else None."""
        if not self._may_match(token):
            return None  # most tokens: one cheap look instead of every rule
        matching = None
        for rule in self._rules(token):
            if rule.matches(token, self.reseller_acls):
                if self._shields(rule):
                    return rule
                matching = matching or rule
        return matching

    def reason(self, token):
        """Why this token must never be revoked by policy, or None."""
        rule = self.rule_for(token)
        if rule is None or not self._shields(rule):
            return None
        return "protected: %s" % rule.describe()

    def resemblance(self, token):
        """On an account event: the rule a token matches that does not shield it, or None."""
        rule = self.rule_for(token)
        if rule is None or self._shields(rule):
            return None
        return rule

    def _shields(self, rule):
        return not self.account_event or rule.source == CONFIGURED

    def _may_match(self, token):
        # Connected Applications are WHM users' (root, resellers): keyed by holder, a cPanel
        # account's token (holder "bob@cpanel") is never shielded by reseller bob's file.
        return ((self.builtin and _may_be_builtin(token.name))
                or (self._any_configured is not None and self._any_configured(token.name))
                or token.holder in self.connected or token.holder in self.unreadable)

    def _rules(self, token):
        if self.builtin and _may_be_builtin(token.name):
            for rule in BUILTIN_RULES_BY_KIND.get(token.kind, ()):
                yield rule
        for rule in self._configured:
            yield rule
        if token.holder in self.connected or token.holder in self.unreadable:
            path = connected_apps_file(token.owner)
            app = self.connected.get(token.owner, {}).get(token.name)
            if app is not None:
                yield Rule(path, "used by connected application %s (%s)" % (app, path),
                           CONNECTED, _always)
            if token.owner in self.unreadable:
                yield Rule(path, "may be used by a connected application: %s" % (
                    self.unreadable[token.owner]), CONNECTED, _always)


# Every built-in rule's name starts with one of these or is one of those: the overview asks
# about every token on every load, and almost none comes near a built-in rule.
_BUILTIN_PREFIXES = ("reverse_trust_", "transfer-", "cpmove_", "MailNodeLinkage",
                     "PARENT-DO_NOT_DELETE-", "accesshash-")
_BUILTIN_NAMES = frozenset(("WebPros_Dashboard", "WP-Dashboard", "prospamfilter"))


def _may_be_builtin(name):
    return name.startswith(_BUILTIN_PREFIXES) or name in _BUILTIN_NAMES


def _always(_token, _acls):
    return True


def _glob_matcher(glob):
    matches = re.compile(translate(glob)).match
    return lambda token, _acls: bool(matches(token.name))


def connected_apps_file(owner):
    """Where cPanel keeps the Connected Applications of a WHM user (relative to cPanel's root)."""
    if owner == "root":
        return "/root/conn-apps.json"
    return "/var/cpanel/reseller-data/%s/conn-apps.json" % owner


class Selectors(object):
    """What to select. Criteria are AND-ed (the command line) or OR-ed (the config's policy:
    a token is stale when it is expired OR too old OR unused). Names and owners only ever
    narrow what the criteria select: without a criterion nothing is selected, so a policy
    of only `owners: [bob]` or `names: ["*"]` is never "every token of bob" or "every
    token". every_token is the one explicit "all of them" (an account event's revoke_all)."""

    CRITERIA = (
        "every_token",
        "expired",
        "expiring_within_days",
        "older_than_days",
        "unused_for_days",
        "no_expiry",
        "full_access",
        "no_ip_limit",
        "created_after",
        "created_before",
        "used_after",
        "used_from",
    )
    # Criteria whose value is a UTC epoch (shown and recorded as a time), and those that
    # need usage evidence (without it they select nothing, and say so).
    TIME_CRITERIA = ("created_after", "created_before", "used_after")
    EVIDENCE_CRITERIA = ("unused_for_days", "used_after", "used_from")

    def __init__(
        self,
        every_token=False,
        expired=False,
        expiring_within_days=None,
        older_than_days=None,
        unused_for_days=None,
        no_expiry=False,
        full_access=False,
        no_ip_limit=False,
        names=(),
        owners=(),
        combine="all",
        created_after=None,
        created_before=None,
        used_after=None,
        used_from=None,
        resellers=(),
    ):
        if combine not in ("all", "any"):
            raise ValueError("combine must be 'all' or 'any'")
        self.every_token = every_token
        self.expired = expired
        self.expiring_within_days = expiring_within_days
        self.older_than_days = older_than_days
        self.unused_for_days = unused_for_days
        self.no_expiry = no_expiry
        self.full_access = full_access
        self.no_ip_limit = no_ip_limit
        # Incident response (incident.py parses them): epochs, and a tuple of canonical
        # networks or None. created_after/used_after include their instant, created_before
        # does not: --created-after D1 --created-before D2 is [D1, D2).
        self.created_after = created_after
        self.created_before = created_before
        self.used_after = used_after
        self.used_from = tuple(used_from) if used_from else None
        self._networks = None
        self.names = tuple(names)
        self.owners = tuple(owners)
        # Narrows to the tokens of cPanel accounts these resellers (or root) own.
        self.resellers = tuple(resellers)
        self.combine = combine

    def narrowed(self, owners=None, names=None, resellers=None):
        """The same criteria, limited to these owners, names and/or resellers' accounts."""
        narrowed = copy.copy(self)
        if owners:
            narrowed.owners = tuple(owners)
        if names:
            narrowed.names = tuple(names)
        if resellers:
            narrowed.resellers = tuple(resellers)
        return narrowed

    def active_criteria(self):
        return [name for name in self.CRITERIA if getattr(self, name) not in (None, False)]

    def selects_anything(self):
        """Whether any token can be selected: owners and names alone never select."""
        return bool(self.active_criteria())

    def networks(self):
        """used_from as ipaddress networks, parsed once."""
        if self._networks is None:
            from .incident import networks

            self._networks = networks(self.used_from or ())
        return self._networks

    def _value(self, name):
        value = getattr(self, name)
        if name in self.TIME_CRITERIA:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
        if name == "used_from":
            return list(value)
        return value

    def to_dict(self):
        """What the audit log and --json record: only what is set."""
        out = {name: self._value(name) for name in self.active_criteria()}
        if self.names:
            out["names"] = list(self.names)
        if self.owners:
            out["owners"] = list(self.owners)
        if self.resellers:
            out["resellers"] = list(self.resellers)
        if len(self.active_criteria()) > 1:
            out["combine"] = self.combine
        return out

    def describe(self):
        """One line for people: 'expired or older_than_days=365, names ci-*, owners bob'."""
        criteria = [
            "%s=%s" % (n, self._describe_value(n)) if getattr(self, n) is not True else n
            for n in self.active_criteria()
        ]
        parts = [(" and " if self.combine == "all" else " or ").join(criteria)] if criteria else []
        if self.names:
            parts.append("names " + " ".join(self.names))
        if self.owners:
            parts.append("owners " + " ".join(self.owners))
        if self.resellers:
            parts.append("accounts of " + " ".join(self.resellers))
        return ", ".join(parts) or "nothing"


    def _describe_value(self, name):
        if name in self.TIME_CRITERIA:
            return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(getattr(self, name)))
        if name == "used_from":
            return ",".join(self.used_from)
        return getattr(self, name)


class PlanItem(object):
    __slots__ = ("token", "decision", "reason")

    def __init__(self, token, decision, reason):
        self.token = token
        self.decision = decision
        self.reason = reason

    def __repr__(self):
        return "PlanItem(%r, %r, %r)" % (self.token, self.decision, self.reason)


class Plan(object):
    def __init__(self, items, selectors, now):
        self.items = items
        self.selectors = selectors
        self.now = now
        self.owner_errors = {}  # owner -> why its tokens could not be listed (set by the planner)
        self.problems = []  # owner names that were refused
        self.last_used = {}  # (owner, name) -> "2026-11-20 10:01 UTC from ...", "never used", ...
        # Tokens a usage-evidence criterion could not judge (not selected on that ground):
        # PlanItems with decision keep, whose reason says what evidence is missing.
        self.unjudged = []
        self.evidence_problems = []  # the sentence saying so, also in problems
        self.usage = None
        # key -> NoticeState for each token selected for revocation, once notices are
        # weighed (notice_states); empty when notices are off.
        self.notices = {}
        self._reasons = {item.token.key(): item.reason for item in items}

    def reason_of(self, token):
        return self._reasons.get(token.key(), "")

    def describe_use(self, usage):
        """Record how each token reads in the usage evidence, for every report of this plan."""
        if usage is not None:
            self.usage = usage
            self.last_used = {i.token.key(): usage.describe(i.token, self.now)
                              if i.token.usage_logged else NOT_LOGGED for i in self.items}

    def seen_from_of(self, token):
        """The addresses the token was used from, for the record: [{ip, first, last, uses}]
        (newest first) and whether more were seen than kept; ([], False) without evidence."""
        if self.usage is None or not hasattr(self.usage, "seen_from") or not token.usage_logged:
            return [], False
        uses, dropped = self.usage.seen_from(token)
        return ([{"ip": u.ip or None, "uses": u.uses, "last": _iso(u.last),
                  "first": None if u.first is None else _iso(u.first)} for u in uses],
                dropped is not None)

    def last_used_of(self, token):
        return self.last_used.get(token.key())

    def with_decision(self, decision):
        return [item for item in self.items if item.decision == decision]

    def to_revoke(self):
        return [item.token for item in self.with_decision(REVOKE)]

    def by_owner(self):
        grouped = {}
        for item in self.items:
            grouped.setdefault(item.token.holder, []).append(item)
        return grouped

    def counts(self):
        counts = {REVOKE: 0, PROTECTED: 0, KEEP: 0, GONE: 0}
        for item in self.items:
            counts[item.decision] = counts.get(item.decision, 0) + 1  # NOTICE only when held
        return counts

    def notice_of(self, token):
        """The token's NoticeState (notices weighed and the token selected), else None."""
        return self.notices.get(token.key())


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


def make_plan(tokens, usage, selectors, protection, now):
    items = []
    criteria = selectors.active_criteria()  # once, not once per token
    unjudged = []
    for token in tokens:
        verdict, reason = judge(token, selectors, usage, now, criteria)
        if verdict is not True:
            items.append(PlanItem(token, KEEP, reason))
            if verdict is None:
                unjudged.append(items[-1])
            continue
        protected = protection.reason(token)
        if protected:
            items.append(PlanItem(token, PROTECTED, "%s (selected: %s)" % (protected, reason)))
        else:
            items.append(PlanItem(token, REVOKE, _with_resemblance(reason, protection, token)))
    plan = Plan(items, selectors, now)
    plan.describe_use(usage)
    plan.unjudged = unjudged
    if unjudged:
        plan.evidence_problems = [evidence_problem(unjudged, selectors)]
        plan.problems = list(plan.evidence_problems)
    return plan


def _with_resemblance(reason, protection, token):
    """Say so when a token revoked on its account's own event looked like a system token."""
    rule = protection.resemblance(token)
    if rule is None:
        return reason
    return ("%s; looked like a system token (%s), but a name does not shield the tokens of the "
            "account this event is about" % (reason, rule.describe()))


def evidence_problem(unjudged, selectors):
    """One loud sentence for the tokens a usage-evidence criterion could not judge."""
    which = [n for n in selectors.active_criteria() if n in Selectors.EVIDENCE_CRITERIA]
    named = ", ".join("%s/%s" % item.token.key() for item in unjudged[:10])
    more = "" if len(unjudged) <= 10 else " and %d more" % (len(unjudged) - 10)
    return ("usage evidence missing: %d token%s could not be judged by %s and %s NOT "
            "selected on that ground (the usage log cannot tell; see each token's reason): "
            "%s%s" % (len(unjudged), "" if len(unjudged) == 1 else "s",
                      " and ".join(which) or "the usage evidence",
                      "is" if len(unjudged) == 1 else "are", named, more))


def plan_for_names(tokens, wanted, protection, now):
    """A plan for tokens chosen by hand: wanted is a set of (holder, name) (Token.key()).

    Protected tokens stay protected even when chosen; names no longer listed are 'gone'.
    """
    listed = {token.key(): token for token in tokens}
    owners = sorted({split_holder(holder)[0] for holder, _ in wanted})
    items = []
    for key in sorted(wanted):
        token = listed.get(key)
        if token is None:
            # Only holder and name are known: enough for the report and the audit log.
            owner, kind = split_holder(key[0])
            items.append(PlanItem(Token(owner, key[1], 0, kind=kind), GONE, "no longer listed"))
            continue
        protected = protection.reason(token)
        if protected:
            items.append(PlanItem(token, PROTECTED, protected))
        else:
            items.append(PlanItem(token, REVOKE, "chosen by hand"))
    plan = Plan(items, Selectors(names=sorted({n for _, n in wanted}), owners=owners), now)
    plan.problems = list(protection.problems)
    return plan


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


class CapShare(object):
    """How max_revoke_per_run splits an unattended run's tokens between owners.

    admitted: the tokens this run may revoke; refused: {owner: count} for owners whose own
    candidates alone exceed the cap; deferred: {owner: count} for owners that fit the cap
    alone but not into what this run has left.
    """

    def __init__(self, admitted, refused, deferred):
        self.admitted = admitted
        self.refused = refused
        self.deferred = deferred

    @property
    def held_back(self):
        return bool(self.refused or self.deferred)


def share_cap(tokens, cap):
    """Owners are independent: one owner over the cap is refused, never the whole run.

    Owners are admitted root first, then the owner that has waited longest (its oldest
    candidate was created first), then by ascending number of candidates (then name), while
    the run's total stays within the cap: a big owner cannot crowd out small ones, and a bad
    policy across the server still revokes at most `cap` tokens in one run. A deferred owner
    is left for the next run. Its turn always comes: were it only "fewest first", a reseller
    that re-created a few fewer stale tokens every day would be admitted before it forever;
    but nobody can create a token older than the ones already waiting, so each run clears
    the owner holding the oldest one."""
    by_owner = {}
    for token in tokens:
        by_owner.setdefault(token.holder, []).append(token)  # bob and bob@cpanel: two holders
    order = sorted(by_owner, key=lambda owner: (owner != "root", len(by_owner[owner]), owner))
    # Among the owners that can be admitted at all: one over the cap is refused anyway.
    waited_longest = min((owner for owner in order
                          if owner != "root" and len(by_owner[owner]) <= cap),
                         key=lambda owner: (min(t.create_time for t in by_owner[owner]),
                                            len(by_owner[owner]), owner),
                         default=None)
    if waited_longest is not None:
        order.remove(waited_longest)
        order.insert(1 if "root" in by_owner else 0, waited_longest)
    admitted, refused, deferred, total = [], {}, {}, 0
    for owner in order:
        count = len(by_owner[owner])
        if count > cap:
            refused[owner] = count
        elif total + count > cap:
            deferred[owner] = count
        else:
            admitted.extend(by_owner[owner])
            total += count
    return CapShare(admitted, refused, deferred)


def identity_key(identity):
    """(holder, name) of an identity string "HOLDER:NAME:CREATE_TIME:DIGEST" (Token.identity),
    the holder naming the kind ("bob@cpanel"): Token.key()."""
    owner, _, rest = identity.partition(":")
    return owner, rest.split(":", 1)[0]


def confirmation_changes(confirmed, plan):
    """What differs between the tokens a person confirmed (identity strings) and the
    plan made now, in sentences; empty when they are the same tokens, unchanged.

    The plan's items hold every token listed now for the owners concerned (a policy
    plan: all of them; a plan for names: the names asked for), so a confirmed token
    that is not among them is gone.
    """
    planned = {token.identity() for token in plan.to_revoke()}
    listed = {item.token.key(): item for item in plan.items if item.decision != GONE}
    changes = []
    for identity in sorted(set(confirmed) - planned):
        key = identity_key(identity)
        item = listed.get(key)
        label = "%s/%s" % key
        if item is None:
            changes.append("%s is no longer listed (revoked or removed meanwhile)" % label)
        elif identity.count(":") != 3:
            changes.append("%s: the confirmation did not say which token of that name it "
                           "meant (no creation time)" % label)
        elif item.token.identity() != identity:
            if identity.split(":")[2] != str(item.token.create_time):
                changes.append("%s was re-created under the same name (the token listed now was "
                               "created %s)" % (label, day(item.token.create_time)))
            else:
                changes.append("%s was changed (expiry, ACLs or IP limit)" % label)
        else:
            changes.append("%s is no longer selected: %s" % (label, item.reason))
    confirmed_keys = {identity_key(identity) for identity in confirmed}
    for token in plan.to_revoke():
        if token.key() not in confirmed_keys:
            changes.append("%s/%s is newly selected: %s" % (token.holder, token.name,
                                                            plan.reason_of(token)))
    return changes


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
