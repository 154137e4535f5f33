"""Sweep rows: whmapi1 calls over the grid, and wall time with emulated latency.

The floor of a sweep, in whmapi1 calls, for owners o with k_o selected tokens:

    1 listresellers                  (who owns WHM tokens)
  + 1 api_token_list per owner       (nobody can know what to revoke unlisted)
  + 1 api_token_list per owner with k_o > 0, right before its revoke
                                     (a token someone else removed meanwhile is
                                      already-gone, not revoked by us: issue 11.5)
  + ceil(k_o / B) api_token_revoke   per owner with k_o > 0 (B = batch size)
  + 1 api_token_list per owner with k_o > 0
                                     (whmapi1 answers OK for names it did not
                                      remove: only a second listing proves it)

An owner with nothing selected needs neither extra list, so a sweep that
selects nothing costs 1 + owners calls.
"""
import collections
import os

from common import CLI, NOW, PY, BenchError, Row, Samples, Scenario, ceil_div, repeat, run_child

from tests.fakes.seed import seed_scale
from tokensweeper.whmapi import DEFAULT_BATCH_SIZE, DEFAULT_MAX_ARGV_BYTES

OWNERS = (1, 10, 100)
TOKENS_PER_OWNER = (1, 50, 1000)
STALE = (0, 0.1, 1)
LATENCY = 0.3
LATENCY_OWNERS = 50
LATENCY_TOKENS = 50
LATENCY_STALE = 0.1
LATENCY_RUNS = 3
SWEEP = ["sweep", "--yes", "--expired", "--json"]


def floor_calls(selected_per_owner, batch=DEFAULT_BATCH_SIZE):
    """The floor above; selected_per_owner holds one k per owner (zeros included)."""
    calls = 1 + len(selected_per_owner)
    for k in selected_per_owner:
        if k:
            calls += 1 + ceil_div(k, batch) + 1
    return calls


def seeded(directory, owners, per_owner, stale, config_text="parallel_owners: 4\n"):
    """A scenario seeded by seed_scale, and the expired (= selected) count per
    owner read back from the fake's own state, not from the plugin."""
    scenario = Scenario(directory, config_text)
    names = seed_scale(scenario.server, owners, per_owner, stale, NOW)
    selected = []
    for owner in names:
        tokens = scenario.server.tokens(owner).values()
        selected.append(sum(1 for t in tokens if t["expires_at"] is not None
                            and t["expires_at"] <= NOW))
    return scenario, names, selected


def check_swept(scenario, names, per_owner, selected):
    """The sweep must have done its job, or its call count proves nothing."""
    for owner, k in zip(names, selected):
        left = len(scenario.server.tokens(owner))
        if left != per_owner - k:
            raise BenchError("%s kept %d tokens, expected %d" % (owner, left, per_owner - k))


def grid_cell(directory, owners, per_owner, stale):
    scenario, names, selected = seeded(directory, owners, per_owner, stale)
    run = run_child([PY, CLI] + SWEEP, env=scenario.env())
    run.check("tokensweeper sweep (%d owners x %d tokens, stale %s)" % (owners, per_owner, stale))
    check_swept(scenario, names, per_owner, selected)
    counts = collections.Counter(c["function"] for c in scenario.calls())
    return {
        "owners": owners, "tokens_per_owner": per_owner, "stale_fraction": stale,
        "selected": sum(selected), "calls": sum(counts.values()), "by_function": dict(counts),
        "floor": floor_calls(selected), "seconds": round(run.seconds, 3),
    }


def grid(workdir, log):
    cells = []
    for owners in OWNERS:
        for per_owner in TOKENS_PER_OWNER:
            for stale in STALE:
                name = "grid-%d-%d-%s" % (owners, per_owner, stale)
                cell = grid_cell(os.path.join(workdir, name), owners, per_owner, stale)
                log("  grid %3d owners x %4d tokens, stale %-3s: %4d calls, floor %4d (%.1f s)" % (
                    owners, per_owner, stale, cell["calls"], cell["floor"], cell["seconds"]))
                cells.append(cell)
    return cells


def grid_row(cells):
    ours = sum(c["calls"] for c in cells)
    floor = sum(c["floor"] for c in cells)
    off = [c for c in cells if c["calls"] != c["floor"]]
    worst = max(cells, key=lambda c: c["calls"] / float(c["floor"]))
    note = ("%d cells; every cell at its floor" % len(cells) if not off else
            "%d of %d cells above the floor; worst %d owners x %d tokens, stale %s: %d vs %d" % (
                len(off), len(cells), worst["owners"], worst["tokens_per_owner"],
                worst["stale_fraction"], worst["calls"], worst["floor"]))
    note += "; B = %d names per revoke call (argv limit %d KB never binds here)" % (
        DEFAULT_BATCH_SIZE, DEFAULT_MAX_ARGV_BYTES // 1024)
    slowest = max(cells, key=lambda c: c["seconds"])
    note += ("; slowest cell %d owners x %d tokens, stale %s: %.1f s (%d fake whmapi1 processes, "
             "and the CLI plans, audits twice and prints --json for %d tokens)" % (
                 slowest["owners"], slowest["tokens_per_owner"], slowest["stale_fraction"],
                 slowest["seconds"], slowest["calls"],
                 slowest["owners"] * slowest["tokens_per_owner"]))
    return Row("sweep_calls_grid", "sweep: whmapi1 calls, grid total", "calls", ours, floor,
               "ratio 1.00 in every cell", lambda row: not off, note)


def latency_run(directory, latency):
    scenario, names, selected = seeded(directory, LATENCY_OWNERS, LATENCY_TOKENS, LATENCY_STALE)
    if latency:
        scenario.server.add_fault("latency", seconds=latency)
    run = run_child([PY, CLI] + SWEEP, env=scenario.env()).check("tokensweeper sweep (latency)")
    check_swept(scenario, names, LATENCY_TOKENS, selected)
    return run.seconds, len(scenario.calls()), floor_calls(selected)


def latency_row(workdir, log):
    """Warm-up at zero latency (the same files, imports and page cache), then
    LATENCY_RUNS runs at LATENCY seconds per call; each run gets a fresh server."""
    counter = iter(range(100))
    seen = {}

    def measure(latency=LATENCY):
        seconds, calls, floor = latency_run(
            os.path.join(workdir, "latency-%d" % next(counter)), latency)
        seen.update(calls=calls, floor=floor)
        log("  latency run: %.2f s, %d calls" % (seconds, calls))
        return seconds

    measure(0)
    samples = repeat(measure, LATENCY_RUNS, warmup=0)
    floor_seconds = seen["floor"] * LATENCY
    note = ("%d owners x %d tokens, stale %s, parallel_owners 4 (config); %d calls (floor %d); "
            "sequential floor = %d calls x %d ms" % (
                LATENCY_OWNERS, LATENCY_TOKENS, LATENCY_STALE, seen["calls"], seen["floor"],
                seen["floor"], LATENCY * 1000))
    return Row("sweep_latency_wall", "sweep: wall time, 300 ms per whmapi1 call", "s",
               samples, floor_seconds, "ratio <= 0.35", lambda row: row.ratio <= 0.35, note)


def rows(workdir, log):
    cells = grid(workdir, log)
    return [grid_row(cells), latency_row(workdir, log)], {"sweep_grid": cells}


__all__ = ["rows", "floor_calls", "Samples"]
