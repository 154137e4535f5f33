"""Sweep rows: whmapi1 calls over the grid (wall time at 300 ms per call is in
latency_bench.py).

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

from common import CLI, NOW, PY, BenchError, Row, Samples, Scenario, ceil_div, run_child

from tests.fakes.seed import seed_scale
from tokensweeper.whmapi import DEFAULT_BATCH_SIZE, DEFAULT_MAX_ARGV_BYTES

OWNERS = (1, 10, 100)
TOKENS_PER_OWNER = (1, 50, 1000)
STALE = (0, 0.1, 1)
SWEEP = ["sweep", "--yes", "--expired", "--json"]


def owner_chain(selected, batch=DEFAULT_BATCH_SIZE):
    """Calls one owner needs, in order, after its first listing, when k > 0 tokens are
    selected: a list right before the revoke, ceil(k/B) revokes, one verifying list; none
    when nothing is selected."""
    return 1 + ceil_div(selected, batch) + 1 if selected else 0


def floor_calls(selected_per_owner, batch=DEFAULT_BATCH_SIZE):
    """The floor above; selected_per_owner holds one k per owner (zeros included)."""
    return 1 + len(selected_per_owner) + sum(owner_chain(k, batch) for k in selected_per_owner)


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


def rows(workdir, log):
    cells = grid(workdir, log)
    return [grid_row(cells)], {"sweep_grid": cells}


__all__ = ["rows", "floor_calls", "Samples"]
