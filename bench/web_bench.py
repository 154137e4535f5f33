"""WHM overview rows: plugin/index.cgi run as cpsrvd runs a CGI, 5,000 tokens
over 100 owners, zero-latency fake.

Floors:
  - Python start-up plus json.loads of the very api_token_list answers the
    page needs (captured once from the fake): what any Python page must pay
    just to hold the data (the floor the issue sets);
  - the same plus running those whmapi1 calls, as many at a time as the page
    (parallel_owners 4): what the page must pay when whmapi1 is a process per
    call (informational; it separates the page's own cost from whmapi1's).
"""
import collections
import os
import subprocess

from common import CGI, NOW, PY, BenchError, Row, Samples, Scenario, missing, run_child

from tests.fakes.seed import seed_scale

OWNERS = 100
TOKENS_PER_OWNER = 50
STALE = 0.1
RUNS = 5
FETCH_RUNS = 3
MEMORY_LIMIT_MB = 100
TIME_LIMIT = 3.0
TOKEN = "/cpsess0000000001"
CGI_ENV = {
    "REMOTE_USER": "root", "REQUEST_METHOD": "GET", "QUERY_STRING": "",
    "cp_security_token": TOKEN, "SCRIPT_NAME": TOKEN + "/cgi/tokensweeper/index.cgi",
    "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost",
    "SERVER_PORT": "2087", "HTTPS": "on", "REMOTE_ADDR": "127.0.0.1",
}

PARSE_FLOOR = """
import json, sys
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        json.loads(handle.read())
"""

FETCH_FLOOR = """
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
binary = sys.argv[1]
def run(argv):
    # As whmapi.Client starts whmapi1 (a new session is also the fastest way here).
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    return json.loads(child.communicate()[0])
def call(owner):
    argv = [binary, "--output=json"] + ([] if owner == "root" else ["--user=" + owner])
    return run(argv + ["api_token_list"])
owners = run([binary, "--output=json", "listresellers"])["data"]["reseller"]
with ThreadPoolExecutor(max_workers=4) as pool:
    list(pool.map(call, ["root"] + owners))
"""


