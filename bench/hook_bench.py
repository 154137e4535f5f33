"""Hook rows: the fast path (an account that can own no WHM tokens) against
`python -c pass` on the same interpreter, the whmapi1 calls of a
reseller's suspension against the floor (one list, one list right before the
revoke, ceil(k/B) revokes, one verifying list: the hook knows the owner, so no
listresellers), and a reseller suspension storm (issue 31): 100 accounts, 30 with
cPanel tokens, every whmapi1 process 300 ms: what each event adds at hook return,
the whmapi1 processes of the queue's worker against the batched sweep of the same
accounts, and how long after its event an account's tokens are gone."""
import collections
import fcntl
import json
import os
import random
import time

from common import HOOK, NOW, PY, BenchError, Row, Samples, Scenario, ceil_div, missing, run_child

from tests.fakes.seed import seed_scale
from tokensweeper.hookqueue import QUIET_SECONDS as QUIET
from tokensweeper.hookqueue import SETTLE_BOUND as BOUND
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
    return measure_guard(
        os.path.join(workdir, "guard"), GUARD_CONFIG, log, "hook_guard",
        "hook: creation guard refusing a token",
        "UAPI::Tokens::create_full_access pre without expiry, guard with "
        "max_lifetime_days: refused and recorded in the audit log; the config's "
        "remembered parse (no YAML); 0 whmapi1 calls; floor = `%s -c pass`; runs "
        "interleaved" % os.path.basename(PY))


GLOBS = 500


def many_globs_config():
    """guard: with GLOBS exempt_names (literal prefixes, a few leading wildcards) and a big
    policy around it: an admin's long allow-list."""
    rng = random.Random(29)
    globs = ["%s-*" % "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))
             for _ in range(GLOBS - 20)] + ["*-svc%02d-[0-9]?" % i for i in range(20)]
    names = ["keep-%04d-*" % i for i in range(1000)]
    return ("mode: preview\nprotect:\n  names: [%s]\nguard:\n  require_expiry: true\n"
            "  max_lifetime_days: 90\n  exempt_names: [%s]\n"
            % (", ".join(names), ", ".join('"%s"' % glob for glob in globs)))


def guard_globs_row(workdir, log):
    return measure_guard(
        os.path.join(workdir, "guard-globs"), many_globs_config(), log, "hook_guard_globs",
        "hook: creation guard, %d exempt_names globs" % GLOBS,
        "as hook_guard, with %d exempt_names (20 starting with a wildcard) and 1000 "
        "protect.names in the config: a glob's literal prefix rules it out before any "
        "compiling (before: every glob compiled per request, ~23 ms)" % GLOBS)


def measure_guard(directory, config, log, key, what, note):
    scenario = Scenario(directory, config)
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
    log("  %s %.1f ms, python -c pass %.1f ms" % (key, ours.median * 1e3, floor.median * 1e3))
    return Row(key, what, "s", ours, floor, "<= 3x floor",
               lambda row: row.ratio <= GUARD_LIMIT, note)


def reseller_row(workdir, log):
    scenario = Scenario(os.path.join(workdir, "reseller"), ENFORCE_CONFIG)
    owners = seed_scale(scenario.server, 3, RESELLER_TOKENS, RESELLER_STALE, NOW)
    write_resellers(scenario, owners[1:])
    owner = owners[1]
    expired = [n for n, t in scenario.server.tokens(owner).items()
               if t["expires_at"] is not None and t["expires_at"] <= NOW]
    run = run_hook(scenario, owner)
    wait_for_worker(scenario)  # the hook queued the event; its worker revokes
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


STORM_ACCOUNTS = 100
STORM_HOLDERS = 30
STORM_MAX_TOKENS = 20
STORM_STALE = 0.3
STORM_LATENCY = 0.3
STORM_CONFIG = ("mode: enforce\nkinds: [whm, cpanel]\nparallel_owners: 4\n"
                "events:\n  suspend: sweep\n")


