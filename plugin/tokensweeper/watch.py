"""The new-token watch: WHM tokens created since the previous scheduled run that break the
config's guard: rules.

cPanel runs no hook for WHM's `api_token_create` (and transfers, restores and
`convert_accesshash_to_token` bypass the API altogether), so WHM tokens cannot be
stopped at birth like cPanel accounts' (guard.py); the scheduled run reports them
instead, from the listing it makes anyway: in its output (cron mails root) and as one
audit record the page's Audit tab shows. It revokes nothing.

A token breaks the rules when it has no expiry (require_expiry or max_lifetime_days), an
expiry more than max_lifetime_days after its creation, full access, or (a reseller's
token) no IP limit. Protected tokens (built-in shapes, protect.names, connected
applications) and guard.exempt_names are left out.

The previous run's time is kept in the state dir (`watch-state.json`); the first run
looks back FIRST_LOOK_BACK seconds.
"""

import fnmatch
import json

from . import audit, paths, statefiles
from .policy import state_of

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


def findings(plan, rules, protection, since, now):
    """[Finding] for the WHM tokens of `plan` created in (since, now]. Pure."""
    found = []
    revoking = {token.key() for token in plan.to_revoke()}
    for item in plan.items:
        token = item.token
        if token.kind != "whm" or not since < token.create_time <= now:
            continue
        if token.key() in revoking or state_of(item, protection, now)[0] == "protected":
            continue
        if any(fnmatch.fnmatchcase(token.name, glob) for glob in rules.get("exempt_names")
               or ()):
            continue
        problems = problems_of(token, rules)
        if problems:
            found.append(Finding(token, problems))
    return sorted(found, key=lambda f: (f.token.owner, f.token.name))


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


def remember(now, run_id=None, count=0):
    """Keep this run's time and what it found (UntrustedState and OSError reach the caller)."""
    found = {"run_id": run_id, "count": count, "epoch": now} if run_id and count else None
    statefiles.write_atomically(paths.state_path(STATE_NAME), json.dumps(
        {"last_run": now, "latest": found}).encode("utf-8"))


def record(found, since, now, actor, mode):
    """One audit record of the findings; returns its run id (AuditError on failure)."""
    run_id = audit.new_run_id(now)
    audit.write({
        "event": AUDIT_EVENT, "time": audit.iso(now), "epoch": now, "run_id": run_id,
        "actor": actor, "mode": mode, "selectors": {}, "owner_errors": {}, "refused": None,
        "note": "%d WHM API token%s created since %s break%s the guard's rules (nothing was "
                "revoked for it)." % (len(found), "" if len(found) == 1 else "s",
                                      audit.iso(since), "s" if len(found) == 1 else ""),
        "tokens": [dict(finding.token.to_dict(), action=ACTION,
                        reason="; ".join(finding.problems), created_by=finding.created_by)
                   for finding in found],
    })
    return run_id
