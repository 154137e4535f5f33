"""Issue 28: quarantine at cPanel-like cost, and the back-test's memory on a big log.

Quarantine: 100 owners (root and 99 resellers) x 5 selected tokens, every whmapi1 process
taking 300 ms (the fake's `latency` fault). `api_token_update` takes one token per call; a
`batch` process run as the owner carries up to B = whmapi.DEFAULT_UAPI_BATCH of them. The
floor, in whmapi1 processes, for O owners with k selected tokens each:

    1 + O            finding the owners (listresellers) and listing each (nobody can plan
                     unlisted)
  + O x (1 + ceil(k/B) + 1)   per owner: a list right before (a token re-created meanwhile is
                     another token), the batched updates, the verifying list (the answer
                     proves nothing)

run from latency_bench's minimal driver, 4 chains at a time. Back-test: peak RSS of
`tokensweeper backtest` on a 200 MB api_tokens_log against the same command on a 2 MB log:
memory must not grow with the log.
"""
import collections
import json
import os

from common import CLI, NOW, PY, BenchError, Row, Samples, Scenario, ceil_div, run_child
from latency_bench import FLOOR, LATENCY, as_owner, listing_phases

from tokensweeper.whmapi import DEFAULT_UAPI_BATCH as B
from tokensweeper.whmapi import _update_command

OWNERS = 100
TOKENS = 5
RUNS = 2
LIMIT = 1.2
DAY = 86400
QUARANTINE = ["quarantine", "--older-than", "365", "--yes", "--json"]
BIG_MB = 200
SMALL_MB = 2
MEMORY_RATIO = 1.2  # flat, as the usage read's own row


def seeded(directory):
    scenario = Scenario(directory, "parallel_owners: 4\n")
    server = scenario.server
    owners = ["root"] + ["res%02d" % i for i in range(1, OWNERS)]
    with server.batch():
        for owner in owners[1:]:
            server.add_reseller(owner)
        for owner in owners:
            for i in range(TOKENS):
                server.add_token(owner, "ci-%d" % i, NOW - 400 * DAY,
                                 whitelist_ips=["10.0.%d.0/24" % i] if i % 2 else None)
    return scenario, owners


def floor_phases(owners):
    chains = []
    for owner in owners:
        names = ["ci-%d" % i for i in range(TOKENS)]
        listing = [as_owner(owner, ["api_token_list"])]
        updates = [as_owner(owner, ["batch"] + [
            "command-%d=%s" % (i, _update_command(n, ["192.0.2.1"]))
            for i, n in enumerate(names[start:start + B])] + ["abort_on_error=0"])
            for start in range(0, len(names), B)]
        chains.append(listing + updates + listing)
    return listing_phases(owners) + [chains]


def floor_seconds(scenario, phases):
    env = scenario.env()
    path = os.path.join(scenario.directory, "floor-phases.json")
    with open(path, "w") as handle:
        json.dump(phases, handle)
    driver = FLOOR.replace("json.loads(sys.argv[2])", "json.load(open(sys.argv[2]))")
    return run_child([PY, "-c", driver, env["TOKENSWEEPER_WHMAPI1"], path],
                     env=env).check("whmapi1 floor").seconds


def quarantined(scenario, owners):
    return sum(1 for owner in owners for token in scenario.server.tokens(owner).values()
               if token.get("whitelist_ips") == ["192.0.2.1"])


