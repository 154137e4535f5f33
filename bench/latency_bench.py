"""Rows at cPanel-like whmapi1 cost: every call of the fake takes 300 ms (its
`latency` fault), as a real whmapi1 process costs hundreds of milliseconds.

Each row's floor runs the minimum whmapi1 calls, parallel_owners (4) at a time,
against the same (latency-faulted) fake, from a minimal Python driver (FLOOR
below): so the fake's own start-up per call is in the floor too, and what is
left above it is the plugin's own work. Owners are found first (1
listresellers), then listed 4 at a time; a sweep then revokes and verifies,
one owner's calls in order (for k selected tokens: a list right before the
revoke, ceil(k/B) revokes, 1 verifying list), 4 owners at a time. Each note
gives the calls' share of the time at 300 ms each, which says whether whmapi1
or the plugin dominates.
"""
import collections
import json
import os
import signal
import subprocess
import time

from common import (
    CGI,
    CLI,
    NOW,
    PY,
    BenchError,
    Row,
    Samples,
    ceil_div,
    missing,
    repeat,
    run_child,
)
from sweep_bench import SWEEP, check_swept, owner_chain, seeded
from web_bench import CGI_ENV, forget_visits, overview_scenario, reload_runs

from tokensweeper.whmapi import DEFAULT_BATCH_SIZE as BATCH

LATENCY = 0.3
PARALLEL = 4
OWNERS = 100
TOKENS_PER_OWNER = 50
STALE = 0.1
# Each page row costs ~2 x 9 s per run (ours, then the floor) and each sweep ~25 s: the
# counts keep the whole of `make bench` under 5 minutes on a quiet 2-CPU machine.
RUNS = 2
RELOAD_RUNS = 5
LIMIT = 1.15  # the plugin's own work on top of the same calls, as for the first visit
RELOAD_LIMIT = 3.0
WARM_TARGET = 1.0  # seconds: an admin's click on an unchanged server (issue 14.4)
FEEDBACK_RUNS = 5

# The floor: phases in order; in each, chains of calls (argv lists without the binary),
# 4 chains at a time, the calls of one chain in order. Prints nothing.
FLOOR = """
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
binary, phases = sys.argv[1], json.loads(sys.argv[2])
def call(argv):
    child = subprocess.Popen([binary, "--output=json"] + argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    json.loads(child.communicate()[0])
def chain(calls):
    for argv in calls:
        call(argv)
for phase in phases:
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(chain, phase))
"""


def as_owner(owner, argv):
    return ([] if owner == "root" else ["--user=" + owner]) + argv


def listing_phases(owners):
    return [[[["listresellers"]]], [[as_owner(owner, ["api_token_list"])] for owner in owners]]


def revoke_phase(selected_names):
    """owner -> names selected: per owner, a list right before its revokes, the revokes (B
    names each), then one verifying list (sweep_bench.owner_chain)."""
    phase = []
    for owner, names in sorted(selected_names.items()):
        if not names:
            continue
        listing = [as_owner(owner, ["api_token_list"])]
        revokes = [as_owner(owner, ["api_token_revoke"] + [
            "token_name-%d=%s" % (i, n) for i, n in enumerate(names[start:start + BATCH])])
            for start in range(0, len(names), BATCH)]
        phase.append(listing + revokes + listing)
    return phase


def floor_run(scenario, phases):
    env = scenario.env()
    return run_child([PY, "-c", FLOOR, env["TOKENSWEEPER_WHMAPI1"], json.dumps(phases)],
                     env=env).check("whmapi1 floor").seconds


def listing_waves(owners, parallel=PARALLEL):
    return 1 + ceil_div(owners, parallel)


def revoke_waves(selected_per_owner, parallel=PARALLEL):
    chains = [owner_chain(k) for k in selected_per_owner if k]
    if not chains:
        return 0
    return max(max(chains), ceil_div(sum(chains), parallel))


def dominates(ours, waves):
    """Which part of our time the calls' 300 ms each (on their critical path) are."""
    share = LATENCY * waves / ours.median
    if share >= 0.5:
        return "whmapi1 dominates: %d waves x 300 ms are %.0f%% of the time" % (waves, share * 100)
    return "the plugin dominates: %d waves x 300 ms are %.0f%% of the time" % (waves, share * 100)


