"""What the overview shows about each token, and how rows filter and sort.

Nothing here decides what is stale: that is the policy engine's Plan. This
module only turns a Plan's decisions and a token's facts into the state an
admin sees, and orders rows for display.
"""

from tokensweeper.policy import EXPIRING_SOON_DAYS, NOT_LOGGED, state_of
from tokensweeper.tokens import DAY, KINDS

from .tokenvalue import key_value

# Kind key -> what the page calls it.
KIND_LABELS = {"whm": "WHM", "cpanel": "cPanel"}
KIND_KEYS = KINDS

# State key -> (label, icon, explanation). The icon and label carry the
# meaning; colour only repeats it.
STATES = (
    ("stale", "Stale by policy", "warning",
     "not expired, but old or unused: the configured policy would revoke it"),
    ("expired", "Expired", "expired", "past its expiry date; cPanel keeps it listed"),
    ("expiring", "Expiring soon", "clock", "expires within {} days".format(EXPIRING_SOON_DAYS)),
    ("active", "Active", "check", "valid and not stale by policy"),
    ("protected", "Protected", "lock", "never revoked: cPanel, vendor or configured name"),
    ("quarantined", "Quarantined", "stop",
     "its IP list set to 192.0.2.1 by tokensweeper: every use is refused until restored"),
)
STATE_KEYS = tuple(key for key, _, _, _ in STATES)
STATE_LABELS = {key: label for key, label, _, _ in STATES}
STATE_ICONS = {key: icon for key, _, icon, _ in STATES}

SORT_KEYS = ("owner", "kind", "name", "created", "expires", "age", "last_used", "full_access",
             "ip_limit", "state")

AGE_BUCKETS = (
    ("under 30 days", 0, 30),
    ("30–90 days", 30, 90),
    ("90–180 days", 90, 180),
    ("180 days–1 year", 180, 365),
    ("1–2 years", 365, 730),
    ("over 2 years", 730, None),
)


class Row(object):
    """One token as the overview shows it."""

    # 5,000 of these per overview: slots make them cheaper to build.
    __slots__ = ("token", "owner", "name", "kind", "state", "reason", "last_used",
                 "last_used_at", "age_days", "expires_in", "created_by")

    def __init__(self, token, state, reason, last_used, last_used_at, now):
        self.token = token
        self.owner = token.owner
        self.name = token.name
        self.kind = token.kind
        self.state = state
        self.reason = reason
        self.last_used = last_used
        self.last_used_at = last_used_at
        self.age_days = token.age_days(now)
        self.expires_in = token.expires_in_days(now)
        self.created_by = None  # add_creators: only for the rows a page shows

    @property
    def key(self):
        """What a checkbox sends: "HOLDER:NAME", the holder naming the kind (bob@cpanel),
        the name spelt for a form (tokenvalue)."""
        return key_value(self.token.holder, self.name)

    @property
    def kind_label(self):
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def account_owner(self):
        return self.token.account_owner

    @property
    def state_label(self):
        return STATE_LABELS[self.state]

    @property
    def state_icon(self):
        return STATE_ICONS[self.state]

    @property
    def selectable(self):
        # Protected tokens are never revoked, so they cannot be chosen.
        return self.state != "protected"


class UsageSummary(object):
    """The usage evidence as the overview's template sees it: every public fact of a
    UsageFacts (oldest, newest, ...) without its per-token map, which the rows already
    carry. Hashing 5,000 tokens' uses into the page cache's key on every reload would
    cost more than the rest of the key; a method call here fails loudly instead."""

    def __init__(self, usage):
        for name, value in vars(usage).items():
            if not name.startswith("_"):
                setattr(self, name, value)


def last_use(usage, token):
    """The token's last use in the evidence, or None; never for a kind the log does not show
    (a cPanel token must not borrow the use of a WHM token of the same owner and name)."""
    return usage.last_use(token) if token.usage_logged else None


def describe_use(usage, token, now):
    return usage.describe(token, now) if token.usage_logged else NOT_LOGGED


def rows_from_plan(plan, usage, protection, now, quarantine_days=0):
    rows = []
    append, described_of = rows.append, plan.last_used_of
    held = quarantined([item.token for item in plan.items], quarantine_days)
    for item in plan.items:
        token = item.token
        state, reason = state_of(item, protection, now)
        entry = held.get(token.key()) if held else None
        if entry is not None:
            state, reason = "quarantined", quarantine_words(entry, quarantine_days)
        use = last_use(usage, token)
        append(Row(token, state, reason, described_of(token) or describe_use(usage, token, now),
                   use.last_used if use else None, now))
    return rows