def quarantine_rows(workdir, log):
    times, floors, seen = [], [], {}
    for index in range(RUNS):
        scenario, owners = seeded(os.path.join(workdir, "q-%d" % index))
        scenario.server.add_fault("latency", seconds=LATENCY)
        run = run_child([PY, CLI] + QUARANTINE, env=scenario.env()).check(
            "tokensweeper quarantine")
        if quarantined(scenario, owners) != OWNERS * TOKENS:
            raise BenchError("the quarantine left tokens unquarantined")
        seen["calls"] = collections.Counter(c["function"] for c in scenario.calls())
        times.append(run.seconds)
        twin, _ = seeded(os.path.join(workdir, "floor-%d" % index))
        twin.server.add_fault("latency", seconds=LATENCY)
        floors.append(floor_seconds(twin, floor_phases(owners)))
        if quarantined(twin, owners) != OWNERS * TOKENS:
            raise BenchError("the floor left tokens unquarantined")
        log("  quarantine at 300 ms per call: %.2f s, %s; floor %.2f s" % (
            run.seconds, dict(seen["calls"]), floors[-1]))
    ours_calls = sum(seen["calls"].values())
    floor_calls = 1 + OWNERS + OWNERS * (2 + ceil_div(TOKENS, B))
    return [
        Row("quarantine", "300 ms/call: quarantine of 100 owners x 5 tokens", "s",
            Samples(times), Samples(floors), "<= %gx floor" % LIMIT,
            lambda row: row.ratio <= LIMIT,
            "%d tokens; the floor runs the same processes from a bare driver on a twin of "
            "the server" % (OWNERS * TOKENS)),
        Row("quarantine_calls", "quarantine of 100 owners x 5 tokens: whmapi1 processes",
            "calls", ours_calls, floor_calls, "ratio 1.00",
            lambda row: ours_calls == floor_calls,
            "1 + O listings + O x (list before, ceil(k/B) = %d batch of updates, verify), "
            "B = %d; by function: %s" % (ceil_div(TOKENS, B), B, dict(seen["calls"]))),
    ]


def write_log(path, megabytes):
    """An api_tokens_log of about `megabytes`, 2,000 tokens used over 400 days."""
    line = ("[%s] info [whostmgrd] Host: ['10.0.%d.%d'] HTTP Status: ['200'], User: ['%s'], "
            "Token Name: ['tok-%d'], Request: ['GET /json-api/listaccts?api.version=1 "
            "HTTP/1.1']\n")
    import time
    target = megabytes * 1024 * 1024
    written, index = 0, 0
    with open(path, "w") as handle:
        start = NOW - 400 * DAY
        step = max(1, (400 * DAY) // (target // 190))
        chunk = []
        while written < target:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000",
                                  time.gmtime(start + index * step))
            text = line % (stamp, index % 256, index % 200, "root" if index % 3 else "res01",
                           index % 2000)
            chunk.append(text)
            written += len(text)
            index += 1
            if len(chunk) >= 10000:
                handle.write("".join(chunk))
                chunk = []
        handle.write("".join(chunk))


def backtest_rows(workdir, log):
    peaks, seconds = {}, {}
    for megabytes in (SMALL_MB, BIG_MB):
        scenario = Scenario(os.path.join(workdir, "bt-%d" % megabytes),
                            "policy:\n  expired: false\n  unused_for_days: 30\n")
        with scenario.server.batch():
            scenario.server.add_reseller("res01")
            for i in range(20):
                scenario.server.add_token("root" if i % 3 else "res01", "tok-%d" % i,
                                          NOW - 500 * DAY)
        logs = os.path.join(scenario.cpanel_root, "usr", "local", "cpanel", "logs")
        os.makedirs(logs)
        write_log(os.path.join(logs, "api_tokens_log"), megabytes)
        run = run_child([PY, CLI, "backtest", "--as-of", "90d", "--json"],
                        env=scenario.env()).check("tokensweeper backtest")
        peaks[megabytes], seconds[megabytes] = run.maxrss_mb, run.seconds
        log("  backtest on %d MB: %.2f s, %.1f MB peak" % (megabytes, run.seconds,
                                                          run.maxrss_mb))
    return [Row("backtest_memory", "backtest on a 200 MB api_tokens_log: peak memory", "MB",
                peaks[BIG_MB], peaks[SMALL_MB], "flat (<= %gx the 2 MB log's)" % MEMORY_RATIO,
                lambda row: row.ratio <= MEMORY_RATIO,
                "streamed line by line; the floor is the same command on a 2 MB log; "
                "%.1f s on 200 MB, %.1f s on 2 MB" % (seconds[BIG_MB], seconds[SMALL_MB]))]


def rows(workdir, log):
    return quarantine_rows(workdir, log) + backtest_rows(workdir, log), {}
