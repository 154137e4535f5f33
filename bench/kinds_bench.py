"""Issue 15: cPanel accounts' own tokens at cPanel-like cost. A server of 2,000 cPanel
accounts of which 300 have 1-20 tokens each (some expired), every whmapi1 process taking
300 ms (the fake's `latency` fault), the config acting on cPanel tokens only so that every
call counted is the cPanel source's.

The floor, in whmapi1 processes, with B = whmapi.DEFAULT_UAPI_BATCH UAPI calls per `batch`
process, A accounts with a token file holding tokens, A_k of them with k > 0 selected
tokens, K selected tokens in all:

    ceil(A / B)      listing (Tokens::list per account; nobody can plan unlisted)
  + ceil(A_k / B)    listing right before revoking (a token removed meanwhile is
                     already-gone, not revoked by us)
  + ceil(K / B)      Tokens::revoke, one UAPI call per name
  + ceil(A_k / B)    listing again (the revoke's answer proves nothing)

and an overview costs ceil(A / B). Wall-time floors run those same processes from a
minimal driver, 4 at a time (parallel_owners), phase after phase. Memory: the peak RSS of
the command and of the page, against a 100 MB budget.
"""
import collections
import json
import os
from urllib.parse import quote

from common import (
    CGI,
    CLI,
    NOW,
    PY,
    BenchError,
    Row,
    Samples,
    Scenario,
    ceil_div,
    repeat,
    run_child,
)
from latency_bench import FLOOR, LATENCY
from web_bench import CGI_ENV, forget_visits

from tests.fakes.seed import seed_cpanel_scale
from tokensweeper.whmapi import DEFAULT_UAPI_BATCH as B
from tokensweeper.whmapi import UapiCall

ACCOUNTS = 2000
WITH_TOKENS = 300
MAX_TOKENS = 20
STALE = 0.3
RUNS = 2
LIMIT = 1.2
# The first visit's floor is one wave of 3 processes: a ratio would mostly measure the
# page's fixed start-up. Its own work on top of the calls must stay under this.
PAGE_WORK = 0.5
MEMORY_MB = 100
CONFIG = "kinds: [cpanel]\nparallel_owners: 4\n"
SWEEP = ["sweep", "--yes", "--expired", "--json"]


def scenario_of(directory):
    scenario = Scenario(directory, CONFIG)
    counts = seed_cpanel_scale(scenario.server, ACCOUNTS, WITH_TOKENS, MAX_TOKENS, STALE, NOW)
    scenario.server.write_token_files(scenario.cpanel_root)
    return scenario, counts


def expired_by_account(scenario, accounts):
    state = scenario.server.state().get("cpanel_tokens", {})
    return {account: sorted(name for name, t in state.get(account, {}).items()
                            if t["expires_at"] is not None and t["expires_at"] <= NOW)
            for account in accounts}


def batches(calls):
    """argv lists (without the binary) of `batch` processes of B calls each."""
    out = []
    for start in range(0, len(calls), B):
        chunk = calls[start:start + B]
        out.append(["batch"] + ["command-%d=%s" % (i, quote(c.command(), safe=""))
                                for i, c in enumerate(chunk)] + ["abort_on_error=0"])
    return out


def phase(argvs):
    return [[argv] for argv in argvs]


def list_phase(accounts):
    return phase(batches([UapiCall(a, "Tokens", "list") for a in sorted(accounts)]))


# latency_bench's driver, its phases read from a file (a sweep's revoke commands are more
# than one argument may hold).
FLOOR_FROM_FILE = FLOOR.replace("json.loads(sys.argv[2])", "json.load(open(sys.argv[2]))")
assert FLOOR_FROM_FILE != FLOOR


def floor_seconds(scenario, phases):
    env = scenario.env()
    path = os.path.join(scenario.directory, "floor-phases.json")
    with open(path, "w") as handle:
        json.dump(phases, handle)
    return run_child([PY, "-c", FLOOR_FROM_FILE, env["TOKENSWEEPER_WHMAPI1"], path],
                     env=env).check("whmapi1 floor").seconds


def calls_of(scenario):
    return collections.Counter(c["function"] for c in scenario.calls())


