"""The new-token watch: WHM tokens created since the previous scheduled run that break the
config's guard: rules.

cPanel runs no hook for WHM's `api_token_create` (and transfers, restores and
`convert_accesshash_to_token` bypass the API altogether), so WHM tokens cannot be
stopped at birth like cPanel accounts' (guard.py); the scheduled run reports them
instead, from the listing it makes anyway: in its output (cron mails root) and as one
audit record the page's Audit tab shows. It revokes nothing.

A token breaks the rules when it has no expiry (require_expiry or max_lifetime_days), an
expiry more than max_lifetime_days after its creation, full access, or (a reseller's
token) no IP limit. guard.exempt_names are left out, and protected tokens that are root's
or covered by protect.names (or a damaged listing); a reseller's other protections (a
built-in shape, its own Connected Applications file) are its own doing and hide nothing.

The previous run's time is kept in the state dir (`watch-state.json`); the first run
looks back FIRST_LOOK_BACK seconds.
"""

import json

from . import audit, paths, statefiles
from .guard import exempt_names
from .policy import CONFIGURED, state_of
from .policy.protection import DAMAGED

STATE_NAME = "watch-state.json"
AUDIT_EVENT = "new-token-watch"
ACTION = "watched"
FIRST_LOOK_BACK = 86400
DAY = 86400


class Finding(object):
    __slots__ = ("token", "problems", "created_by")

    def __init__(self, token, problems, created_by=None):
        self.token = token
        self.problems = problems
        self.created_by = created_by


