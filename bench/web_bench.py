"""WHM overview rows: plugin/index.cgi run as cpsrvd runs a CGI, 5,000 tokens
over 100 owners, zero-latency fake.

Floors, each measured in the same run, interleaved with ours:
  - first visit: Python start-up, the same whmapi1 calls as the page (one
    listresellers, then one api_token_list per owner, parallel_owners = 4 at a
    time) and json.loads of their answers: what any page that must list every
    owner pays (target <= 1.15x: the page's own work on top of that);
  - reload of an unchanged server: Python start-up, reading the listing cache
    (listing-cache.json, every owner's remembered answer) and printing the page:
    what any page that remembers listings pays (target <= 3x).
"""
import collections
import os
import shutil

from common import CGI, NOW, PY, BenchError, Row, Samples, Scenario, missing, run_child

from tests.fakes.seed import seed_scale

OWNERS = 100
TOKENS_PER_OWNER = 50
STALE = 0.1
RUNS = 5
MEMORY_LIMIT_MB = 100
FIRST_LIMIT = 1.15
RELOAD_LIMIT = 3.0
TOKEN = "/cpsess0000000001"
CGI_ENV = {
    "REMOTE_USER": "root", "REQUEST_METHOD": "GET", "QUERY_STRING": "",
    "cp_security_token": TOKEN, "SCRIPT_NAME": TOKEN + "/cgi/tokensweeper/index.cgi",
    "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost",
    "SERVER_PORT": "2087", "HTTPS": "on", "REMOTE_ADDR": "127.0.0.1",
}

