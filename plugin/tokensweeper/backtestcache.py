"""The back-tests the page shows beside the policy preview (30 and 90 days back), read from
the log in one pass and remembered for a while in a private cache file.

A back-test reads every api_tokens_log file whole (seconds on a large log), and the Policy
tab is opened far more often than its answer changes. So the outcomes are kept in the state
dir (cachefiles: ours and private, or ignored) under a key of everything that decides them
but the live log's growth: the policy (selectors and protection), the tokens listed (each
one's identity), the days looked back, the UTC day, and each log file's identity (rotated
and archived files by inode, size and modification time; the live file by inode and its
first bytes, and it may only have grown). The live log grows with every API call, so a
result is reused for at most MAX_AGE seconds and the page says when it was computed: an
hour-old answer to "what would the policy have revoked a month ago" is still that answer,
give or take the uses of the last hour. A missing, damaged or foreign cache file is a quiet
miss: the back-tests are simply computed again."""

import hashlib
import json
import os

from . import backtest, cachefiles, paths
from .usage.files import ACTIVE_NAME, HEAD_SIZE, LOG_DIR, _discover

CACHE_NAME = "backtest-cache.json"
CACHE_VERSION = 1
MAX_AGE = 3600  # seconds a computed back-test is shown again


class Backtests(object):
    """outcomes: {days: backtest.Outcome}; computed_at: when they were computed (epoch);
    reused: True when they came from the cache."""

    def __init__(self, outcomes, computed_at, reused):
        self.outcomes = outcomes
        self.computed_at = computed_at
        self.reused = reused


def backtests(tokens, selectors, protection, days, now, cpanel_root=None):
    """The policy judged `d` days before `now` for each d in `days`, over `tokens` (those
    listed now), from one read of the log, or as computed within MAX_AGE seconds."""
    if cpanel_root is None:
        cpanel_root = paths.cpanel_root()
    log_dir = os.path.join(cpanel_root, *LOG_DIR)
    days = sorted(set(days))
    files, live = _log_files(log_dir)
    key = _key(tokens, selectors, protection, days, now, log_dir, files)
    cache_path = paths.state_path(CACHE_NAME)
    found = _lookup(cache_path, key, now, log_dir) if key else None
    if found is not None:
        return found
    moments = {d: now - d * 86400 for d in days}
    splits = backtest.read_splits(list(moments.values()), cpanel_root)
    outcomes = {d: backtest.judge(tokens, selectors, protection, moments[d], splits[moments[d]])
                for d in days}
    if key:
        _store(cache_path, key, now, live, outcomes)
    return Backtests(outcomes, now, False)


def _log_files(log_dir):
    """([name, dev, ino, size, mtime_ns] of each rotated or archived file, the live file's
    [dev, ino, size, head_len, head_sha] or None)."""
    files, live = [], None
    active = os.path.join(log_dir, ACTIVE_NAME)
    for path in _discover(log_dir):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if path == active:
            live = _live_state(path)
        else:
            files.append([os.path.relpath(path, log_dir), st.st_dev, st.st_ino, st.st_size,
                          st.st_mtime_ns])
    return files, live


def _live_state(path, head_len=None):
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            head = handle.read(HEAD_SIZE if head_len is None else head_len)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, len(head), hashlib.sha256(head).hexdigest()]


def _plain(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not callable(v)}
    return repr(value)


def _key(tokens, selectors, protection, days, now, log_dir, files):
    """The hash of what decides the answer (but the live log's growth), or None when the
    policy cannot be described exactly (then nothing is cached)."""
    policy = {k: v for k, v in vars(selectors).items() if not callable(v)}
    shield = {"builtin": protection.builtin, "names": protection.names,
              "connected": protection.connected, "unreadable": protection.unreadable,
              "reseller_acls": protection.reseller_acls}
    try:
        text = json.dumps([CACHE_VERSION, policy, shield, sorted(t.identity() for t in tokens),
                           days, now // 86400, log_dir, sorted(files)],
                          sort_keys=True, default=_plain)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _lookup(cache_path, key, now, log_dir):
    data = cachefiles.read(cache_path)
    if data is None:
        return None
    try:
        entry = json.loads(data.decode("utf-8"))
        if (not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION
                or entry.get("key") != key):
            return None
        computed_at = entry["computed_at"]
        if not isinstance(computed_at, int) or not now - MAX_AGE <= computed_at <= now:
            return None
        if not _live_unchanged(entry["live"], log_dir):
            return None
        outcomes = {int(d): _outcome(o) for d, o in entry["outcomes"].items()}
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    return Backtests(outcomes, computed_at, True)


def _live_unchanged(recorded, log_dir):
    """The live log is the file it was, only longer (or is still absent)."""
    path = os.path.join(log_dir, ACTIVE_NAME)
    if recorded is None:
        return not os.path.lexists(path)
    dev, ino, size, head_len, head_sha = recorded
    now = _live_state(path, int(head_len))
    return (now is not None and now[0] == dev and now[1] == ino and now[2] >= size
            and now[3] == head_len and now[4] == head_sha)


def _text(value):
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


def _entry(row, fields):
    return {name: _text(row[name]) for name in fields}


def _outcome(data):
    split = backtest.Split()
    split.oldest = None if data["oldest"] is None else int(data["oldest"])
    split.newest = None if data["newest"] is None else int(data["newest"])
    split.errors = [_text(e) for e in data["errors"]]
    would = []
    for row in data["would_revoke"]:
        entry = _entry(row, ("owner", "kind", "name", "reason"))
        if not isinstance(row["used_after"], bool):
            raise ValueError("used_after")
        entry["used_after"] = row["used_after"]
        would.append(entry)
    apart = [_entry(row, ("owner", "kind", "name", "why")) for row in data["apart"]]
    return backtest.Outcome(int(data["as_of"]), would, apart, split)


def _store(cache_path, key, now, live, outcomes):
    document = {"version": CACHE_VERSION, "key": key, "computed_at": now, "live": live,
                "outcomes": {str(d): {"as_of": o.moment, "would_revoke": o.would_revoke,
                                      "apart": o.apart, "oldest": o.split.oldest,
                                      "newest": o.split.newest, "errors": o.split.errors}
                             for d, o in outcomes.items()}}
    data = json.dumps(document, separators=(",", ":")).encode("utf-8")
    if len(data) <= cachefiles.MAX_BYTES:
        cachefiles.write(cache_path, data)