def problems_of(token, rules):
    """What about this WHM token breaks the guard's rules (a list of phrases). Pure."""
    found = []
    days = rules.get("max_lifetime_days")
    if token.expires_at is None:
        if days or rules.get("require_expiry"):
            found.append("no expiry")
    elif days and (token.expires_at - token.create_time) // DAY > days:
        found.append("expires %d days after its creation (the limit is %d)"
                     % ((token.expires_at - token.create_time) // DAY, days))
    if token.full_access:
        found.append(token.access_words)
    if token.owner != "root" and not token.ip_limited:
        found.append("no IP limit (a reseller's token)")
    return found


def findings(plan, rules, protection, since, now, revoked=frozenset(), unchecked=None):
    """[Finding] for the WHM tokens of `plan` created in [since, now) (an owner of
    `unchecked` {owner: since}, whose listing failed before, from its own since). Pure.

    Half-open: a token made in the second `now` after the listing is this run's to miss, so
    the next run (since = this now) judges the whole second, and nothing twice. Tokens in
    `revoked` (keys of tokens this run revoked) are gone; anything else the policy selected
    but did not revoke (preview, the cap, notices) is still reported."""
    found = []
    exempt = exempt_names(rules)
    unchecked = unchecked or {}
    for item in plan.items:
        token = item.token
        start = min(since, unchecked.get(token.owner, since))
        if token.kind != "whm" or not start <= token.create_time < now:
            continue
        if token.key() in revoked or _left_out(item, protection, now):
            continue
        if token.name in exempt:
            continue
        problems = problems_of(token, rules)
        if problems:
            found.append(Finding(token, problems))
    return sorted(found, key=lambda f: (f.token.owner, f.token.name))


def _left_out(item, protection, now):
    """Whether a protected token stays out of the report: root's (only root and cPanel make
    them), or protected by the admin's protect.names or a damaged listing. A reseller's
    other protections are its own doing (a name in a built-in shape, its own Connected
    Applications file, even one made unreadable): no fact cPanel gives, so no way out."""
    if state_of(item, protection, now)[0] != "protected":
        return False
    if item.token.owner == "root":
        return True
    rule = protection.rule_for(item.token)
    return rule is not None and rule.source in (CONFIGURED, DAMAGED)


def not_checked(plan):
    """{owner: why} for the WHM owners whose listing failed in this plan."""
    return {holder: str(why) for holder, why in plan.owner_errors.items() if "@" not in holder}


def carried(previous, failed, since):
    """{owner: since} the next run must look back to for the owners not checked now: an
    owner already waiting keeps its earlier since."""
    return {owner: min(since, previous.get(owner, since)) for owner in failed}


def _state():
    """(the state, None) or ({}, why it cannot be used): a missing file is the first run."""
    path = paths.state_path(STATE_NAME)
    try:
        data = json.loads(statefiles.read_bytes(path, 4096).decode("utf-8"))
    except FileNotFoundError:
        return {}, None
    except statefiles.UntrustedState as error:
        return {}, str(error)
    except (OSError, ValueError) as error:
        return {}, "%s cannot be read (%s)" % (path, error)
    if not isinstance(data, dict):
        return {}, "%s is damaged (not a JSON object)" % path
    return data, None


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _epoch(value):
    """Whole seconds from 1970 to year 9999: anything else (a string, null, a float, a
    number no clock can show) is damage, and would crash whatever shows it."""
    return _whole(value) and 0 <= value <= audit.MAX_EPOCH


def previous_run(now):
    """(since, problem): the previous watch's time and None, or now - FIRST_LOOK_BACK and
    why the state cannot say (None on the first run). A damaged or untrusted file must not
    replay the whole history, nor hide what came since: it is as no previous run."""
    state, problem = _state()
    if not state and problem is None:
        return now - FIRST_LOOK_BACK, None  # the first run
    value = state.get("last_run")
    if problem is None and _epoch(value) and value <= now:
        return value, None
    if problem is None:
        problem = "%s holds no usable last_run (%s)" % (paths.state_path(STATE_NAME),
                                                         json.dumps(value)[:40])
    return now - FIRST_LOOK_BACK, (
        "%s; treated as no previous run: this run looks back one day" % problem)


def unchecked(now):
    """{owner: since} of the WHM owners whose listing failed in earlier runs (state file)."""
    found = _state()[0].get("unchecked")
    if not isinstance(found, dict):
        return {}
    return {owner: since for owner, since in found.items()
            if isinstance(owner, str) and _epoch(since) and since <= now}


def latest():
    """What the latest watch found, for the overview: {"run_id", "count", "epoch"}, or None
    when it found nothing (or nothing is known)."""
    found = _state()[0].get("latest")
    if not isinstance(found, dict) or not _whole(found.get("count")) or found["count"] < 1:
        return None
    if not _epoch(found.get("epoch")) or not isinstance(found.get("run_id"), str) \
            or not audit_run_id(found["run_id"]):
        return None
    return {"run_id": found["run_id"], "count": found["count"], "epoch": found["epoch"]}


def audit_run_id(text):
    import re

    return bool(re.match(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\Z", text))


def remember(now, run_id=None, count=0, waiting=None):
    """Keep this run's time, what it found and the owners still to check from their own
    since (`waiting`: {owner: since}). UntrustedState and OSError reach the caller."""
    found = {"run_id": run_id, "count": count, "epoch": now} if run_id and count else None
    statefiles.write_atomically(paths.state_path(STATE_NAME), json.dumps(
        {"last_run": now, "latest": found, "unchecked": waiting or {}}).encode("utf-8"))


def record(found, since, now, actor, mode, failed=None):
    """One audit record of the findings (`failed`: {owner: why} not checked); returns its
    run id (AuditError on failure)."""
    run_id = audit.new_run_id(now)
    audit.write({
        "event": AUDIT_EVENT, "time": audit.iso(now), "epoch": now, "run_id": run_id,
        "actor": actor, "mode": mode, "selectors": {}, "owner_errors": dict(failed or {}),
        "refused": None,
        "note": "%d WHM API token%s created since %s break%s the guard's rules (nothing was "
                "revoked for it)." % (len(found), "" if len(found) == 1 else "s",
                                      audit.iso(since), "s" if len(found) == 1 else "")
                + ("" if not failed else " Not checked (their listing failed; the next run "
                   "checks them): %s." % ", ".join(sorted(failed))),
        "tokens": [dict(finding.token.to_dict(), action=ACTION,
                        reason="; ".join(finding.problems), created_by=finding.created_by)
                   for finding in found],
    })
    return run_id
