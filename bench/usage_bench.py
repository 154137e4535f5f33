"""Usage-log rows: reading a generated api_tokens_log with usage.load_usage
in a fresh process, against `wc -l` on the same file.

  cold:   no usage cache, and the log evicted from the page cache
          (posix_fadvise DONTNEED) before each run, ours and wc -l alike;
  warm:   no usage cache, the log in the page cache (the parser's own speed);
  cached: the usage cache is fresh and the log unchanged (a page reload).
Memory: peak RSS reading the big log against reading a 10 MB one (flat is
the claim: the reader streams in fixed-size blocks).
"""
import os
import shutil
import time

from common import PLUGIN, PY, BenchError, Row, Samples, run_child

BIG_MB = 200
SMALL_MB = 10
RUNS = 3
CACHED_RUNS = 5
MEMORY_SLACK = 1.2
USERS = ["root"] + ["reseller%03d" % i for i in range(1, 21)]
NAMES = ["%s-%03d" % (kind, i) for kind in ("billing", "deploy", "monitor") for i in range(20)]
REQUESTS = ("GET /json-api/listaccts?api.version=1 HTTP/1.1",
            "POST /json-api/createacct HTTP/1.1",
            "GET /json-api/suspendacct?user=shop HTTP/1.1")
START = 1790000000 - 120 * 86400

LOAD = """
import sys
sys.path.insert(0, sys.argv[1])
from tokensweeper.usage import load_usage
facts = load_usage(sys.argv[2], sys.argv[3])
print(facts.lines, facts.malformed, len(facts), facts.bytes_read)
"""


def log_path(root):
    return os.path.join(root, "usr", "local", "cpanel", "logs", "api_tokens_log")


def generate(root, megabytes):
    """A deterministic log of about `megabytes` MB in cPanel's format; returns its line count."""
    path = log_path(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    want, written, index = megabytes * 1024 * 1024, 0, 0
    with open(path, "w") as handle:
        while written < want:
            chunk = []
            for _ in range(10000):
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + index * 9))
                # Both shapes cPanel writes: a quarter of the lines without Host:.
                host = "" if index % 4 == 0 else "Host: ['10.%d.%d.%d'] " % (
                    index % 3, index % 7, index % 250)
                chunk.append(
                    "[%s -0000] info [whostmgrd] %sHTTP Status: ['200'], "
                    "User: ['%s'], Token Name: ['%s'], Request: ['%s']\n" % (
                        stamp, host, USERS[index % len(USERS)],
                        NAMES[index % len(NAMES)], REQUESTS[index % len(REQUESTS)]))
                index += 1
            text = "".join(chunk)
            handle.write(text)
            written += len(text)
        handle.flush()
        os.fsync(handle.fileno())
    return index


def evict(path):
    """Drop the file from the page cache (it is clean: generate() synced it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Reader(object):
    def __init__(self, workdir, root, lines):
        self.workdir = workdir
        self.root = root
        self.lines = lines
        self.states = 0

    def fresh_state(self):
        self.states += 1
        path = "%s-state-%d" % (self.root, self.states)
        os.makedirs(path)
        return path

    def load(self, state_dir, cold=False):
        if cold:
            evict(log_path(self.root))
        run = run_child([PY, "-c", LOAD, PLUGIN, self.root, state_dir]).check("load_usage")
        lines, malformed = [int(v) for v in run.stdout.split()[:2]]
        if (lines, malformed) != (self.lines, 0):
            raise BenchError("load_usage read %d lines (%d malformed), the log has %d" % (
                lines, malformed, self.lines))
        return run

    def wc(self, cold=False):
        if cold:
            evict(log_path(self.root))
        return run_child(["wc", "-l", log_path(self.root)]).check("wc -l")


def rows(workdir, log):
    big_root, small_root = os.path.join(workdir, "big"), os.path.join(workdir, "small")
    started = time.time()
    big = Reader(workdir, big_root, generate(big_root, BIG_MB))
    small = Reader(workdir, small_root, generate(small_root, SMALL_MB))
    size_mb = os.path.getsize(log_path(big_root)) / 1048576.0
    log("  generated %.0f MB (%d lines) in %.1f s" % (size_mb, big.lines, time.time() - started))
    small.load(small.fresh_state())  # warm-up: imports and bytecode

    cold, cold_wc, warm, warm_wc, cached, cached_wc, memory = ([] for _ in range(7))
    for _ in range(RUNS):
        cold.append(big.load(big.fresh_state(), cold=True))
        cold_wc.append(big.wc(cold=True))
    state = None
    for _ in range(RUNS):
        state = big.fresh_state()
        warm.append(big.load(state))
        warm_wc.append(big.wc())
    for _ in range(CACHED_RUNS):
        cached.append(big.load(state))
        cached_wc.append(big.wc())
    for _ in range(RUNS):
        memory.append(small.load(small.fresh_state()))
    shutil.rmtree(big_root, ignore_errors=True)
    return build_rows(size_mb, cold, cold_wc, warm, warm_wc, cached, cached_wc, memory, log), {}


def rate(size_mb, runs):
    return Samples(size_mb / run.seconds for run in runs)


def build_rows(size_mb, cold, cold_wc, warm, warm_wc, cached, cached_wc, small, log):
    def speed_row(key, what, ours, floor, note, target=None, at_most=None):
        limit = None if at_most is None else (lambda row: row.ratio <= at_most)
        row = Row(key, what, "MB/s", rate(size_mb, ours), rate(size_mb, floor), target, limit,
                  note, speed=True)
        log("  %s: %.0f MB/s, wc -l %.0f MB/s" % (what, row.ours.median, row.floor.median))
        return row

    big_rss = Samples(run.maxrss_mb for run in warm + cold)
    small_rss = Samples(run.maxrss_mb for run in small)
    size = "%d MB api_tokens_log" % round(size_mb)
    return [
        speed_row("usage_cold", "usage log read, cold", cold, cold_wc,
                  "%s, no usage cache, evicted from the page cache before each run (ours and "
                  "wc -l; a VM's host may still cache it); times include Python start-up" % size,
                  ">= 0.1x wc -l (stretch 0.25x)", 10.0),
        speed_row("usage_warm", "usage log read, page cache warm", warm, warm_wc,
                  "%s, no usage cache: the parser's own speed" % size),
        speed_row("usage_cached", "usage log read, usage cache fresh", cached, cached_wc,
                  "%s unchanged since the cache was written (a page reload); "
                  "MB/s = log size / time" % size),
        Row("usage_memory", "usage log read: peak memory, %d MB vs %d MB log" % (
            round(size_mb), SMALL_MB), "MB", big_rss, small_rss, "flat (<= 1.2x)",
            lambda row: row.ratio <= MEMORY_SLACK,
            "ru_maxrss of the reading process; floor = the same read of a %d MB log" % SMALL_MB),
    ]
