"""Hook rows: the fast path (an account that can own no WHM tokens) against
`python -c pass` on the same interpreter, and the whmapi1 calls of a
reseller's suspension against the floor (one list, one list right before the
revoke, ceil(k/B) revokes, one verifying list: the hook knows the owner, so no
listresellers)."""
import collections
import json
import os

from common import HOOK, NOW, PY, BenchError, Row, Samples, Scenario, ceil_div, missing, run_child

from tests.fakes.seed import seed_scale
from tokensweeper.whmapi import DEFAULT_BATCH_SIZE

RUNS = 20
WARMUP = 3
LIMIT = 2.0
RESELLER_TOKENS = 50
RESELLER_STALE = 0.1
ENFORCE_CONFIG = "mode: enforce\nparallel_owners: 4\nevents:\n  suspend: sweep\n"


def suspend_payload(user):
    """Accounts::suspendacct post, as cPanel writes it: one compact line, no newline."""
    document = {
        "context": {"category": "Whostmgr", "event": "Accounts::suspendacct", "stage": "post",
                    "point": "main"},
        "data": {"args": {"user": user, "reason": "Unpaid invoice", "disallowun": 0},
                 "result": 1, "user": "root"},
        "hook": {"category": "Whostmgr", "event": "Accounts::suspendacct", "stage": "post",
                 "hook": HOOK, "exectype": "script", "weight": 100},
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def write_resellers(scenario, names):
    directory = os.path.join(scenario.cpanel_root, "var", "cpanel")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "resellers"), "w") as handle:
        handle.write("".join("%s:all\n" % name for name in names))


def run_hook(scenario, user):
    run = run_child([PY, HOOK], env=scenario.env(), stdin_bytes=suspend_payload(user))
    run.check("tokensweeper-hook")
    if not run.stdout.startswith(b"1 ") or run.stdout.count(b"\n") != 1:
        raise BenchError("the hook printed %r" % run.stdout[:200])
    return run


def fast_path_row(workdir, log):
    scenario = Scenario(os.path.join(workdir, "fast"))
    seed_scale(scenario.server, 10, 5, 0.1, NOW)
    write_resellers(scenario, ["reseller%03d" % i for i in range(1, 10)])
    env = scenario.env()
    ours, floor = [], []
    for index in range(WARMUP + RUNS):  # interleaved, so load changes hit both alike
        hook = run_hook(scenario, "shopnorth")
        bare = run_child([PY, "-c", "pass"], env=env).check("python -c pass")
        if index >= WARMUP:
            ours.append(hook.seconds)
            floor.append(bare.seconds)
    calls = len(scenario.calls())
    if calls:
        raise BenchError("the fast path made %d whmapi1 calls" % calls)
    ours, floor = Samples(ours), Samples(floor)
    log("  hook fast path %.1f ms, python -c pass %.1f ms" % (ours.median * 1e3,
                                                              floor.median * 1e3))
    return Row("hook_fast_path", "hook fast path (account owning no tokens)", "s", ours, floor,
               "<= 2x floor", lambda row: row.ratio <= LIMIT,
               "suspendacct of an account that is not root, not a reseller, has no token "
               "file: 0 whmapi1 calls; floor = `%s -c pass`; runs interleaved" %
               os.path.basename(PY))


GUARD_CONFIG = "guard:\n  require_expiry: true\n  max_lifetime_days: 90\n"
GUARD_LIMIT = 3.0


def creation_payload(user, name):
    """UAPI Tokens::create_full_access pre, as cPanel's _uapi_std_hook writes it (no expiry:
    the guard refuses it and writes its audit record, the slower of its two answers)."""
    where = {"category": "Cpanel", "event": "UAPI::Tokens::create_full_access", "stage": "pre"}
    document = {"context": dict(where, point="main", escalateprivs=1),
                "data": {"args": {"name": name}, "result": None, "user": user},
                "hook": dict(where, hook=HOOK, exectype="script", weight=100, blocking=1,
                             escalateprivs=1)}
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def guard_row(workdir, log):
    scenario = Scenario(os.path.join(workdir, "guard"), GUARD_CONFIG)
    env = scenario.env()
    ours, floor = [], []
    for index in range(WARMUP + RUNS):  # interleaved, so load changes hit both alike
        run = run_child([PY, HOOK], env=env, stdin_bytes=creation_payload("shop", "deploy"))
        run.check("tokensweeper-hook")
        if not run.stdout.startswith(b"0 Your host requires API tokens"):
            raise BenchError("the guard printed %r" % run.stdout[:200])
        bare = run_child([PY, "-c", "pass"], env=env).check("python -c pass")
        if index >= WARMUP:
            ours.append(run.seconds)
            floor.append(bare.seconds)
    calls = len(scenario.calls())
    if calls:
        raise BenchError("the creation guard made %d whmapi1 calls" % calls)
    ours, floor = Samples(ours), Samples(floor)
    log("  creation guard %.1f ms, python -c pass %.1f ms" % (ours.median * 1e3,
                                                              floor.median * 1e3))
    return Row("hook_guard", "hook: creation guard refusing a token", "s", ours, floor,
               "<= 3x floor", lambda row: row.ratio <= GUARD_LIMIT,
               "UAPI::Tokens::create_full_access pre without expiry, guard with "
               "max_lifetime_days: refused and recorded in the audit log; the config's "
               "remembered parse (no YAML); 0 whmapi1 calls; floor = `%s -c pass`; runs "
               "interleaved" % os.path.basename(PY))


def reseller_row(workdir, log):
    scenario = Scenario(os.path.join(workdir, "reseller"), ENFORCE_CONFIG)
    owners = seed_scale(scenario.server, 3, RESELLER_TOKENS, RESELLER_STALE, NOW)
    write_resellers(scenario, owners[1:])
    owner = owners[1]
    expired = [n for n, t in scenario.server.tokens(owner).items()
               if t["expires_at"] is not None and t["expires_at"] <= NOW]
    run = run_hook(scenario, owner)
    left = scenario.server.token_names(owner)
    if left & set(expired) or len(left) != RESELLER_TOKENS - len(expired):
        raise BenchError("the hook did not revoke exactly the expired tokens: %s" %
                           run.stdout.decode("utf-8", "replace"))
    calls = collections.Counter(c["function"] for c in scenario.calls())
    floor = 1 + 1 + ceil_div(len(expired), DEFAULT_BATCH_SIZE) + 1 if expired else 1
    log("  hook reseller suspension: %d calls (floor %d)" % (sum(calls.values()), floor))
    return Row("hook_reseller_calls", "hook: whmapi1 calls, reseller suspension", "calls",
               sum(calls.values()), floor, "ratio 1.00", lambda row: row.ours == row.floor,
               "%d tokens, %d expired, mode enforce, events.suspend sweep; floor = 1 list + "
               "1 list right before the revoke + ceil(k/%d) revokes + 1 verifying list; "
               "seen: %s" % (
                   RESELLER_TOKENS, len(expired), DEFAULT_BATCH_SIZE,
                   ", ".join("%s %d" % item for item in sorted(calls.items()))))


def rows(workdir, log):
    why = missing(HOOK)
    if why:
        return [Row("hook_fast_path", "hook fast path", "s", skipped=why)], {}
    return [fast_path_row(workdir, log), guard_row(workdir, log), reseller_row(workdir, log)], {}
