#!/usr/bin/env python3
"""make bench: the plugin's costs measured side by side with their floors.

    .venv/bin/python bench/run.py [--only GROUP,...] [--keep]   (GROUPS below)

Prints one table (what, ours, floor, ratio, target, verdict), the ratios of
the previous bench/results.json next to this run's, the machine (CPUs, CPU
model, load average, Python), and writes the same numbers to
bench/results.json (full runs only). Every program measured runs on the
interpreter that runs this script. Times are medians after a warm-up; each
row says how many runs and shows min and max.

Exit status 1 when a target is missed by more than the noise the run measured
(our best run against the floor's worst still misses it) or a row could not be
measured; a miss within that noise is printed as such and does not fail.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import common
from common import REPO, Row, Samples

GROUPS = ("sweep", "web", "latency", "hook", "usage", "kinds", "quarantine", "audit")
RESULTS = os.path.join(REPO, "bench", "results.json")


def log(message):
    print(message, file=sys.stderr, flush=True)


def measure_group(name, workdir):
    """Rows of one group; a group whose code is missing or broken still gets a row that says so."""
    module = __import__(name + "_bench")
    start = time.time()
    log("%s..." % name)
    try:
        rows, extra = module.rows(os.path.join(workdir, name), log)
    except common.BenchError as error:
        rows, extra = [Row(name, "%s: could not be measured" % name, "", skipped=str(error))], {}
    log("%s: %.0f s" % (name, time.time() - start))
    return rows, extra


def cell(value, unit):
    if value is None:
        return "-"
    if isinstance(value, Samples):
        return "%s (%s-%s, n=%d)" % (number(value.median, unit), number(value.low, unit),
                                     number(value.high, unit), value.runs)
    return number(value, unit)


def number(value, unit):
    if unit == "calls":
        return "%d" % value
    if unit == "s":
        if value < 0.1:
            return "%.1f ms" % (value * 1000)
        return "%.0f ms" % (value * 1000) if value < 1 else "%.2f s" % value
    if unit == "MB":
        return "%.1f MB" % value
    if unit == "MB/s":
        return "%.0f MB/s" % value
    return "%g %s" % (value, unit)


def table_lines(rows):
    headers = ["what", "ours", "floor", "ratio", "target", "verdict"]
    lines = []
    for row in rows:
        ratio = "-" if row.ratio is None else "%.2f" % row.ratio
        verdict = row.verdict if not row.skipped else "NOT MEASURED: " + row.skipped
        lines.append([row.what, cell(row.ours, row.unit), cell(row.floor, row.unit), ratio,
                      row.target or "-", verdict])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    return out


def notes_lines(rows):
    return ["- %s: %s" % (row.what, row.note) for row in rows if row.note]


def grid_lines(cells):
    """owners x tokens per owner down, stale fraction across: ours/floor calls."""
    if not cells:
        return []
    stales = sorted({c["stale_fraction"] for c in cells})
    out = ["| owners x tokens/owner | " + " | ".join("stale %s" % s for s in stales) + " |",
           "|---|" + "---|" * len(stales)]
    keys = sorted({(c["owners"], c["tokens_per_owner"]) for c in cells})
    for owners, per_owner in keys:
        row = [c for c in cells if (c["owners"], c["tokens_per_owner"]) == (owners, per_owner)]
        row.sort(key=lambda c: c["stale_fraction"])
        out.append("| %d x %d | " % (owners, per_owner) + " | ".join(
            "%d / %d" % (c["calls"], c["floor"]) for c in row) + " |")
    return out


def previous_results():
    try:
        with open(RESULTS) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def comparison_lines(previous, rows):
    """Ratios of the previous bench/results.json next to this run's."""
    if not previous:
        return []
    before = {row["key"]: row for row in previous.get("rows", [])}
    out = []
    for row in rows:
        old = before.get(row.key)
        if old is None or old.get("ratio") is None or row.ratio is None:
            continue
        out.append("- %s: ratio %.2f -> %.2f (%s -> %s)" % (
            row.what, old["ratio"], row.ratio, old.get("verdict"), row.verdict))
    if out:
        out.insert(0, "\nCompared with the previous run (%s):" % previous.get("generated", "?"))
    return out


def machine():
    return {"python": sys.version.split()[0], "executable": sys.executable,
            "platform": platform.platform(), "cpus": os.cpu_count(), "cpu_model": cpu_model()}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    """1-, 5- and 15-minute load: a shared machine makes every time longer, so say how busy
    it was (above the CPU count, runs queue for a CPU)."""
    return [round(value, 2) for value in os.getloadavg()]


def summary_line(rows):
    counts = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    order = ("met", "missed, within noise", "MISSED", "NOT MEASURED", "info")
    words = ", ".join("%d %s" % (counts[v], v) for v in order if counts.get(v))
    failed = [row.what for row in rows if row.failed]
    if failed:
        return "make bench: FAILED (%s): %s" % (words, "; ".join(failed))
    return "make bench: every target met or within noise (%s)" % words


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(GROUPS),
                        help="comma-separated groups among %s" % ", ".join(GROUPS))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    groups = [g for g in args.only.split(",") if g]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error("unknown groups: %s" % ", ".join(sorted(unknown)))

    started, load_before = time.time(), load_average()
    previous = previous_results()
    workdir = tempfile.mkdtemp(prefix="tokensweeper-bench-")
    rows, extra = [], {}
    try:
        for group in groups:
            group_rows, group_extra = measure_group(group, workdir)
            rows += group_rows
            extra.update(group_extra)
    finally:
        if args.keep:
            log("scratch kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.time() - started

    print("\n".join(table_lines(rows)))
    print("\nNotes:\n" + "\n".join(notes_lines(rows)))
    if extra.get("sweep_grid"):
        print("\nSweep whmapi1 calls per cell (ours / floor):\n")
        print("\n".join(grid_lines(extra["sweep_grid"])))
    print("\n".join(comparison_lines(previous, rows)))
    load = {"before": load_before, "after": load_average()}
    host = machine()
    print("\nMeasured on Python %s (%s), %d CPUs (%s), in %.0f s; load average "
          "(1, 5, 15 min) %s before, %s after; times are medians after a warm-up." % (
              host["python"], platform.machine(), host["cpus"] or 0, host["cpu_model"], elapsed,
              "/".join("%.1f" % v for v in load["before"]),
              "/".join("%.1f" % v for v in load["after"])))
    if max(load["before"][0], load["after"][0]) > (host["cpus"] or 1):
        print("The machine was loaded (more runnable processes than CPUs): times are longer "
              "and noisier than on a quiet machine.")
    print(summary_line(rows))

    document = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(elapsed, 1), "machine": host, "load_average": load,
                "rows": [row.to_dict() for row in rows]}
    document.update(extra)
    if set(groups) == set(GROUPS):
        with open(RESULTS, "w") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
        log("wrote %s" % os.path.relpath(RESULTS, os.getcwd()))
    # A regression must be red, not only a word in a table.
    return 1 if any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