def overview_rows(workdir, log):
    scenario, counts = scenario_of(os.path.join(workdir, "overview"))
    accounts = sorted(counts)
    phases = [list_phase(accounts)]
    seen, floors, memory = {}, [], []

    def measure():
        forget_visits(scenario)
        scenario.reset()
        run = run_child([PY, CGI], env=scenario.env(**CGI_ENV)).check("index.cgi")
        if b"wp-" not in run.stdout and b"api-" not in run.stdout:
            raise BenchError("the overview lists no cPanel token")
        seen["calls"] = calls_of(scenario)
        memory.append(run.maxrss_mb)
        floors.append(floor_seconds(scenario, phases))
        log("  cPanel overview at 300 ms per call: %.2f s, %s; floor %.2f s" % (
            run.seconds, dict(seen["calls"]), floors[-1]))
        return run.seconds

    measure()  # warm-up without latency: imports, compiled templates
    del floors[:]
    scenario.server.add_fault("latency", seconds=LATENCY)
    samples = repeat(measure, RUNS, warmup=0)
    floor_calls = ceil_div(len(accounts), B)
    ours_calls = sum(seen["calls"].values())
    return [
        Row("kinds_overview_first", "300 ms/call: cPanel tokens overview, first visit", "s",
            samples, Samples(floors), "<= floor + %g s" % PAGE_WORK,
            lambda row: row.ours.median - row.floor.median <= PAGE_WORK,
            "%d accounts, %d with %d tokens; whmapi1 processes: %d (floor %d = ceil(%d/%d)), "
            "all in one wave, so the floor is ~0.5 s and the page's own work (Python start-up, "
            "planning, rendering 250 rows) is what is left: %.0f ms" % (
                ACCOUNTS, len(accounts), sum(counts.values()), ours_calls, floor_calls,
                len(accounts), B, (samples.median - Samples(floors).median) * 1000)),
        Row("kinds_overview_calls", "cPanel tokens overview: whmapi1 processes", "calls",
            ours_calls, floor_calls, "ratio 1.00", lambda row: ours_calls == floor_calls,
            "one batch process per %d accounts with tokens; the 1,700 without a token file "
            "cost nothing" % B),
        Row("kinds_overview_memory", "cPanel tokens overview: peak memory", "MB",
            max(memory), MEMORY_MB, "< %d MB" % MEMORY_MB, lambda row: max(memory) < MEMORY_MB,
            "index.cgi's peak RSS (ru_maxrss) listing %d tokens" % sum(counts.values())),
    ]


def sweep_rows(workdir, log):
    times, floors, memory, seen = [], [], [], {}
    for index in range(RUNS):
        scenario, counts = scenario_of(os.path.join(workdir, "sweep-%d" % index))
        accounts = sorted(counts)
        selected = expired_by_account(scenario, accounts)
        with_k = [a for a in accounts if selected[a]]
        revokes = [UapiCall(a, "Tokens", "revoke", [("name", n)])
                   for a in with_k for n in selected[a]]
        phases = [list_phase(accounts), list_phase(with_k), phase(batches(revokes)),
                  list_phase(with_k)]
        scenario.server.add_fault("latency", seconds=LATENCY)
        run = run_child([PY, CLI] + SWEEP, env=scenario.env()).check(
            "tokensweeper sweep (cPanel tokens)", ok_statuses=(0,))
        left = expired_by_account(scenario, accounts)
        if any(left.values()):
            raise BenchError("the sweep left expired cPanel tokens: %r" % {
                a: n for a, n in left.items() if n})
        seen["calls"] = calls_of(scenario)
        seen["floor"] = (ceil_div(len(accounts), B) + 2 * ceil_div(len(with_k), B)
                         + ceil_div(len(revokes), B))
        seen["k"], seen["a_k"] = len(revokes), len(with_k)
        memory.append(run.maxrss_mb)
        times.append(run.seconds)
        # The floor revokes the same tokens: on a twin of the server as it was before.
        twin, _ = scenario_of(os.path.join(workdir, "floor-%d" % index))
        twin.server.add_fault("latency", seconds=LATENCY)
        floors.append(floor_seconds(twin, phases))
        if any(expired_by_account(twin, accounts).values()):
            raise BenchError("the floor left expired cPanel tokens")
        log("  cPanel sweep at 300 ms per call: %.2f s, %s; floor %.2f s" % (
            run.seconds, dict(seen["calls"]), floors[-1]))
    ours_calls = sum(seen["calls"].values())
    return [
        Row("kinds_sweep", "300 ms/call: cPanel tokens sweep (--expired)", "s", Samples(times),
            Samples(floors), "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
            "%d tokens revoked in %d accounts; the floor runs the same processes from a bare "
            "driver on a twin of the server (the same tokens to revoke)" % (
                seen["k"], seen["a_k"])),
        Row("kinds_sweep_calls", "cPanel tokens sweep: whmapi1 processes", "calls",
            ours_calls, seen["floor"], "ratio 1.00", lambda row: ours_calls == seen["floor"],
            "list ceil(A/B) + list before ceil(A_k/B) + revoke ceil(K/B) + verify ceil(A_k/B),"
            " B = %d; by function: %s" % (B, dict(seen["calls"]))),
        Row("kinds_sweep_memory", "cPanel tokens sweep: peak memory", "MB", max(memory),
            MEMORY_MB, "< %d MB" % MEMORY_MB, lambda row: max(memory) < MEMORY_MB,
            "the command's peak RSS (ru_maxrss)"),
    ]


def rows(workdir, log):
    return overview_rows(workdir, log) + sweep_rows(workdir, log), {}