def capture_lists(scenario, owners, directory):
    """Each owner's api_token_list answer, as whmapi1 prints it, in one file per owner."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    env = scenario.env()
    for owner in owners:
        argv = [env["TOKENSWEEPER_WHMAPI1"], "--output=json"]
        argv += [] if owner == "root" else ["--user=" + owner]
        path = os.path.join(directory, owner + ".json")
        with open(path, "wb") as handle:
            subprocess.check_call(argv + ["api_token_list"], env=env, stdout=handle)
        paths.append(path)
    return paths


def render_once(scenario):
    env = scenario.env(**CGI_ENV)
    run = run_child([PY, CGI], env=env).check("index.cgi")
    head = run.stdout.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if b"Status: 200" not in head and b"Status:" in head:
        raise BenchError("index.cgi answered %r" % head[:200])
    return run


def rows(workdir, log):
    why = missing(CGI)
    if why:
        return [Row("web_overview", "WHM overview (5,000 tokens)", "s", skipped=why)], {}
    scenario = Scenario(os.path.join(workdir, "overview"))
    owners = seed_scale(scenario.server, OWNERS, TOKENS_PER_OWNER, STALE, NOW)
    # As on every cPanel server: a token file per owner and the resellers file.
    scenario.server.write_token_files(scenario.cpanel_root)
    resellers = os.path.join(scenario.cpanel_root, "var", "cpanel", "resellers")
    with open(resellers, "w") as handle:
        handle.writelines("%s:all\n" % owner for owner in owners if owner != "root")
    listing_cache = os.path.join(scenario.state_dir, "listing-cache.json")
    lists = capture_lists(scenario, owners, os.path.join(workdir, "lists"))
    env = scenario.env()
    del env["TOKENSWEEPER_FAKE_LOG"]  # the call log holds the page's calls only

    ours, floor, fetch, spans = [], [], [], []
    calls = None
    for index in range(RUNS + 1):  # run 0 is the warm-up
        scenario.reset()
        if os.path.exists(listing_cache):
            os.unlink(listing_cache)  # a first visit: every owner is listed
        page = render_once(scenario)
        span = call_span(scenario.calls())
        if calls is None:
            calls = collections.Counter(c["function"] for c in scenario.calls())
        parse = run_child([PY, "-c", PARSE_FLOOR] + lists, env=env).check("parse floor")
        fetched = None
        if index <= FETCH_RUNS:  # the slow informational floor: fewer runs
            fetched = run_child([PY, "-c", FETCH_FLOOR, env["TOKENSWEEPER_WHMAPI1"]], env=env)
            fetched.check("fetch floor")
        if index:
            ours.append(page)
            floor.append(parse)
            spans.append(span)
            if fetched:
                fetch.append(fetched)
        log("  overview: %.2f s (whmapi1 calls span %.2f s), %.1f MB; parse floor %.3f s%s" % (
            page.seconds, span, page.maxrss_mb, parse.seconds,
            "; calls+parse %.2f s" % fetched.seconds if fetched else ""))
    reloads, reload_calls = reload_rows(scenario, log)
    return build_rows(ours, floor, fetch, spans, calls, len(page.stdout)) + [
        Row("web_overview_reload", "WHM overview: reload, server unchanged", "s", reloads,
            Samples(r.seconds for r in floor), "<= 3x floor",
            lambda row: row.ratio <= TIME_LIMIT,
            "listings remembered while cPanel's token files are unchanged; whmapi1 calls: %s" % (
                ", ".join("%s %d" % item for item in sorted(reload_calls.items())) or "none")),
    ], {"web_overview_calls": dict(calls), "web_overview_reload_calls": dict(reload_calls)}


def reload_rows(scenario, log):
    """The page again and again on an unchanged server (run 0 fills the listing cache)."""
    times, calls = [], None
    for index in range(RUNS + 1):
        scenario.reset()
        page = render_once(scenario)
        if index:
            times.append(page.seconds)
            calls = collections.Counter(c["function"] for c in scenario.calls())
        log("  overview reload: %.2f s, %d whmapi1 calls" % (page.seconds, len(scenario.calls())))
    return Samples(times), calls


def call_span(calls):
    """Seconds from the first whmapi1 call's start to the last one's end (as the fake logs them)."""
    return max(c["start"] + c["duration"] for c in calls) - min(c["start"] for c in calls)


def build_rows(ours, floor, fetch, spans, calls, page_bytes):
    times = Samples(r.seconds for r in ours)
    outside = Samples(r.seconds - span for r, span in zip(ours, spans))
    memory = Samples(r.maxrss_mb for r in ours)
    size = "%d tokens over %d owners, page %d KB" % (
        OWNERS * TOKENS_PER_OWNER, OWNERS, page_bytes // 1024)
    floor_calls = 1 + OWNERS
    per_token = sum(n for f, n in calls.items() if f not in ("listresellers", "api_token_list"))
    return [
        Row("web_overview_time", "WHM overview: render time", "s", times,
            Samples(r.seconds for r in floor), "<= 3x floor",
            lambda row: row.ratio <= TIME_LIMIT,
            "%s; floor = Python start-up + json.loads of the %d api_token_list answers" % (
                size, OWNERS)),
        Row("web_overview_time_io", "WHM overview: render time vs calls+parse", "s", times,
            Samples(r.seconds for r in fetch), None, None,
            "floor = Python start-up + the same %d whmapi1 calls, 4 at a time, + json.loads; "
            "the page spends %.2f s (median; %.2f-%.2f) outside the span of its whmapi1 calls" % (
                floor_calls, outside.median, outside.low, outside.high)),
        Row("web_overview_memory", "WHM overview: peak memory", "MB", memory,
            Samples(r.maxrss_mb for r in floor), "<= 100 MB",
            lambda row: row.ours.median <= MEMORY_LIMIT_MB,
            "ru_maxrss of the CGI (or the largest whmapi1 child it waited for); "
            "floor = the parse floor's ru_maxrss"),
        Row("web_overview_calls", "WHM overview: whmapi1 calls", "calls", sum(calls.values()),
            floor_calls, "ratio 1.00, no per-token call",
            lambda row: row.ours == row.floor and not per_token,
            "floor = 1 listresellers + 1 api_token_list per owner; seen: %s" % ", ".join(
                "%s %d" % item for item in sorted(calls.items()))),
    ]