def seed_storm(scenario):
    """Reseller `big` owning 100 accounts; 30 hold 1-20 cPanel tokens, 30% expired.
    Returns {account: names of its expired tokens}."""
    rng = random.Random(31)
    server = scenario.server
    accounts = ["shop%03d" % i for i in range(STORM_ACCOUNTS)]
    holders = accounts[::STORM_ACCOUNTS // STORM_HOLDERS][:STORM_HOLDERS]
    due = {}
    with server.batch():
        server.add_reseller("big")
        for account in accounts:
            server.add_account(account, owner="big")
        for account in holders:
            due[account] = set()
            for number in range(rng.randint(1, STORM_MAX_TOKENS)):
                name = "app-%02d" % number
                stale = rng.random() < STORM_STALE
                server.add_cpanel_token(account, name, NOW - (number + 2) * 86400,
                                        expires_at=NOW - 86400 if stale else None)
                if stale:
                    due[account].add(name)
    server.write_token_files(scenario.cpanel_root)
    write_resellers(scenario, ["big"])
    return accounts, due


def wait_for_worker(scenario):
    try:
        fd = os.open(os.path.join(scenario.state_dir, "hook-worker.lock"), os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def storm_rows(workdir, log):
    scenario = Scenario(os.path.join(workdir, "storm"), STORM_CONFIG)
    accounts, due = seed_storm(scenario)
    scenario.server.add_fault("latency", seconds=STORM_LATENCY)
    env = scenario.env()  # the worker's default quiet period: the storm as it would come
    run_child([PY, os.path.join(os.path.dirname(HOOK), "..", "bin", "tokensweeper"),
               "check-config"], env=env)  # the config cache, as on a server that ran before
    with_tokens, without, fired = [], [], {}
    for account in accounts:
        fired[account] = time.time()
        run = run_child([PY, HOOK], env=env, stdin_bytes=suspend_payload(account))
        run.check("tokensweeper-hook")
        (with_tokens if account in due else without).append(run.seconds)
    storm_end = time.time()
    wait_for_worker(scenario)
    calls = scenario.calls()
    left = {a: scenario.server.cpanel_token_names(a) & due[a] for a in due}
    if any(left.values()) or os.listdir(os.path.join(scenario.state_dir, "hook-queue")):
        raise BenchError("the storm's worker left due tokens or queued events: %s" % {
            a: sorted(n) for a, n in left.items() if n})
    outcomes = 0
    with open(os.path.join(scenario.state_dir, "audit.log")) as handle:
        for line in handle:
            record = json.loads(line)
            outcomes += record["event"] in ("outcome", "preview", "refused")
    if outcomes != len(due):
        raise BenchError("%d outcome records for %d token-holding events" % (outcomes, len(due)))
    holders = len(due)
    with_due = sum(1 for names in due.values() if names)
    tokens_due = sum(len(names) for names in due.values())
    floor = (ceil_div(holders, 100) + ceil_div(with_due, 100) + ceil_div(tokens_due, 100)
             + ceil_div(with_due, 100))
    done = max(c["start"] + c["duration"] for c in calls)
    worst = done - min(fired[a] for a in due)
    last = done - max(fired[a] for a in due)
    ours, fast = Samples(with_tokens), Samples(without)
    length = storm_end - min(fired.values())
    rounds = 1 + int(length // BOUND)
    log("  hook storm: %.0f ms per token-holding event, %.0f ms fast path; %d whmapi1 "
        "processes (floor %d); tokens gone %.1f s after the first event, %.1f s after the "
        "last (storm %.1f s)" % (ours.median * 1e3, fast.median * 1e3, len(calls), floor,
                                 worst, last, storm_end - min(fired.values())))
    setting = ("reseller suspension of %d accounts, %d with 1-%d cPanel tokens (%d due, "
               "expired), whmapi1 %d ms per process, events.suspend sweep"
               % (STORM_ACCOUNTS, holders, STORM_MAX_TOKENS, tokens_due,
                  STORM_LATENCY * 1000))
    return [
        Row("hook_storm_return", "hook storm: time per token-holding event at hook return",
            "s", ours, fast, "< 1 whmapi1 process (%d ms)" % (STORM_LATENCY * 1000),
            lambda row: _median(row.ours) < STORM_LATENCY,
            "%s; floor = the same storm's events of accounts without tokens (fast path); "
            "handling each event in the hook took 4 processes (1.2 s) per event" % setting),
        Row("hook_storm_calls", "hook storm: whmapi1 processes of the queue's worker",
            "calls", len(calls), floor,
            "ratio 1.00 (storm <= %g s); else <= floor per %g s of storm" % (BOUND, BOUND),
            lambda row: row.ours <= row.floor * rounds and (rounds > 1 or row.ours == row.floor),
            "%s; floor = the batched sweep of the same accounts: ceil(30/100) listing + "
            "ceil(%d/100) listing right before the revoke + ceil(%d/100) revokes + "
            "ceil(%d/100) verifying listing; handling each event alone: %d; this storm lasted "
            "%.1f s: at most %d round(s) of the worker (a round starts %g s after the first "
            "event it sees at the latest)"
            % (setting, with_due, tokens_due, with_due, holders + 3 * with_due, length, rounds,
               BOUND)),
        Row("hook_storm_promptness", "hook storm: due tokens gone after the first event",
            "s", worst, storm_end - min(fired.values()), "<= storm + 15 s",
            lambda row: row.ours <= row.floor + 15,
            "%s; floor = the storm's own length (hooks back to back); last event to its "
            "tokens gone: %.1f s; the worker waits for %g s without a new event (at most "
            "%g s) before a round" % (setting, last, QUIET, BOUND)),
    ]


def _median(value):
    return value.median if isinstance(value, Samples) else value


def rows(workdir, log):
    why = missing(HOOK)
    if why:
        return [Row("hook_fast_path", "hook fast path", "s", skipped=why)], {}
    return [fast_path_row(workdir, log), guard_row(workdir, log), guard_globs_row(workdir, log),
            reseller_row(workdir, log)] + storm_rows(workdir, log), {}
