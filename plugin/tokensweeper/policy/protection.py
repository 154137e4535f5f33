"""Which tokens are never revoked, and by which rule: cPanel's own name shapes, connected
applications and the admin's globs."""

import re
from fnmatch import translate

from ..tokens import CPANEL, DAY, WHM

# Where a protection rule comes from. Only the admin's own config shields a token from
# an event that says its account must lose its tokens (revoke_all on suspension or removal):
# built-in name shapes and connected-application files can be written by that account.
BUILTIN, CONFIGURED, CONNECTED = "built-in", "config", "connected application"
# A token whose listed expiry is no time (tokens._expiry): no policy can judge it, so none
# revokes it, whatever protect.builtin says; an account event (revoke_all) still does, as
# that judges no expiry.
DAMAGED = "damaged listing"
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
    CONNECTED. child_account: the rule also needs the token's cPanel account to be a linked
    node's child account (Protection.child_workloads)."""

    def __init__(self, label, description, source, matches, child_account=False):
        self.label = label
        self.description = description
        self.source = source
        self.matches = matches  # (token, reseller_acls) -> bool
        self.child_account = child_account

    def describe(self):
        return self.description


def _builtin(label, why, matches, child_account=False):
    return Rule(label, "%s (built-in rule %s)" % (why, label), BUILTIN, matches, child_account)


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
    # cPanel makes these only for an account it distributes to a linked node, whose users
    # file then names CHILD_WORKLOADS (cpusers.py): any other account's is its own.
    _builtin("MailNodeLinkage", "linked mail node token",
             _full(_exact("MailNodeLinkage")), child_account=True),
    _builtin("MailNodeLinkage-<creation time>", "linked mail node token",
             _full(_mail_node_stamp), child_account=True),
)

# The protection table: each kind's built-in rules. WHM shapes never protect a cPanel
# account's token, nor cPanel's shapes a WHM token.
BUILTIN_RULES_BY_KIND = {WHM: BUILTIN_RULES, CPANEL: CPANEL_RULES}
class Protection(object):
    """Which tokens policy never revokes, and by which rule.

    builtin: cPanel's own shapes (BUILTIN_RULES); names: the config's protect.names globs;
    connected: {owner: {token_name: app}} from the Connected Applications files;
    unreadable: {owner: why} for owners whose Connected Applications file cannot be read:
    which of their tokens an application uses is unknown, so all of them are kept;
    reseller_acls: {reseller: [acl, ...]} from the resellers file, None when unknown;
    problems: warnings from reading those files, for every report that uses this;
    child_workloads: account -> True | False | None, whether cPanel's users file of the
    account names child workloads (cpusers.child_workloads; None: cannot tell), asked only
    about an account with a MailNodeLinkage-shaped token, once; None (not given): every
    account may be a child account, as when the file cannot be read.
    """

    def __init__(self, builtin=True, names=(), connected=None, reseller_acls=None, problems=(),
                 unreadable=None, account_event=False, child_workloads=None):
        self.builtin = builtin
        self.child_workloads = child_workloads
        self._children = {}
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
                          self.problems, self.unreadable, account_event=True,
                          child_workloads=self.child_workloads)

    def rule_for(self, token):
        """The rule that protects this token: a shielding one first, else any that matches
        (a system-looking name on an account event), else None."""
        if token.expiry_damaged is not None and not self.account_event:
            return _damaged_expiry(token)
        if not self._may_match(token):
            return None  # most tokens: one cheap look instead of every rule
        matching = None
        for rule in self._rules(token):
            if rule.matches(token, self.reseller_acls) and self._account_fits(rule, token):
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

    def _account_fits(self, rule, token):
        """A child-account rule holds unless cPanel's users file says the account is none
        (False); a file that cannot be read keeps the protection."""
        if not rule.child_account or self.child_workloads is None:
            return True
        if token.owner not in self._children:
            self._children[token.owner] = self.child_workloads(token.owner)
        return self._children[token.owner] is not False

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


def _damaged_expiry(token):
    return Rule("damaged expiry", "cPanel lists its expiry as %s, which is no time: no "
                "policy judges it (check it in WHM's Manage API Tokens)"
                % token.expiry_damaged, DAMAGED, _always)


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
