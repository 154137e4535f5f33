"""What every benchmark row needs: child processes timed with their peak
memory, medians, one seeded fake server per scenario, and the Row record.

Everything runs on the interpreter that runs bench/run.py (sys.executable):
the CLI, the CGI, the hook, the fake whmapi1 (through PATH) and the floors.
"""
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = os.path.join(REPO, "plugin")
for _path in (REPO, PLUGIN):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.fakes.fakeserver import FakeServer  # noqa: E402

PY = sys.executable
CLI = os.path.join(REPO, "bin", "tokensweeper")
CGI = os.path.join(REPO, "plugin", "index.cgi")
HOOK = os.path.join(REPO, "hooks", "tokensweeper-hook")
LAUNCHER = os.path.join(REPO, "bench", "launch.py")
# A fixed clock: the seeded ages, and so every plan, are the same on every run.
NOW = 1790000000


class ChildRun(object):
    """One finished child: wall seconds, peak RSS in MB (the program or the
    largest child it waited for, as wait4 reports it; never below the
    launcher's ~8 MB), exit status, stdout and stderr."""

    def __init__(self, seconds, maxrss_mb, status, stdout, stderr):
        self.seconds = seconds
        self.maxrss_mb = maxrss_mb
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    def check(self, what, ok_statuses=(0,)):
        """Stop the bench when a measured program failed: its time means nothing."""
        if self.status not in ok_statuses:
            tail = self.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            raise BenchError("%s exited with %s:\n  %s" % (what, self.status, "\n  ".join(tail)))
        return self


class BenchError(Exception):
    """A measured program did not do its job."""


def run_child(argv, env=None, stdin_bytes=b""):
    """Run argv to completion through bench/launch.py (see there why); stdin,
    stdout and stderr are files, so nothing but the program itself sits
    between the launcher's two clock readings."""
    env = dict(os.environ if env is None else env)
    # Installed code is byte-compiled (install.sh runs compileall): measure it that way.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    program = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, \
            tempfile.TemporaryFile() as stderr, \
            tempfile.NamedTemporaryFile("r", suffix=".launch") as result:
        stdin.write(stdin_bytes)
        stdin.seek(0)
        launcher = subprocess.Popen([PY, "-S", "-I", LAUNCHER, result.name, program] + argv[1:],
                                    env=env, stdin=stdin, stdout=stdout, stderr=stderr)
        launcher.wait()
        stdout.seek(0)
        stderr.seek(0)
        fields = result.read().split()
        if launcher.returncode or len(fields) != 3:
            raise BenchError("could not run %s: %s" % (
                argv[0], stderr.read().decode("utf-8", "replace").strip()[-500:]))
        return ChildRun(float(fields[0]), int(fields[1]) / 1024.0, int(fields[2]),
                        stdout.read(), stderr.read())


class Samples(object):
    """Several measurements of one quantity; the median is what a row shows."""

    def __init__(self, values):
        self.values = list(values)

    @property
    def median(self):
        return statistics.median(self.values)

    @property
    def low(self):
        return min(self.values)

    @property
    def high(self):
        return max(self.values)

    @property
    def runs(self):
        return len(self.values)


def repeat(measure, runs, warmup=1):
    """Call measure() warmup times (discarded), then `runs` times -> Samples."""
    for _ in range(warmup):
        measure()
    return Samples(measure() for _ in range(runs))


class Row(object):
    """One line of the table. `ours` and `floor` are numbers or Samples in
    `unit`; ratio = our cost / the floor's cost (time, calls, memory; for
    rates, floor / ours), so below 1 is better."""

    def __init__(self, key, what, unit, ours=None, floor=None, target=None, limit=None,
                 note="", skipped=None, speed=False):
        self.key = key
        self.speed = speed        # ours/floor are rates (higher is better): ratio = floor / ours
        self.what = what
        self.unit = unit
        self.ours = ours
        self.floor = floor
        self.target = target      # words, e.g. "ratio <= 0.35"
        self.limit = limit        # function(row) -> True when the target is met
        self.note = note
        self.skipped = skipped    # why it was not measured

    @property
    def ratio(self):
        ours, floor = _central(self.ours), _central(self.floor)
        if self.speed:
            ours, floor = floor, ours
        if ours is None or floor in (None, 0):
            return None
        return ours / floor

    @property
    def verdict(self):
        if self.skipped:
            return "NOT MEASURED"
        if self.limit is None:
            return "info"
        if self.limit(self):
            return "met"
        # Missed at the medians. Within the spread this run measured (our best run
        # against the floor's worst) it may still be met: then it is noise, not a failure.
        return "missed, within noise" if self.limit(self.best_case()) else "MISSED"

    @property
    def failed(self):
        """A missed target beyond the measured noise, or a row that could not be measured."""
        return self.verdict in ("MISSED", "NOT MEASURED")

    def best_case(self):
        """This row with each side at its most favourable measured value (same for exact
        counts): what the target is judged against before a miss counts as a failure."""
        ours_best, floor_worst = (_high, _low) if self.speed else (_low, _high)
        copy = Row(self.key, self.what, self.unit, ours_best(self.ours), floor_worst(self.floor),
                   self.target, self.limit, speed=self.speed)
        return copy

    def to_dict(self):
        return {
            "key": self.key, "what": self.what, "unit": self.unit,
            "ours": _as_json(self.ours), "floor": _as_json(self.floor),
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "target": self.target, "verdict": self.verdict, "failed": self.failed,
            "note": self.note,
            "skipped": self.skipped,
        }


def _low(value):
    return Samples([value.low]) if isinstance(value, Samples) else value


def _high(value):
    return Samples([value.high]) if isinstance(value, Samples) else value


def _central(value):
    return value.median if isinstance(value, Samples) else value


def _as_json(value):
    if isinstance(value, Samples):
        return {"median": round(value.median, 6), "min": round(value.low, 6),
                "max": round(value.high, 6), "runs": value.runs}
    return value


def missing(path):
    """Why a row cannot be measured yet, or None when its code exists."""
    if os.path.exists(path):
        return None
    return "%s does not exist yet" % os.path.relpath(path, REPO)


class Scenario(object):
    """A fake cPanel server in its own directory, with the state dir, an
    (empty unless filled) cPanel tree and a config file the plugin is pointed at."""

    def __init__(self, directory, config_text="parallel_owners: 4\n"):
        self.directory = directory
        self.state_dir = os.path.join(directory, "state")
        self.cpanel_root = os.path.join(directory, "cpanel")
        self.config = os.path.join(directory, "config.yaml")
        for path in (self.state_dir, self.cpanel_root):
            os.makedirs(path, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        with open(self.config, "w") as handle:
            handle.write(config_text)
        self.server = FakeServer(os.path.join(directory, "fake"), now=NOW)

    def env(self, **extra):
        env = self.server.full_env()
        env.update(TOKENSWEEPER_STATE_DIR=self.state_dir, TOKENSWEEPER_CPANEL_ROOT=self.cpanel_root,
                   TOKENSWEEPER_CONFIG=self.config, TOKENSWEEPER_NOW=str(NOW))
        env.update(extra)
        return env

    def calls(self):
        return self.server.calls()

    def reset(self):
        self.server.reset_calls()


def ceil_div(a, b):
    return int(math.ceil(a / float(b)))