def quarantined(tokens, days=0):
    """{token key: quarantine.Held} of the tokens in quarantine (quarantine.held_among)."""
    from tokensweeper import quarantine

    return quarantine.held_among(tokens, days)


def quarantine_words(entry, days):
    from tokensweeper.policy import day

    words = "since %s; its own IP list: %s" % (day(entry.since), entry.describe_originals())
    if days:
        words += "; revoked on %s if still selected" % day(entry.revoke_day(days))
    return words


def add_creators(rows):
    """Who created each row's token, by cPanel's accounting.log (read once; None: unknown)."""
    if not rows:
        return rows
    from .. import accounting

    creations = accounting.read()
    for row in rows:
        row.created_by = accounting.creator(row.token, creations)
    return rows


def count_states(rows):
    counts = dict.fromkeys(STATE_KEYS, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


def filter_rows(rows, state="", owner="", text="", kind="", reseller=""):
    """reseller: only the tokens of the cPanel accounts it owns (the CLI's --reseller)."""
    text = text.strip().lower()
    return [row for row in rows
            if (not state or row.state == state)
            and (not owner or row.owner == owner)
            and (not kind or row.kind == kind)
            and (not reseller or (row.kind != "whm" and row.account_owner == reseller))
            and (not text or text in row.name.lower())]


_STATE_RANK = {key: index for index, key in enumerate(STATE_KEYS)}


def _sort_value(row, column):
    # Unknown or "never" values sort after every known one, whatever the direction.
    if column == "state":  # the default order: first, and without a list search
        return (0, _STATE_RANK[row.state])
    if column == "owner":
        return (0, row.owner.lower(), row.name.lower())
    if column == "name":
        return (0, row.name.lower(), row.owner.lower())
    if column == "kind":
        return (0, row.kind, row.owner.lower(), row.name.lower())
    if column in ("created", "age"):
        return (0, row.token.create_time)
    if column == "expires":
        return (0, row.token.expires_at) if row.token.expires_at is not None else (1, 0)
    if column == "last_used":
        return (0, row.last_used_at) if row.last_used_at is not None else (1, 0)
    if column == "full_access":
        return (0, not row.token.full_access)
    if column == "ip_limit":
        return (0, row.token.ip_limited)
    return (0, STATE_KEYS.index(row.state))


def sort_rows(rows, column, descending=False):
    valued = [(_sort_value(r, column), r.owner, r.name, r.kind, r) for r in rows]  # once each
    known = [v for v in valued if v[0][0] == 0]
    unknown = [v[4] for v in valued if v[0][0] != 0]
    # (owner, name, kind) is unique, so the last element (a Row) is never compared.
    ordered = [v[4] for v in sorted(known, key=lambda v: v[:4], reverse=descending)]
    # "age" ascending means youngest first: the newest creation time first.
    if column == "age":
        ordered.reverse()
    return ordered + sorted(unknown, key=lambda r: (r.owner, r.name, r.kind))


class Bar(object):
    def __init__(self, label, total, stale, y, width, stale_width):
        self.label = label
        self.total = total
        self.stale = stale
        self.y = y
        self.width = width
        self.stale_width = stale_width


def age_chart(rows, width=360, bar_height=22, gap=8):
    """Bars of tokens by age; the part that is expired or stale is drawn darker."""
    bars, biggest = [], 1
    counted = []
    for label, low, high in AGE_BUCKETS:
        inside = [r for r in rows if r.age_days >= low and (high is None or r.age_days < high)]
        stale = sum(1 for r in inside if r.state in ("stale", "expired"))
        counted.append((label, len(inside), stale))
        biggest = max(biggest, len(inside))
    for index, (label, total, stale) in enumerate(counted):
        bars.append(Bar(label, total, stale, index * (bar_height + gap),
                        int(round(width * total / float(biggest))),
                        int(round(width * stale / float(biggest)))))
    return bars


# -- one run of the audit log, as the result page shows it ------------------------------------

RUN_ACTIONS = ("revoked", "already-gone", "failed", "unverified", "kept-protected",
               "would-revoke", "refused", "deferred", "notice-period")


class RunOutcome(object):
    __slots__ = ("owner", "name", "action", "reason", "last_used", "kind")

    def __init__(self, owner, name, action, reason, last_used, kind="whm"):
        self.owner = owner
        self.name = name
        self.action = action
        self.reason = reason
        self.last_used = last_used
        self.kind = kind

    @property
    def kind_label(self):
        return KIND_LABELS.get(self.kind, self.kind)


class RunView(object):
    """What one run did, read back from the audit log (the page's result is a GET of this,
    so it can be reloaded and bookmarked), or from a Result the log could not take."""

    def __init__(self, run_id, actor, event, started, outcomes, owner_errors, refused,
                 interrupted=False, audit_error=None):
        self.run_id = run_id
        self.actor = actor
        self.event = event
        self.started = started
        self.outcomes = outcomes
        self.owner_errors = owner_errors
        self.refused = refused
        self.interrupted = interrupted
        self.audit_error = audit_error

    @classmethod
    def from_audit(cls, run):
        from tokensweeper import audit

        final = run.final
        # Records written before kinds existed are WHM tokens.
        outcomes = [RunOutcome(str(t.get("owner", "")), str(t.get("name", "")),
                               audit.action_of(t) if "action" in t else "",
                               str(t.get("reason") or ""),
                               t.get("last_used"), str(t.get("kind") or "whm"))
                    for t in run.tokens() if isinstance(t, dict)]
        errors = final.get("owner_errors")
        return cls(run.run_id, str(final.get("actor", "")), str(final.get("event", "")),
                   _epoch(run.records[0].get("epoch")), outcomes,
                   errors if isinstance(errors, dict) else {}, final.get("refused"),
                   interrupted=run.interrupted)

    @classmethod
    def from_result(cls, result):
        outcomes = [RunOutcome(o.token.owner, o.token.name, o.action, o.reason,
                               result.last_used.get(o.token.key()), o.token.kind)
                    for o in result.outcomes]
        return cls(result.run_id, result.actor, "outcome", result.started, outcomes,
                   result.owner_errors, result.refused, audit_error=result.audit_error)

    def counts(self):
        counts = dict.fromkeys(RUN_ACTIONS, 0)
        for outcome in self.outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        return counts

    @property
    def ok(self):
        counts = self.counts()
        return not (counts["failed"] or counts["unverified"] or self.owner_errors
                    or self.refused or self.audit_error or self.interrupted)


def _epoch(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- the preview: what the admin needs to decide, for every token --------------------------

# A token used this recently is most likely still in use: revoking it breaks something.
RECENT_USE_DAYS = 7


class PreviewRow(object):
    """One token of a preview: why it is in it, and its facts as the overview shows them."""

    __slots__ = ("token", "reason", "state", "state_reason", "last_used", "recent", "notice")

    def __init__(self, token, reason, state, state_reason, last_used, recent, notice=""):
        self.token = token
        self.reason = reason
        self.state = state
        self.state_reason = state_reason
        self.last_used = last_used
        self.recent = recent
        # Where unattended runs stand with it (notify.notice_days): "notice sent on D,
        # revocation due on D'", or "would send a notice now; ..."; "" when notices are off.
        self.notice = notice

    @property
    def state_label(self):
        return STATE_LABELS[self.state]

    @property
    def state_icon(self):
        return STATE_ICONS[self.state]

    @property
    def still_works(self):
        return self.state not in ("expired",)

    @property
    def kind_label(self):
        return KIND_LABELS.get(self.token.kind, self.token.kind)


def preview_rows(items, states, usage, now, notices=None):
    """PreviewRows for plan items; states: (owner, name) -> (state, reason) in the configured
    policy; notices: (owner, name) -> policy.NoticeState (plan.notices). The tokens whose
    revocation someone will feel come first: used in the last RECENT_USE_DAYS days, then
    still working (not expired), then with full access."""
    rows = []
    for item in items:
        token = item.token
        state, state_reason = states.get(token.key(), ("active", ""))
        use = last_use(usage, token)
        recent = use is not None and use.last_used >= now - RECENT_USE_DAYS * DAY
        notice = (notices or {}).get(token.key())
        rows.append(PreviewRow(token, item.reason, state, state_reason,
                               describe_use(usage, token, now), recent,
                               notice.describe() if notice is not None else ""))
    return sorted(rows, key=lambda r: (not r.recent, not r.still_works, not r.token.full_access,
                                       r.token.owner, r.token.name))


def policy_states(plan, protection, now):
    """(owner, name) -> (state, reason) of every token of a plan made by the configured
    policy: the states the overview shows."""
    return {item.token.key(): state_of(item, protection, now) for item in plan.items}


def policy_headline(plan, selectors, now):
    """(count, [(n, words)...]): what the configured policy would revoke, split the way the
    cards split it: expired tokens, and the others (old or unused). The one count the
    overview, its cards and the policy sweep's preview agree on."""
    revoke = [item.token for item in plan.items if item.decision == "revoke"]
    expired = sum(1 for token in revoke if token.is_expired(now))
    kinds = [words for words, on in (("old", selectors.older_than_days is not None),
                                     ("unused", selectors.unused_for_days is not None)) if on]
    parts = [(expired, "expired"), (len(revoke) - expired, " or ".join(kinds) or "other")]
    return len(revoke), [(n, words) for n, words in parts if n]
