"""Last-used evidence for API tokens, from cPanel's api_tokens_log.

cPanel writes one line per token-authenticated request (cpanel-facts.md §1):

    [2026-05-19 10:01:10 +0300] info [whostmgrd] Host: ['10.0.0.1'] HTTP Status: ['200'],
    User: ['root'], Token Name: ['phclient'], Request: ['GET /json-api/listaccts HTTP/1.1']

It is the only "last used" signal cPanel has, and it rotates: a token missing
from the log is UNKNOWN unless the log reaches back to before the token was
created. Every answer here keeps that distinction.

Reading is streamed in fixed-size blocks (memory does not grow with the log)
and cached per file in the state dir, so a page load reads only the bytes
appended since the previous load. Files are recognised by identity (device,
inode, size, mtime and a hash of their first bytes), never by name, so a
rotation between two loads (api_tokens_log -> api_tokens_log.1, new empty
api_tokens_log) is neither missed nor counted twice.
"""

import calendar
import collections
import datetime
import hashlib
import json
import os
import re
import stat
import time

DAY = 86400
LOG_DIR = ("usr", "local", "cpanel", "logs")
ACTIVE_NAME = "api_tokens_log"
# cpanellogd ("cPanel Log Rotation") keeps monthly archives here.
ARCHIVE_SUBDIR = "archive"
CACHE_NAME = "usage-cache.json"
CACHE_VERSION = 1

BLOCK_SIZE = 1 << 20
# A "line" longer than this is garbage (or not a log at all): it is counted
# as one malformed line and skipped, so a file without newlines cannot make
# memory grow.
MAX_LINE = 64 * 1024
HEAD_SIZE = 4096

# api_tokens_log, plus what logrotate (numbered, dateext) and cpanellogd
# (archive/NAME-MM-YYYY.gz) make of it, optionally compressed.
_NAME_RE = re.compile(r"^api_tokens_log(?:[.-][0-9][0-9._-]*?)?(?:\.(?:gz|bz2|xz))?$")

# One compiled pattern over whole blocks: the scan stays in C. `[^\n]` keeps
# every match inside one line; the lazy gaps take the FIRST "User:" and
# "Token Name:" so a request path that contains those words cannot spoof them.
_LINE_RE = re.compile(
    br"^\[(\d{4}-\d\d-\d\d \d\d:\d\d):(\d\d) ([+-]\d{4})\][^\n]*?"
    br" Host: \['([^'\n]*)'\][^\n]*?"
    br" User: \['([^'\n]*)'\][^\n]*?"
    br" Token Name: \['([^'\n]*)'\][^\n]*$",
    re.M,
)

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)

_MISSING = object()

TokenUsage = collections.namedtuple("TokenUsage", "last_used last_ip uses")


def load_usage(cpanel_root=None, state_dir=None):
    """Read api_tokens_log and its rotated siblings into UsageFacts.

    Uses (and refreshes) the cache in `state_dir`; works without it when the
    state dir cannot be written. Never raises for a bad or unreadable log:
    such problems are listed in `facts.errors`.
    """
    if cpanel_root is None or state_dir is None:
        from tokensweeper import paths
        cpanel_root = paths.cpanel_root() if cpanel_root is None else cpanel_root
        state_dir = paths.state_dir() if state_dir is None else state_dir
    log_dir = os.path.join(cpanel_root, *LOG_DIR)
    cache_path = os.path.join(state_dir, CACHE_NAME)
    cached, cached_json = _read_cache(cache_path, log_dir)
    states, errors, bytes_read = [], [], 0
    for path in _discover(log_dir):
        is_live = path == os.path.join(log_dir, ACTIVE_NAME)
        state, nread, error = _load_file(path, cached, active=is_live)
        bytes_read += nread
        if error:
            errors.append(f"{os.path.basename(path)}: {error}")
        if state is not None:
            states.append(state)
    fresh_json = [s.to_json() for s in states if s.cacheable]
    if fresh_json != cached_json:  # an unchanged log costs no write
        _write_cache(cache_path, log_dir, fresh_json)
    facts = _merge(states)
    facts.bytes_read = bytes_read
    facts.errors = tuple(errors)
    return facts