RELOAD_FLOOR = """
import json, sys
with open(sys.argv[1], "rb") as handle:
    json.loads(handle.read())
with open(sys.argv[2], "rb") as handle:
    sys.stdout.buffer.write(handle.read())
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


def render_once(scenario, env_extra=None):
    env = scenario.env(**CGI_ENV)
    env.update(env_extra or {})
    run = run_child([PY, CGI], env=env).check("index.cgi")
    head = run.stdout.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if b"Status: 200" not in head and b"Status:" in head:
        raise BenchError("index.cgi answered %r" % head[:200])
    return run


def forget_visits(scenario):
    """As before an admin's first visit: no remembered listing, no remembered page
    (compiled templates and the parsed config stay: any earlier page load made them)."""
    listing_cache = os.path.join(scenario.state_dir, "listing-cache.json")
    if os.path.exists(listing_cache):
        os.unlink(listing_cache)
    shutil.rmtree(os.path.join(scenario.state_dir, "page-cache"), ignore_errors=True)


def overview_scenario(directory):
    """100 owners x 50 tokens with, as on every cPanel server, a token file per owner and
    the resellers file."""
    scenario = Scenario(directory)
    owners = seed_scale(scenario.server, OWNERS, TOKENS_PER_OWNER, STALE, NOW)
    scenario.server.write_token_files(scenario.cpanel_root)
    resellers = os.path.join(scenario.cpanel_root, "var", "cpanel", "resellers")
    with open(resellers, "w") as handle:
        handle.writelines("%s:all\n" % owner for owner in owners if owner != "root")
    return scenario, owners


def rows(workdir, log):
    why = missing(CGI)
    if why:
        return [Row("web_overview", "WHM overview (5,000 tokens)", "s", skipped=why)], {}
    scenario, _ = overview_scenario(os.path.join(workdir, "overview"))
    env = scenario.env()
    del env["TOKENSWEEPER_FAKE_LOG"]  # the call log holds the page's calls only

    ours, fetch, spans = [], [], []
    calls = None
    for index in range(RUNS + 1):  # run 0 is the warm-up; ours and the floor interleaved
        scenario.reset()
        forget_visits(scenario)
        page = render_once(scenario)
        span = call_span(scenario.calls())
        if calls is None:
            calls = collections.Counter(c["function"] for c in scenario.calls())
        fetched = run_child([PY, "-c", FETCH_FLOOR, env["TOKENSWEEPER_WHMAPI1"]], env=env)
        fetched.check("first-visit floor")
        if index:
            ours.append(page)
            fetch.append(fetched)
            spans.append(span)
        log("  first visit: %.2f s (whmapi1 calls span %.2f s), %.1f MB; floor %.2f s" % (
            page.seconds, span, page.maxrss_mb, fetched.seconds))
    reloads, reload_floor, reload_calls = reload_runs(scenario, os.path.join(workdir, "page"),
                                                      log)
    return build_rows(ours, fetch, spans, calls, len(page.stdout)) + [
        Row("web_overview_reload", "WHM overview: reload, server unchanged", "s", reloads,
            reload_floor, "<= %gx floor" % RELOAD_LIMIT,
            lambda row: row.ratio <= RELOAD_LIMIT,
            "floor = Python start-up + reading listing-cache.json + printing the page; "
            "whmapi1 calls: %s" % (
                ", ".join("%s %d" % item for item in sorted(reload_calls.items())) or "none")),
    ], {"web_overview_calls": dict(calls), "web_overview_reload_calls": dict(reload_calls)}


def reload_runs(scenario, page_file, log, runs=RUNS, env_extra=None):
    """The page again and again on an unchanged server (run 0 is the warm-up and fills
    the caches), each run followed by the floor: read the listing cache, print the page."""
    listing_cache = os.path.join(scenario.state_dir, "listing-cache.json")
    times, floor, calls = [], [], None
    for index in range(runs + 1):
        scenario.reset()
        page = render_once(scenario, env_extra)
        with open(page_file, "wb") as handle:
            handle.write(page.stdout)
        bare = run_child([PY, "-c", RELOAD_FLOOR, listing_cache, page_file],
                         env=scenario.env()).check("reload floor")
        if bare.stdout != page.stdout:
            raise BenchError("the reload floor did not print the page")
        if index:
            times.append(page.seconds)
            floor.append(bare.seconds)
            calls = collections.Counter(c["function"] for c in scenario.calls())
        log("  reload: %.1f ms, %d whmapi1 calls; floor %.1f ms" % (
            page.seconds * 1e3, len(scenario.calls()), bare.seconds * 1e3))
    return Samples(times), Samples(floor), calls


def call_span(calls):
    """Seconds from the first whmapi1 call's start to the last one's end (as the fake logs them)."""
    return max(c["start"] + c["duration"] for c in calls) - min(c["start"] for c in calls)


def build_rows(ours, fetch, spans, calls, page_bytes):
    times = Samples(r.seconds for r in ours)
    outside = Samples(r.seconds - span for r, span in zip(ours, spans))
    memory = Samples(r.maxrss_mb for r in ours)
    size = "%d tokens over %d owners, page %d KB" % (
        OWNERS * TOKENS_PER_OWNER, OWNERS, page_bytes // 1024)
    floor_calls = 1 + OWNERS
    per_token = sum(n for f, n in calls.items() if f not in ("listresellers", "api_token_list"))
    return [
        Row("web_overview_first", "WHM overview: first visit", "s", times,
            Samples(r.seconds for r in fetch), "<= %gx floor" % FIRST_LIMIT,
            lambda row: row.ratio <= FIRST_LIMIT,
            "%s; floor = Python start-up + the same %d whmapi1 calls, 4 at a time, + json.loads "
            "of their answers; the page spends %.2f s (median; %.2f-%.2f) outside the span of "
            "its whmapi1 calls" % (size, floor_calls, outside.median, outside.low, outside.high)),
        Row("web_overview_memory", "WHM overview: peak memory", "MB", memory,
            Samples(r.maxrss_mb for r in fetch), "<= 100 MB",
            lambda row: row.ours.median <= MEMORY_LIMIT_MB,
            "ru_maxrss of the CGI (or the largest whmapi1 child it waited for); "
            "floor = the first-visit floor's ru_maxrss"),
        Row("web_overview_calls", "WHM overview: whmapi1 calls", "calls", sum(calls.values()),
            floor_calls, "ratio 1.00, no per-token call",
            lambda row: row.ours == row.floor and not per_token,
            "floor = 1 listresellers + 1 api_token_list per owner; seen: %s" % ", ".join(
                "%s %d" % item for item in sorted(calls.items()))),
    ]