def page_runs(scenario, env_extra, prepare, phases, log, what):
    """RUNS timed page loads, each followed by the floor's calls; a zero-latency load
    first warms files and imports."""
    floors, seen = [], {}

    def measure():
        prepare()
        scenario.reset()
        env = scenario.env(**CGI_ENV)
        env.update(env_extra)
        run = run_child([PY, CGI], env=env).check("index.cgi (%s)" % what)
        seen["calls"] = collections.Counter(c["function"] for c in scenario.calls())
        floors.append(floor_run(scenario, phases))  # its calls are logged too: counted above
        log("  %s at 300 ms per call: %.2f s, %d calls; floor %.2f s" % (
            what, run.seconds, sum(seen["calls"].values()), floors[-1]))
        return run.seconds

    scenario.server.clear_faults()
    measure()
    del floors[:]
    scenario.server.add_fault("latency", seconds=LATENCY)
    samples = repeat(measure, RUNS, warmup=0)
    return samples, Samples(floors), seen["calls"]


def overview_rows(workdir, log):
    scenario, owners = overview_scenario(os.path.join(workdir, "overview"))
    phases = listing_phases(owners)
    waves = listing_waves(len(owners))
    first, floor, calls = page_runs(scenario, {}, lambda: forget_visits(scenario), phases, log,
                                    "first visit")
    rows = [Row("latency_overview_first", "300 ms/call: WHM overview, first visit", "s",
                first, floor, "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
                "%d owners x %d tokens; calls: %s; floor = the same calls, 4 at a time; %s" % (
                    OWNERS, TOKENS_PER_OWNER, _calls(calls), dominates(first, waves)))]

    scenario.server.add_fault("latency", seconds=LATENCY)
    reloads, reload_floor, reload_calls = reload_runs(
        scenario, os.path.join(workdir, "page"), log, RELOAD_RUNS)
    rows.append(Row(
        "latency_overview_reload", "300 ms/call: WHM overview, reload (server unchanged)", "s",
        reloads, reload_floor, "<= %gx floor" % RELOAD_LIMIT,
        lambda row: row.ratio <= RELOAD_LIMIT and not reload_calls,
        "whmapi1 calls: %s, so Python dominates; floor = Python start-up + reading the listing "
        "cache + printing the page (0 calls)" % (_calls(reload_calls) or "none")))

    sweep_page = {"QUERY_STRING": "page=sweep"}
    preview, floor, calls = page_runs(scenario, sweep_page, lambda: forget_visits(scenario),
                                      phases, log, "policy preview")
    rows.append(Row("latency_policy_preview", "300 ms/call: WHM policy sweep preview, first",
                    "s", preview, floor, "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
                    "no listing cache yet: lists every owner; calls: %s; floor = the same calls, "
                    "4 at a time; %s" % (_calls(calls), dominates(preview, waves))))

    scenario.server.add_fault("latency", seconds=LATENCY)
    warm, warm_floor, warm_calls = reload_runs(
        scenario, os.path.join(workdir, "preview"), log, RELOAD_RUNS, env_extra=sweep_page)
    rows.append(Row(
        "latency_policy_preview_warm",
        "300 ms/call: WHM policy sweep preview, again (server unchanged)", "s",
        warm, warm_floor, "< %g s, no whmapi1 call" % WARM_TARGET,
        lambda row: _central_seconds(row.ours) < WARM_TARGET and not warm_calls,
        "answered from the validated listing cache (the confirmation lists afresh); whmapi1 "
        "calls: %s; floor = Python start-up + reading the listing cache + printing the page"
        % (_calls(warm_calls) or "none")))
    return rows