class UsageFacts:
    """What the log proves about token use, and how far back it can prove it.

    `oldest`/`newest`: UTC epochs of the first and last entry (None without
    evidence); `malformed`/`lines`: lines that could not be used / all lines;
    `sources`: the files read, oldest content first; `errors`: files that
    could not be (fully) read; `bytes_read`: log text parsed by this load
    (decompressed for .gz), 0 when the cache already had everything.
    """

    def __init__(self, tokens=None, oldest=None, newest=None, malformed=0, lines=0, sources=()):
        self._tokens = dict(tokens or {})
        self.oldest = oldest
        self.newest = newest
        self.malformed = malformed
        self.lines = lines
        self.sources = tuple(sources)
        self.bytes_read = 0
        self.errors = ()

    @classmethod
    def empty(cls):
        return cls()

    def __len__(self):
        return len(self._tokens)

    def get(self, owner, name):
        return self._tokens.get((owner, name))

    def covers_days(self, days, now):
        """True when the evidence reaches back at least `days` before `now`."""
        return self.oldest is not None and self.oldest <= now - days * DAY

    def covered_days(self, now):
        """Whole days of evidence before `now` (None without evidence)."""
        if self.oldest is None:
            return None
        return max(0, (now - self.oldest) // DAY)

    def last_use(self, token):
        """This token's TokenUsage, or None.

        An entry older than the token's creation belongs to an earlier,
        revoked token of the same name, so it does not count.
        """
        use = self.get(token.owner, token.name)
        if use is None or use.last_used < token.create_time:
            return None
        return use

    def describe(self, token, now):
        """Last use in words an admin can act on."""
        if self.oldest is None:
            return "unknown (no usage data)"
        use = self.last_use(token)
        if use is not None:
            return f"{_minute(use.last_used)} from {use.last_ip}"
        if token.create_time > self.oldest:
            return "never used"
        return f"not seen since {_day(self.oldest)}"

    def unused_for(self, token, days, now):
        """(True, why) only when the log PROVES no use in the last `days` days.

        That needs evidence reaching back `days` days, a token older than that,
        and no use since. Otherwise (False, why) says which condition failed.
        """
        cutoff = now - days * DAY
        if self.oldest is None:
            return False, "unknown (no usage data)"
        use = self.last_use(token)
        if use is not None and use.last_used > cutoff:
            return False, f"used {_ago(now - use.last_used)}"
        if token.create_time > cutoff:
            return False, f"created {_ago(now - token.create_time)}"
        if not self.covers_days(days, now):
            return False, f"usage log only covers {_span(now - self.oldest)}"
        if use is not None:
            return True, f"last used {_day(use.last_used)} ({_ago(now - use.last_used)})"
        if token.create_time > self.oldest:
            return True, "never used"
        return True, f"not seen since {_day(self.oldest)}"


def _minute(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _plural(n, unit):
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _ago(seconds):
    if seconds < 60:
        return "just now"
    return _span(seconds) + " ago"


def _span(seconds):
    if seconds >= DAY:
        return _plural(seconds // DAY, "day")
    if seconds >= 3600:
        return _plural(seconds // 3600, "hour")
    return _plural(max(0, seconds) // 60, "minute")


# ---------------------------------------------------------------- discovery


def _discover(log_dir):
    """Every api_tokens_log file under the log dir and its archive, each physical file once."""
    found, seen = [], set()
    for directory in (log_dir, os.path.join(log_dir, ARCHIVE_SUBDIR)):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if not _NAME_RE.match(name):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            # A hard link (or a symlink) to a file already seen would count its lines twice.
            if (st.st_dev, st.st_ino) in seen or not _is_regular(st):
                continue
            seen.add((st.st_dev, st.st_ino))
            found.append(path)
    return found


def _is_regular(st):
    return stat.S_ISREG(st.st_mode)


# ---------------------------------------------------------------- one file


class _FileState:
    """What one log file proved, plus where reading stopped (the cache entry)."""

    def __init__(self, path, dev, ino, size, mtime, head_len, head_sha, codec):
        self.path = path
        self.dev, self.ino, self.size, self.mtime = dev, ino, size, mtime
        self.head_len, self.head_sha, self.codec = head_len, head_sha, codec
        self.offset = 0  # bytes fully parsed (plain files); 0 for compressed ones
        self.oldest = None
        self.newest = None
        self.lines = 0
        self.malformed = 0
        self.tokens = {}  # (owner, name) -> [last_used, last_ip, uses]
        self.cacheable = True

    def identity(self):
        return (self.dev, self.ino)

    def to_json(self):
        return {
            "path": self.path, "dev": self.dev, "ino": self.ino, "size": self.size,
            "mtime": self.mtime, "head_len": self.head_len, "head_sha": self.head_sha,
            "codec": self.codec, "offset": self.offset, "oldest": self.oldest,
            "newest": self.newest, "lines": self.lines, "malformed": self.malformed,
            "tokens": [[o, n, v[0], v[1], v[2]] for (o, n), v in self.tokens.items()],
        }

    @classmethod
    def from_json(cls, d):
        state = cls(str(d["path"]), int(d["dev"]), int(d["ino"]), int(d["size"]), d["mtime"],
                    int(d["head_len"]), str(d["head_sha"]), d["codec"])
        state.offset = int(d["offset"])
        state.oldest = _opt_int(d["oldest"])
        state.newest = _opt_int(d["newest"])
        state.lines = int(d["lines"])
        state.malformed = int(d["malformed"])
        for owner, name, last, ip, uses in d["tokens"]:
            state.tokens[(str(owner), str(name))] = [int(last), str(ip), int(uses)]
        return state


def _opt_int(value):
    return None if value is None else int(value)


def _load_file(path, cached, active):
    """(state or None, bytes parsed, error text or None) for one log file."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            head = f.read(HEAD_SIZE)
            codec = _codec(head)
            prior = _reusable(cached.get((st.st_dev, st.st_ino)), f, st, codec)
            state = _FileState(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime,
                               len(head), _sha(head), codec)
            if codec != "plain":
                if prior is not None and prior.size == st.st_size and prior.mtime == st.st_mtime:
                    return _renamed(prior, path), 0, None
                return _read_compressed(f, state)
            return _read_plain(f, state, prior, active)
    except OSError as e:
        return None, 0, f"unreadable ({e.strerror or e})"


def _codec(head):
    for magic, codec in _MAGIC:
        if head.startswith(magic):
            return codec
    return "plain"


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _reusable(prior, f, st, codec):
    """The cached state of this very file, or None when it was replaced or rewritten.

    Same inode is not enough (inodes are reused after a delete): the bytes the
    cache saw at the start of the file must still be there.
    """
    if prior is None or prior.codec != codec or st.st_size < prior.head_len:
        return None
    f.seek(0)
    if _sha(f.read(prior.head_len)) != prior.head_sha:
        return None
    if codec == "plain" and st.st_size < prior.offset:
        return None  # truncated (copytruncate): read it again from the start
    return prior


def _renamed(prior, path):
    prior.path = path
    return prior


def _read_plain(f, state, prior, active):
    """Parse a plain log, from where the cache stopped when it is the same file."""
    if prior is not None:
        _carry_over(prior, state)
    f.seek(state.offset)
    scan = _Scan(state)
    # Only the live log may end with a line still being written: keep its
    # unterminated tail for the next load. A rotated file is final.
    consumed = scan.run(f.read, final=not active)
    state.offset += consumed
    return state, scan.bytes_read, None


def _carry_over(prior, state):
    state.offset = prior.offset
    state.oldest, state.newest = prior.oldest, prior.newest
    state.lines, state.malformed = prior.lines, prior.malformed
    state.tokens = prior.tokens
    # The new state keeps the CURRENT head: the cached head was just verified
    # as its prefix, and a file that was short (or empty) last time now gets
    # a full 4 KB fingerprint.


def _read_compressed(f, state):
    f.seek(0)
    opener = _opener(state.codec)
    if opener is None:
        return None, 0, f"{state.codec} compression is not supported by this Python"
    scan = _Scan(state)
    error = None
    try:
        with opener(f) as stream:
            # read1 hands over what is decompressed so far, so a file cut
            # short still yields its first lines before the error.
            scan.run(stream.read1, final=True)
    except (OSError, EOFError, ValueError) as e:
        # Typically logrotate still compressing it: use what was read, and
        # read it again next time rather than caching half a file.
        state.cacheable = False
        error = f"damaged or incomplete {state.codec} data ({e})"
    return state, scan.bytes_read, error


def _opener(codec):
    # The codecs (and tempfile below) are imported when needed: a page load that finds
    # everything in the cache would otherwise pay for them (~5 ms with shutil).
    if codec == "gzip":
        import gzip

        return lambda f: gzip.GzipFile(fileobj=f, mode="rb")
    if codec == "bzip2":
        import bz2

        return lambda f: bz2.BZ2File(f, "rb")
    try:
        import lzma
    except ImportError:
        return None
    return lambda f: lzma.LZMAFile(f, "rb")


# ---------------------------------------------------------------- parsing


class _Scan:
    """Streams blocks of log text into a _FileState."""

    def __init__(self, state):
        self.state = state
        self.agg = {}  # (owner bytes, name bytes) -> [last, ip bytes, uses]
        self.oldest = None
        self.newest = None
        self.bytes_read = 0
        self._epochs = {}  # b"YYYY-MM-DD HH:MM+HHMM" -> UTC epoch of that minute

    def run(self, read, final):
        """Parse everything `read` yields; return the bytes consumed.

        When not `final`, an unterminated last line is left unconsumed.
        """
        try:
            return self._blocks(read, final)
        finally:
            # Even when a compressed file ends too early, what was read counts.
            self._finish()

    def _blocks(self, read, final):
        consumed, pending, skipping = 0, b"", False
        while True:
            block = read(BLOCK_SIZE)
            if not block:
                break
            self.bytes_read += len(block)
            if skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    consumed += len(block)
                    continue
                consumed += cut + 1
                block, skipping = block[cut + 1:], False
            data = pending + block
            cut = data.rfind(b"\n") + 1
            if cut:
                self._scan(data[:cut])
                consumed += cut
            pending = data[cut:]
            if len(pending) > MAX_LINE:
                self.state.lines += 1
                self.state.malformed += 1
                consumed += len(pending)
                pending, skipping = b"", True
        if final and pending:
            self._scan(pending)
            consumed += len(pending)
        return consumed

    def _scan(self, text):
        """Parse complete lines (the last one may lack its newline)."""
        matches = _LINE_RE.findall(text)
        lines = text.count(b"\n") + (0 if text.endswith(b"\n") else 1)
        bad = lines - len(matches)
        agg_get, agg = self.agg.get, self.agg
        epochs = self._epochs
        oldest, newest = self.oldest, self.newest
        for t_minute, t_sec, t_offset, ip, owner, name in matches:
            # Lines arrive in time order, so a small memo of minute -> epoch
            # avoids nearly all date arithmetic; it is bounded (memory stays flat).
            base = epochs.get(t_minute + t_offset, _MISSING)
            if base is _MISSING:
                if len(epochs) > 4096:
                    epochs.clear()
                base = epochs[t_minute + t_offset] = _minute_epoch(t_minute, t_offset)
            if base is None:
                bad += 1
                continue
            ts = base + int(t_sec)
            if oldest is None or ts < oldest:
                oldest = ts
            if newest is None or ts > newest:
                newest = ts
            key = (owner, name)
            entry = agg_get(key)
            if entry is None:
                agg[key] = [ts, ip, 1]
            else:
                entry[2] += 1
                if ts >= entry[0]:
                    entry[0] = ts
                    entry[1] = ip
        self.oldest, self.newest = oldest, newest
        self.state.lines += lines
        self.state.malformed += bad

    def _finish(self):
        state = self.state
        state.oldest = _pick(min, state.oldest, self.oldest)
        state.newest = _pick(max, state.newest, self.newest)
        for (owner, name), (last, ip, uses) in self.agg.items():
            _add_use(state.tokens, (_text(owner), _text(name)), last, _text(ip), uses)


def _text(raw):
    return raw.decode("utf-8", "replace")


def _pick(fn, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)


def _add_use(tokens, key, last, ip, uses):
    entry = tokens.get(key)
    if entry is None:
        tokens[key] = [last, ip, uses]
        return
    entry[2] += uses
    if last >= entry[0]:
        entry[0], entry[1] = last, ip


def _minute_epoch(minute, offset):
    """UTC epoch of b"YYYY-MM-DD HH:MM" written at UTC offset b"+HHMM"; None if invalid."""
    try:
        stamp = datetime.datetime(int(minute[0:4]), int(minute[5:7]), int(minute[8:10]),
                                  int(minute[11:13]), int(minute[14:16]))
    except ValueError:
        return None
    off_h, off_m = int(offset[1:3]), int(offset[3:5])
    if off_h > 23 or off_m > 59:
        return None
    shift = off_h * 3600 + off_m * 60
    if offset[:1] == b"-":
        shift = -shift
    return calendar.timegm(stamp.timetuple()) - shift


# ---------------------------------------------------------------- merge


def _merge(states):
    """One UsageFacts from every file, oldest content first so ties go to the newer file."""
    states = sorted(states, key=lambda s: (s.oldest is not None, s.oldest or 0, s.newest or 0))
    tokens = {}
    oldest = newest = None
    malformed = lines = 0
    for state in states:
        oldest = _pick(min, oldest, state.oldest)
        newest = _pick(max, newest, state.newest)
        malformed += state.malformed
        lines += state.lines
        for key, (last, ip, uses) in state.tokens.items():
            _add_use(tokens, key, last, ip, uses)
    usage = {key: TokenUsage(v[0], v[1], v[2]) for key, v in tokens.items()}
    return UsageFacts(usage, oldest, newest, malformed, lines, [s.path for s in states])


# ---------------------------------------------------------------- cache


def _read_cache(cache_path, log_dir):
    """(cached file states by (dev, inode), the raw entries); ({}, None) without a usable cache."""
    try:
        with open(cache_path, "r") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}, None
    if not isinstance(data, dict):
        return {}, None
    if data.get("version") != CACHE_VERSION or data.get("log_dir") != log_dir:
        return {}, None
    entries = data.get("files")
    if not isinstance(entries, list):
        return {}, None
    states = {}
    for entry in entries:
        try:
            state = _FileState.from_json(entry)
        except (KeyError, TypeError, ValueError):
            continue  # one damaged entry costs a re-read of that file, nothing more
        states[state.identity()] = state
    return states, entries


def _write_cache(cache_path, log_dir, entries):
    """Replace the cache atomically (0600); silently do without when it cannot be written."""
    data = {"version": CACHE_VERSION, "log_dir": log_dir, "files": entries}
    directory = os.path.dirname(cache_path)
    tmp = None
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".usage-cache.", dir=directory)  # created 0600
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, cache_path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
