"""Rows at cPanel-like whmapi1 cost: every call of the fake takes 300 ms (its
`latency` fault), as a real whmapi1 process costs hundreds of milliseconds.

Each row's floor is the least time any implementation needs for the whmapi1
calls alone: the minimum number of calls, parallel_owners (4) at a time, each
300 ms. Owners are found first (1 listresellers), then listed in waves of 4;
a sweep then revokes and verifies per owner, one owner's calls in order:

    floor = 300 ms x (1 + ceil(owners / 4) + revoke waves)
    revoke waves = max(longest owner chain, ceil(sum of chains / 4)),
    chain of an owner with k selected tokens = ceil(k / B) revokes + 1 verifying list

What is left above the floor is the plugin's own work and the fake whmapi1's
start-up (a Python process per call here; a real one is a compiled program
that starts no faster); each row's note says which dominates.
"""
import collections
import os

from common import CGI, CLI, PY, Row, Samples, ceil_div, missing, repeat, run_child
from sweep_bench import SWEEP, check_swept, owner_chain, seeded
from web_bench import CGI_ENV, forget_visits, overview_scenario, reload_runs

LATENCY = 0.3
PARALLEL = 4
OWNERS = 100
TOKENS_PER_OWNER = 50
STALE = 0.1
RUNS = 3
RELOAD_RUNS = 5
LIMIT = 1.25  # whmapi1 dominates: the plugin may add a quarter on top of the calls
RELOAD_LIMIT = 3.0


def listing_waves(owners, parallel=PARALLEL):
    return 1 + ceil_div(owners, parallel)


def revoke_waves(selected_per_owner, parallel=PARALLEL):
    chains = [owner_chain(k) for k in selected_per_owner if k]
    if not chains:
        return 0
    return max(max(chains), ceil_div(sum(chains), parallel))


def dominates(ours, floor_seconds):
    share = floor_seconds / ours.median
    if share >= 0.5:
        return "whmapi1 dominates (%.0f%% of the time is the calls' 300 ms each)" % (share * 100)
    return "the plugin's own work dominates (the calls are %.0f%% of the time)" % (share * 100)


def page_runs(scenario, env_extra, prepare, log, what):
    """RUNS timed page loads; a zero-latency load first warms files and imports."""
    def measure():
        prepare()
        scenario.reset()
        env = scenario.env(**CGI_ENV)
        env.update(env_extra)
        run = run_child([PY, CGI], env=env).check("index.cgi (%s)" % what)
        log("  %s at 300 ms per call: %.2f s, %d calls" % (what, run.seconds,
                                                           len(scenario.calls())))
        return run.seconds

    scenario.server.clear_faults()
    measure()
    scenario.server.add_fault("latency", seconds=LATENCY)
    samples = repeat(measure, RUNS, warmup=0)
    calls = collections.Counter(c["function"] for c in scenario.calls())
    return samples, calls


def overview_rows(workdir, log):
    scenario, owners = overview_scenario(os.path.join(workdir, "overview"))
    floor = LATENCY * listing_waves(len(owners))
    first, calls = page_runs(scenario, {}, lambda: forget_visits(scenario), log, "first visit")
    rows = [Row("latency_overview_first", "300 ms/call: WHM overview, first visit", "s",
                first, floor, "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
                "%d owners x %d tokens; %s calls; floor = 300 ms x (1 + ceil(%d/4)); %s" % (
                    OWNERS, TOKENS_PER_OWNER, _calls(calls), len(owners),
                    dominates(first, floor)))]

    scenario.server.add_fault("latency", seconds=LATENCY)
    reloads, reload_floor, reload_calls = reload_runs(
        scenario, os.path.join(workdir, "page"), log, RELOAD_RUNS)
    rows.append(Row(
        "latency_overview_reload", "300 ms/call: WHM overview, reload (server unchanged)", "s",
        reloads, reload_floor, "<= %gx floor" % RELOAD_LIMIT,
        lambda row: row.ratio <= RELOAD_LIMIT and not reload_calls,
        "whmapi1 calls: %s, so Python dominates; floor = Python start-up + reading the listing "
        "cache + printing the page (0 calls)" % (_calls(reload_calls) or "none")))

    preview, calls = page_runs(scenario, {"QUERY_STRING": "page=sweep"}, lambda: None, log,
                               "policy preview")
    rows.append(Row("latency_policy_preview", "300 ms/call: WHM policy sweep preview", "s",
                    preview, floor, "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
                    "lists every owner afresh (never the listing cache); %s calls; floor = "
                    "300 ms x (1 + ceil(%d/4)); %s" % (_calls(calls), len(owners),
                                                       dominates(preview, floor))))
    return rows


def sweep_row(workdir, log):
    counter = iter(range(100))
    seen = {}

    def measure(latency=LATENCY):
        scenario, names, selected = seeded(
            os.path.join(workdir, "sweep-%d" % next(counter)), OWNERS, TOKENS_PER_OWNER, STALE)
        if latency:
            scenario.server.add_fault("latency", seconds=latency)
        run = run_child([PY, CLI] + SWEEP, env=scenario.env()).check("tokensweeper sweep")
        check_swept(scenario, names, TOKENS_PER_OWNER, selected)
        seen.update(calls=collections.Counter(c["function"] for c in scenario.calls()),
                    selected=selected, owners=len(names))
        log("  sweep at %d ms per call: %.2f s, %d calls" % (
            latency * 1000, run.seconds, sum(seen["calls"].values())))
        return run.seconds

    measure(0)  # warm-up: the same files, imports and page cache
    samples = repeat(measure, RUNS, warmup=0)
    waves = listing_waves(seen["owners"]) + revoke_waves(seen["selected"])
    floor = LATENCY * waves
    return Row("latency_sweep", "300 ms/call: sweep of %d owners" % OWNERS, "s", samples, floor,
               "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
               "`tokensweeper %s`, %d tokens each, %d selected in all, parallel_owners 4; %s "
               "calls; floor = 300 ms x %d waves (1 + ceil(%d/4) listing, %d revoke+verify); %s" % (
                   " ".join(SWEEP), TOKENS_PER_OWNER, sum(seen["selected"]),
                   _calls(seen["calls"]), waves, seen["owners"],
                   revoke_waves(seen["selected"]), dominates(samples, floor)))


def _calls(counter):
    return ", ".join("%s %d" % item for item in sorted(counter.items()))


def rows(workdir, log):
    why = missing(CGI) or missing(CLI)
    if why:
        return [Row("latency", "300 ms/call rows", "s", skipped=why)], {}
    return overview_rows(workdir, log) + [sweep_row(workdir, log)], {}


__all__ = ["rows", "Samples"]