def feedback_row(workdir, log):
    """How soon a first visit shows something (issue 14.4): index.cgi writes the page's top
    and a status, then a progress bar per owner listed; cpsrvd sends its first body read with
    the second, so the browser sees the status once the first owner is listed. Floor: Python
    start-up + the two calls that must come first (listresellers, then one api_token_list)."""
    scenario, owners = overview_scenario(os.path.join(workdir, "feedback"))
    scenario.server.add_fault("latency", seconds=LATENCY)
    phases = [[[["listresellers"]]], [[as_owner("root", ["api_token_list"])]]]
    floors = []

    def measure():
        forget_visits(scenario)
        took = until_progress(scenario)
        floors.append(floor_run(scenario, phases))
        log("  first visit, until the status shows: %.2f s; floor %.2f s" % (took, floors[-1]))
        return took

    ours = repeat(measure, FEEDBACK_RUNS, warmup=1)
    floor = Samples(floors[1:])
    return Row("latency_first_feedback",
               "300 ms/call: WHM overview, first visit until the status shows", "s", ours, floor,
               "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
               "%d owners to list; the page's top, the tabs and \"Listing the API tokens of %d "
               "owners\" reach the browser with the first owner's progress (cpsrvd holds the "
               "first body read back until the second); floor = Python start-up + listresellers "
               "+ one api_token_list, in order" % (len(owners), len(owners)))


def until_progress(scenario):
    """Seconds from starting index.cgi until it has written the first owner's progress: what
    cpsrvd needs to send the status. The rest of the listing is not waited for."""
    env = scenario.env(**CGI_ENV)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.monotonic()
    child = subprocess.Popen([PY, CGI], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    seen = b""
    try:
        while b'value="1"' not in seen:
            chunk = os.read(child.stdout.fileno(), 65536)
            if not chunk:
                raise BenchError("index.cgi ended without showing its progress")
            seen += chunk
        return time.monotonic() - started
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # and its whmapi1 calls
        child.stdout.close()
        child.wait()


def _central_seconds(value):
    return value.median if isinstance(value, Samples) else value


def selected_names(scenario, names):
    """owner -> the names the sweep selects (the expired ones), from the fake's own state."""
    return {owner: sorted(n for n, t in scenario.server.tokens(owner).items()
                          if t["expires_at"] is not None and t["expires_at"] <= NOW)
            for owner in names}


def sweep_row(workdir, log):
    counter = iter(range(100))
    seen = {}
    floors = []

    def fresh_server(latency):
        scenario, names, selected = seeded(
            os.path.join(workdir, "sweep-%d" % next(counter)), OWNERS, TOKENS_PER_OWNER, STALE)
        if latency:
            scenario.server.add_fault("latency", seconds=latency)
        return scenario, names, selected

    def measure(latency=LATENCY):
        scenario, names, selected = fresh_server(latency)
        run = run_child([PY, CLI] + SWEEP, env=scenario.env()).check("tokensweeper sweep")
        check_swept(scenario, names, TOKENS_PER_OWNER, selected)
        seen.update(calls=collections.Counter(c["function"] for c in scenario.calls()),
                    selected=selected, owners=len(names))
        if latency and not floors:  # once: the floor revokes too, so it needs its own server
            twin, names, _ = fresh_server(latency)
            floors.append(floor_run(twin, listing_phases(names) + [
                revoke_phase(selected_names(twin, names))]))
        log("  sweep at %d ms per call: %.2f s, %d calls; floor %s" % (
            latency * 1000, run.seconds, sum(seen["calls"].values()),
            "%.2f s" % floors[-1] if floors else "-"))
        return run.seconds

    measure(0)  # warm-up: the same files and imports
    samples = repeat(measure, RUNS, warmup=0)
    waves = listing_waves(seen["owners"]) + revoke_waves(seen["selected"])
    return Row("latency_sweep", "300 ms/call: sweep of %d owners" % OWNERS, "s", samples,
               Samples(floors), "<= %gx floor" % LIMIT, lambda row: row.ratio <= LIMIT,
               "`tokensweeper %s`, %d tokens each, %d selected in all, parallel_owners 4; calls: "
               "%s; floor = the same calls (listing, then per owner a list, its revokes and "
               "a verifying list), 4 at a time; %s" % (
                   " ".join(SWEEP), TOKENS_PER_OWNER, sum(seen["selected"]),
                   _calls(seen["calls"]), dominates(samples, waves)))


def _calls(counter):
    return ", ".join("%s %d" % item for item in sorted(counter.items()))


def rows(workdir, log):
    why = missing(CGI) or missing(CLI)
    if why:
        return [Row("latency", "300 ms/call rows", "s", skipped=why)], {}
    return (overview_rows(workdir, log) + [feedback_row(workdir, log), sweep_row(workdir, log)],
            {})


__all__ = ["rows", "Samples"]
