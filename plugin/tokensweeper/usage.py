"""Last-used evidence for API tokens, from cPanel's api_tokens_log.

cPanel writes one line per token-authenticated request, in one of two shapes
(cpanel-facts.md §1): cPanel's own documentation shows it without the client's
address, and some servers write a `Host:` field before `HTTP Status`:

    [2017-02-07 19:07:13 -0600] info [whostmgrd] HTTP Status: ['200'], User: ['kingrichard'],
    Token Name: ['robin_of_loxley'],
    Request: ['GET /scripts2/reloadbind_local?dnsuniqid=baa HTTP/1.0']
    [2026-05-19 10:01:10 +0300] info [whostmgrd] Host: ['10.0.0.1'] HTTP Status: ['200'],
    User: ['root'], Token Name: ['phclient'], Request: ['GET /json-api/listaccts HTTP/1.1']

Both are read; a use without an address is shown without one. Only lines of
the `[whostmgrd]` service are uses of WHM tokens: another service's line
(a cPanel account's token, whose owner may share a reseller's name and token
name) is counted as a line, never as a use.

It is the only "last used" signal cPanel has, and it rotates: a token missing
from the log is UNKNOWN unless the log reaches back to before the token was
created. Every answer here keeps that distinction.

Reading is streamed in fixed-size blocks (memory does not grow with the log)
and cached per file in the state dir, so a page load reads only the bytes
appended since the previous load. Files are recognised by identity (device,
inode, size, mtime and a hash of their first bytes), never by name, so a
rotation between two loads (api_tokens_log -> api_tokens_log.1 or
api_tokens_log.bkup, new empty api_tokens_log) is neither missed nor counted
twice.
"""

import calendar
import collections
import datetime
import hashlib
import json
import operator
import os
import re
import stat
import sys
import time

from tokensweeper import statefiles

DAY = 86400
LOG_DIR = ("usr", "local", "cpanel", "logs")
ACTIVE_NAME = "api_tokens_log"
# cpanellogd ("cPanel Log Rotation") keeps monthly archives here.
ARCHIVE_SUBDIR = "archive"
CACHE_NAME = "usage-cache.json"
# 2: lines without Host: are read, other services' lines are not uses, last_ip may be null.
# 3: each token's addresses, with first and last use from each (incident response).
CACHE_VERSION = 3
# Distinct addresses kept per token (memory stays bounded when a leaked token is used
# from a botnet): the most recently used are kept, and the latest use of any address
# that was not kept is remembered, so a question about that period says "cannot tell".
ADDRESS_CAP = 64
# The fast path's per-address tallies are decoded once this many (token, address) pairs
# have piled up, so they cannot grow with the log either.
FLUSH_PAIRS = 20000

BLOCK_SIZE = 2 << 20
# A "line" longer than this is garbage (or not a log at all): it is counted
# as one malformed line and skipped, so a file without newlines cannot make
# memory grow.
MAX_LINE = 64 * 1024
HEAD_SIZE = 4096

# api_tokens_log, plus what logrotate (numbered, dateext) and cpanellogd make of it:
# cpanellogd renames the live file to api_tokens_log.bkup, appends it gzipped to
# archive/api_tokens_log-MM-YYYY.gz, then deletes the .bkup; a .bkup left by an
# interrupted rotation holds lines found nowhere else.
_NAME_RE = re.compile(
    r"^api_tokens_log(?:\.bkup|[.-][0-9][0-9._-]*?)?(?:\.(?:gz|bz2|xz))?\Z")

# Only [whostmgrd] lines are uses of WHM API tokens. Every pattern below starts
# at the newline before a line (each block is scanned with a newline in front),
# which lets `re` search for a literal instead of trying every position, and
# keeps a match from starting inside a line.
#
# The exact reading of a whostmgrd line, either shape. The lazy gaps take the
# FIRST "User:" and "Token Name:", so a request path that contains those words
# cannot spoof them; `[^\n]` keeps every match inside one line.
_EXACT_RE = re.compile(
    br"\n\[(\d{4}-\d\d-\d\d \d\d:\d\d):(\d\d) ([+-]\d{4})\] \w+ \[whostmgrd\]"
    br"(?: Host: \['([^'\n]*)'\])?[^\n]*?"
    br" User: \['([^'\n]*)'\][^\n]*?"
    br" Token Name: \['([^'\n]*)'\]")
# A line of another service: counted, never a use, never damage.
_OTHER_RE = re.compile(
    br"\n\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \w+ \[(?!whostmgrd\])[^\]\n]*\]")
# The UTC offset of a block's first ordinary whostmgrd line (see _fast_patterns).
_OFFSET_RE = re.compile(
    br"\n\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([+-]\d{4})\] info \[whostmgrd\] ")
_HOST_RE = re.compile(br"Host: \['([^'\n]*)'\]")
_KEY_SEPARATOR = b"'], Token Name: ['"

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)

_MISSING = object()

TokenUsage = collections.namedtuple("TokenUsage", "last_used last_ip uses")
# One address a token was used from: ip is "" when the lines named no address; first
# is None when uses of an earlier token of the same name from there came first.
AddressUse = collections.namedtuple("AddressUse", "ip first last uses")


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

    def __init__(self, tokens=None, oldest=None, newest=None, malformed=0, lines=0, sources=(),
                 addresses=None):
        self._tokens = dict(tokens or {})
        # (owner, name) -> (tuple of AddressUse, latest use of an address not kept or None)
        self._addresses = dict(addresses or {})
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
        if not getattr(token, "usage_logged", True):
            return None  # a WHM use of the name is never a cPanel account token's use
        use = self.get(token.owner, token.name)
        if use is None or use.last_used < token.create_time:
            return None
        return use

    def describe(self, token, now):
        """Last use in words an admin can act on."""
        if self.oldest is None:
            return "unknown (no usage data)"
        use = self.last_use(token)
        if use is not None and use.last_ip:
            return f"{_minute(use.last_used)} from {use.last_ip}"
        if use is not None:
            return _minute(use.last_used)  # a log line without Host: names no address
        if token.create_time > self.oldest:
            return "never used"
        return f"not seen since {_day(self.oldest)}"

    def unused_for(self, token, days, now):
        """(True, why) only when the log PROVES no use in the last `days` days.

        That needs evidence reaching back `days` days, read whole (no file in
        `errors`), a token older than that, and no use since. Otherwise
        (False, why) says which condition failed.
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
        if self.errors:
            # A file read in part (or not at all) may hold this token's last use: the
            # evidence has a hole, and missing evidence never counts as disuse.
            return False, "usage log incomplete: %s could not be read" % "; ".join(self.errors)
        if use is not None:
            return True, f"last used {_day(use.last_used)} ({_ago(now - use.last_used)})"
        if token.create_time > self.oldest:
            return True, "never used"
        return True, f"not seen since {_day(self.oldest)}"

    # -- per-address evidence (incident response) ---------------------------------

    def seen_from(self, token):
        """(AddressUse list, newest first; the latest use of an address not kept, or None).

        Uses older than the token belong to an earlier token of the same name: an
        address used only then is left out, and one used before and after keeps
        first=None (its first use by THIS token is not known).
        """
        uses, dropped = self._addresses.get((token.owner, token.name), ((), None))
        mine = []
        for use in uses:
            if use.last < token.create_time:
                continue
            if use.first is not None and use.first < token.create_time:
                use = use._replace(first=None)
            mine.append(use)
        mine.sort(key=lambda u: (-u.last, u.ip))
        if dropped is not None and dropped < token.create_time:
            dropped = None
        return mine, dropped

    def _window_gaps(self, token, start):
        """Why the log cannot vouch for every use of `token` since `start`, or []."""
        if self.oldest is not None and self.oldest > start:
            return ["the usage log starts %s, after %s" % (_minute(self.oldest), _minute(start))]
        return []

    def used_since(self, token, since):
        """(True | False | None, why): used at or after `since`? None = the log cannot tell."""
        if self.oldest is None:
            return None, "no usage evidence (no api_tokens_log to read)"
        use = self.last_use(token)
        if use is not None and use.last_used >= since:
            where = f" from {use.last_ip}" if use.last_ip else ""
            return True, f"used {_minute(use.last_used)}{where}"
        gaps = self._window_gaps(token, max(since, token.create_time))
        if gaps:
            return None, "cannot tell whether used since %s: %s" % (_minute(since), gaps[0])
        if use is not None:
            return False, f"not used since {_minute(since)} (last used {_minute(use.last_used)})"
        return False, f"not used since {_minute(since)}"

    def used_from(self, token, networks, since=None):
        """(True | False | None, why, matching AddressUses): was the token used from one of
        `networks` (ipaddress networks), at or after `since` when given? None = the log
        cannot tell: it starts too late, names no address for some uses in that time,
        or more addresses were seen than are kept."""
        if self.oldest is None:
            return None, "no usage evidence (no api_tokens_log to read)", []
        start = token.create_time if since is None else max(since, token.create_time)
        seen, dropped = self.seen_from(token)
        in_window = [use for use in seen if use.last >= start]
        matched, unnamed = [], 0
        for use in in_window:
            verdict = address_in(use.ip, networks)
            if verdict:
                matched.append(use)
            elif verdict is None:
                unnamed += use.uses
        if matched:
            return True, "used from " + "; ".join(describe_address(u) for u in matched), matched
        gaps = self._window_gaps(token, start)
        if unnamed:
            gaps.append("%s since %s name no address" % (_plural(unnamed, "use"), _minute(start)))
        if dropped is not None and dropped >= start:
            gaps.append("used from more than %d addresses; only the most recent are kept"
                        % ADDRESS_CAP)
        where = " or ".join(str(n) for n in networks)
        if gaps:
            return None, "cannot tell whether used from %s: %s" % (where, "; ".join(gaps)), []
        since_words = "" if since is None else " since " + _minute(since)
        others = ", ".join(u.ip for u in in_window[:5])
        return False, "not used from %s%s%s" % (where, since_words,
                                                 " (seen from %s)" % others if others else ""), []


def address_in(ip, networks):
    """True / False: is `ip` (text from the log) in one of `networks`; None when it names
    no usable address (the line had none, or it is not an IP address)."""
    if not ip:
        return None
    import ipaddress  # only incident selections need it

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)  # ::ffff:203.0.113.7 is 203.0.113.7
    return any(a in network for a in candidates for network in networks)


def describe_address(use):
    """'203.0.113.7 (3 uses, first 2026-11-20 10:01 UTC, last 2026-11-28 08:00 UTC)'."""
    first = _minute(use.first) if use.first is not None else "unknown"
    return "%s (%s, first %s, last %s)" % (use.ip or "no address", _plural(use.uses, "use"),
                                           first, _minute(use.last))


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
        self.addresses = {}  # (owner, name) -> [{ip: [first, last, uses]}, dropped or None]
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
            "addresses": [[o, n, dropped, [[ip] + v for ip, v in ips.items()]]
                          for (o, n), (ips, dropped) in self.addresses.items()],
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
            state.tokens[(str(owner), str(name))] = [int(last), None if ip is None else str(ip),
                                                      int(uses)]
        for owner, name, dropped, ips in d["addresses"]:
            state.addresses[(str(owner), str(name))] = [
                {str(ip): [int(first), int(last), int(uses)] for ip, first, last, uses in ips},
                _opt_int(dropped)]
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
    # Only the live log may end with a line still being written: keep its
    # unterminated tail for the next load. A rotated file is final.
    split = _split_point(f.fileno(), state.offset)
    if split is not None:
        consumed, bytes_read = _read_in_two(f.fileno(), state, split, final=not active)
        if consumed is not None:
            state.offset += consumed
            _grown(f, state)
            return state, bytes_read, None
    f.seek(state.offset)
    scan = _Scan(state)
    consumed = scan.run(f.read, final=not active)
    state.offset += consumed
    _grown(f, state)
    return state, scan.bytes_read, None


def _grown(f, state):
    """Take the file's size after reading: lines appended while it was read were read too,
    and an entry whose offset passed the size seen at open would be thrown away (the cache
    never trusts an offset beyond the file), so a busy log would be read whole every time."""
    st = os.fstat(f.fileno())
    state.size, state.mtime = st.st_size, st.st_mtime


# ---------------------------------------------------------------- two processes
#
# Parsing is CPU-bound in `re`, which holds the GIL: a big unread file (a first
# load, a new archive) is read by two processes, each half of it, when the
# machine has a second CPU. Below this size the fork costs more than it saves.
PARALLEL_MIN = 64 << 20


def _split_point(fd, start):
    """Where a second process should start (just after a newline), or None."""
    if not hasattr(os, "fork") or not hasattr(os, "pread") or (os.cpu_count() or 1) < 2:
        return None
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return None  # forking a process with threads can deadlock its child
    if _children_reaped_for_us():
        return None  # the child's exit status would be lost: its answer could not be trusted
    size = os.fstat(fd).st_size
    if size - start < PARALLEL_MIN:
        return None
    middle = start + (size - start) // 2
    cut = os.pread(fd, MAX_LINE, middle).find(b"\n")
    return None if cut < 0 else middle + cut + 1


def _children_reaped_for_us():
    """Whether SIGCHLD is ignored (a Perl parent's $SIG{CHLD} = 'IGNORE' survives exec):
    the kernel then reaps children itself and waitpid fails with ECHILD."""
    import signal

    return signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN


def _reader(fd, position, stop=None):
    """read(n) over fd from `position` (to `stop`) with pread: the two processes
    share the file's offset, so neither may move it."""
    where = [position]

    def read(size):
        if stop is not None:
            size = min(size, stop - where[0])
            if size <= 0:
                return b""
        data = os.pread(fd, size, where[0])
        where[0] += len(data)
        return data
    return read


def _read_in_two(fd, state, split, final):
    """Parse [offset, split) here and [split, end) in a child; merge the child's
    answer as the later part of the file. (None, 0) when the child failed: the
    caller then reads the file alone, from the state as it was."""
    before = state.to_json()
    try:
        readable, writable = os.pipe()
    except OSError:
        return None, 0  # out of descriptors: one process reads it all
    try:
        pid = os.fork()
    except OSError:
        # Out of processes (RLIMIT_NPROC) or memory: one process reads it all. Never
        # "unreadable": a live log left out would make recently used tokens look unused.
        os.close(readable)
        os.close(writable)
        return None, 0
    if pid == 0:  # the child: the second half; it must never return into the caller
        status = 1
        try:
            os.close(readable)
            half = _FileState(state.path, state.dev, state.ino, state.size, state.mtime,
                              state.head_len, state.head_sha, state.codec)
            scan = _Scan(half)
            consumed = scan.run(_reader(fd, split), final=final)
            answer = half.to_json()
            answer.update(consumed=consumed, bytes_read=scan.bytes_read)
            data = json.dumps(answer).encode("utf-8")
            while data:
                data = data[os.write(writable, data):]
            status = 0
        finally:
            os._exit(status)
    os.close(writable)
    try:
        scan = _Scan(state)
        consumed = scan.run(_reader(fd, state.offset, split), final=True)
        chunks = []
        with os.fdopen(readable, "rb") as pipe:
            readable = None
            chunks.append(pipe.read())
    finally:
        if readable is not None:
            os.close(readable)
        status = _exit_status(pid)
    try:
        if status != 0:
            raise ValueError("the second reader failed")
        half = json.loads(b"".join(chunks).decode("utf-8"))
        _merge_half(state, half)
    except (ValueError, KeyError, TypeError):
        restored = _FileState.from_json(before)
        state.__dict__.update(restored.__dict__)
        return None, 0
    return consumed + int(half["consumed"]), scan.bytes_read + int(half["bytes_read"])


def _exit_status(pid):
    """The child's wait status; -1 (a failure) when it cannot be known (ECHILD: someone
    else reaped it), so its answer is never trusted without its exit status."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return -1


def _merge_half(state, half):
    """Add the second half's findings; on equal times its lines are the later ones."""
    later = _FileState.from_json(half)
    state.oldest = _pick(min, state.oldest, later.oldest)
    state.newest = _pick(max, state.newest, later.newest)
    state.lines += later.lines
    state.malformed += later.malformed
    for key, (last, ip, uses) in later.tokens.items():
        _add_use(state.tokens, key, last, ip, uses)
    _merge_addresses(state.addresses, later.addresses)


def _carry_over(prior, state):
    state.offset = prior.offset
    state.oldest, state.newest = prior.oldest, prior.newest
    state.lines, state.malformed = prior.lines, prior.malformed
    state.tokens = prior.tokens
    state.addresses = prior.addresses
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


_stamp_of = operator.itemgetter(0)
_pair_of = operator.itemgetter(1)
_PAIR_SEPARATOR = b", User: ['"
# Every line of a plain whostmgrd block holds this; counting it (C speed) tells at once
# whether the block also holds other services' lines.
_WHOSTMGRD_MARK = b"] info [whostmgrd] "
_FAST = {}  # UTC offset -> (loose, strict) patterns
# A stamp with its digits made zeros, and where its tens of minutes and seconds are.
_STAMP_SHAPE = b"0000-00-00 00:00:00"
_STAMP_LEN = len(_STAMP_SHAPE)
_MINUTE_TENS = 14
_SECOND_TENS = 17
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_UNDER_SIX = b"012345"


def _fast_patterns(offset):
    """The patterns of the fast path for lines written at UTC `offset` (e.g. b"+0300").

    Two groups per line: its time, and its Host/Status part with its user and
    token as one string (the "pair"). The offset is part of the pattern, so
    within a block every matched time is in one zone and the plain text of two
    times compares like the times do. The time is any 19 characters here:
    `_Scan._possible_stamps` checks every one of them at once, for less than
    matching them digit by digit costs.
    `loose` lets its gaps cross newlines (much faster in `re`); it is only
    trusted when every line of the block matched, which proves no match ran
    over two lines. `strict` cannot cross a newline, for blocks that also hold
    other services' lines.
    """
    patterns = _FAST.get(offset)
    if patterns is None:
        shape = (br"\n\[(.{19}) " + re.escape(offset) +
                 br"\] info \[whostmgrd\] ([^,%s]*, User: "
                 br"\['[^'%s]*'\], Token Name: \['[^'%s]*)'\]")
        patterns = (re.compile(shape % (b"", b"", b"")),
                    re.compile(shape % (b"\n", b"\n", b"\n")))
        _FAST[offset] = patterns
    return patterns


class _Scan:
    """Streams blocks of log text into a _FileState.

    Each block of whole lines takes the fast path when it can: one pattern
    finds every line's time and its Host/Status part with its user and token
    as one string (a "pair": one token used from one address), and C code
    (Counter, dict) counts each pair's uses and keeps its first and last time.
    Pairs are decoded once, at the end of the file, when the UTC offset
    changes or when too many piled up; a token's latest line is its pair
    with the latest time. A block the fast path cannot vouch for (damaged
    lines, unknown fields, mixed offsets) is read exactly, line by line. Both
    give the same answer for every line they both accept.
    """

    def __init__(self, state):
        self.state = state
        self.agg = {}  # (owner bytes, name bytes) -> [last, ip bytes or None, uses]
        self.addr = {}  # (owner bytes, name bytes) -> [{ip bytes: [first, last, uses]}, dropped]
        self.oldest = None
        self.newest = None
        self.bytes_read = 0
        self._epochs = {}  # (b"YYYY-MM-DD HH:MM", b"+HHMM") -> UTC epoch of that minute
        # The fast path's raw results, for lines written at self._offset: per pair,
        # its uses, its first and last stamp, and the number of the line that gave
        # the last stamp (of two pairs of a token with the same last time, the later
        # line is the token's latest, as in a line-by-line reading).
        self._offset = None
        self._newest_stamp = None
        self._fast_lines = 0
        self._pair_uses = collections.Counter()
        self._pair_first = {}
        self._pair_last = {}
        self._pair_line = {}

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
            # The newline in front makes the first line look like every other one.
            text = b"\n" + pending + block
            end = text.rfind(b"\n") + 1
            if end > 1:
                self._scan(text, end)
                consumed += end - 1
            pending = text[end:]
            if len(pending) > MAX_LINE:
                self.state.lines += 1
                self.state.malformed += 1
                consumed += len(pending)
                pending, skipping = b"", True
        if final and pending:
            self._scan(b"\n" + pending + b"\n", len(pending) + 2)
            consumed += len(pending)
        return consumed

    def _scan(self, text, end):
        """Parse the whole lines in text[1:end] (text[0] and text[end - 1] are newlines)."""
        lines = text.count(b"\n", 0, end) - 1
        self.state.lines += lines
        if not self._fast(text, end, lines):
            # The fast path's pending lines come first in the file: decode them now, so
            # that on equal times this block's lines win, as in a line-by-line reading.
            self._flush()
            self._exact(text, end, lines)

    # -- fast path

    def _fast(self, text, end, lines):
        """Take the block through the fast path; False (nothing taken) when it cannot."""
        taken = self._fast_lines_of(text, end, lines)
        if taken is None:
            return False
        found, offset = taken
        if not found:
            return True  # only other services' lines: counted, nothing else to take
        stamps = list(map(_stamp_of, found))
        ordered = sorted(stamps)
        if not self._possible_stamps(ordered, offset):
            # A damaged or impossible time (Feb 30, 24:00): the exact reading counts that
            # line as damaged. Here it could become a token's latest line and hide that
            # token's real uses.
            return False
        if offset != self._offset:
            self._flush()
            self._offset = offset
        in_sequence = ordered == stamps and (self._newest_stamp is None or
                                             stamps[0] >= self._newest_stamp)
        if self._newest_stamp is None or ordered[-1] > self._newest_stamp:
            self._newest_stamp = ordered[-1]
        self._tally_pairs(list(map(_pair_of, found)), stamps, in_sequence)
        self._span(self._fast_epoch(ordered[0], offset), self._fast_epoch(ordered[-1], offset))
        if len(self._pair_uses) > FLUSH_PAIRS:
            self._flush()  # decoding early changes no answer; it keeps memory bounded
        return True

    def _fast_lines_of(self, text, end, lines):
        """(every line's (stamp, pair), UTC offset) when the fast path may take the block
        (every line a plain whostmgrd line, or another service's); ([], None) for a block of
        other services' lines only; None when it may not."""
        first = _OFFSET_RE.search(text, 0, end)
        if first is None:
            return None
        offset = first.group(1)
        loose, strict = _fast_patterns(offset)
        if text.count(_WHOSTMGRD_MARK, 0, end) >= lines:
            found = loose.findall(text, 0, end)
            if len(found) == lines:
                return found, offset
        # Other services' lines, or lines the fast path does not know: it may only
        # go on when those are all other services' lines, counted exactly.
        others = len(_OTHER_RE.findall(text, 0, end))
        found = strict.findall(text, 0, end)
        if len(found) + others != lines:
            return None
        return found, offset

    def _tally_pairs(self, pairs, stamps, in_sequence):
        """Per pair: uses, first and last stamp, and the number of its latest line."""
        first_seen, last_seen, last_line = self._pair_first, self._pair_last, self._pair_line
        number = self._fast_lines
        self._fast_lines += len(pairs)
        self._pair_uses.update(pairs)
        if in_sequence:
            # In time order after everything before it (the usual case): each pair's last
            # line is its latest, and only pairs never seen get a first stamp. All in C.
            known = len(last_seen)
            last_seen.update(zip(pairs, stamps))
            last_line.update(zip(pairs, range(number, number + len(pairs))))
            if len(last_seen) > known:  # new pairs (first_seen has the same keys)
                block_first = dict(zip(reversed(pairs), reversed(stamps)))
                new = set(block_first).difference(first_seen)  # looked up in the dict, in C
                first_seen.update(zip(new, map(block_first.__getitem__, new)))
            return
        # Out of order (concurrent writers): visit the lines by time; the stable sort keeps
        # the later of two lines with the same time last, as a line-by-line reading does.
        order = sorted(range(len(pairs)), key=stamps.__getitem__)
        pairs = list(map(pairs.__getitem__, order))
        stamps = list(map(stamps.__getitem__, order))
        numbers = [number + index for index in order]
        # dict() keeps the last value of a repeated key: the latest, or (reversed) the first.
        for pair, stamp in dict(zip(reversed(pairs), reversed(stamps))).items():
            known = first_seen.get(pair)
            if known is None or stamp < known:
                first_seen[pair] = stamp
        for pair, (stamp, line) in dict(zip(pairs, zip(stamps, numbers))).items():
            known = last_seen.get(pair)
            if known is None or stamp >= known:  # on a tie the later line wins
                last_seen[pair] = stamp
                last_line[pair] = line

    def _possible_stamps(self, ordered, offset):
        """Whether every (sorted) stamp is a real time at a real UTC offset.

        The pattern takes any 19 characters as the time (matching it digit by digit
        costs more than this whole check); C code checks them all at once here: digits
        where digits belong, minutes and seconds under 60 (a leap second's block is read
        line by line), and per date (found by bisection: the stamps are sorted) that
        the date is real and its latest hour is at most 23.
        """
        import bisect  # only a first reading of a log needs it, not a page reload

        joined = b"".join(ordered)
        if joined.translate(_DIGITS_TO_ZERO) != _STAMP_SHAPE * len(ordered):
            return False
        if (joined[_MINUTE_TENS::_STAMP_LEN].translate(None, _UNDER_SIX) or
                joined[_SECOND_TENS::_STAMP_LEN].translate(None, _UNDER_SIX)):
            return False
        start = 0
        while start < len(ordered):
            date = ordered[start][:10]
            if self._day(date, offset) is None:
                return False
            start = bisect.bisect_right(ordered, date + b"\xff", start)
            if ordered[start - 1][11:13] > b"23":
                return False
        return True

    def _day(self, date, offset):
        """UTC epoch of midnight of b"YYYY-MM-DD" at UTC `offset`; None when impossible.
        (Memoised with the minutes: the fast path looks up days, which are few.)"""
        return self._minute(date + b" 00:00", offset, b"00")

    def _fast_epoch(self, stamp, offset):
        """UTC epoch of a stamp the fast path accepted (its date already proven real)."""
        return (self._day(stamp[:10], offset) + int(stamp[11:13]) * 3600 +
                int(stamp[14:16]) * 60 + int(stamp[17:19]))

    def _flush(self):
        """Decode the fast path's pairs into self.agg and self.addr."""
        offset = self._offset
        latest = {}  # (owner, name) -> [stamp, line number, fields of its latest line, uses]
        for pair, uses in self._pair_uses.items():
            fields, _, key = pair.partition(_PAIR_SEPARATOR)  # fields hold no comma
            owner, _, name = key.partition(_KEY_SEPARATOR)
            last, line = self._pair_last[pair], self._pair_line[pair]
            known = latest.get((owner, name))
            if known is None:
                latest[(owner, name)] = [last, line, fields, uses]
            else:
                known[3] += uses
                if (last, line) > (known[0], known[1]):
                    known[0], known[1], known[2] = last, line, fields
            host = _HOST_RE.match(fields)
            _add_address(self.addr, (owner, name), host.group(1) if host else b"",
                         self._fast_epoch(self._pair_first[pair], offset),
                         self._fast_epoch(last, offset), uses)
        for (owner, name), (stamp, _, fields, uses) in latest.items():
            host = _HOST_RE.match(fields)
            self._add(owner, name, self._fast_epoch(stamp, offset),
                      host.group(1) if host else None, uses)
        self._newest_stamp = None
        self._pair_uses = collections.Counter()
        self._pair_first = {}
        self._pair_last = {}
        self._pair_line = {}

    # -- exact path

    def _exact(self, text, end, lines):
        matches = _EXACT_RE.findall(text, 0, end)
        others = len(_OTHER_RE.findall(text, 0, end))
        bad = lines - len(matches) - others
        oldest = newest = None
        for t_minute, t_sec, t_offset, ip, owner, name in matches:
            ts = self._minute(t_minute, t_offset, t_sec)
            if ts is None:
                bad += 1
                continue
            if oldest is None or ts < oldest:
                oldest = ts
            if newest is None or ts > newest:
                newest = ts
            self._add(owner, name, ts, ip or None, 1)
            _add_address(self.addr, (owner, name), ip, ts, ts, 1)
        if oldest is not None:
            self._span(oldest, newest)
        self.state.malformed += bad

    # -- shared

    def _minute(self, minute, offset, seconds):
        # Lines arrive in time order, so a small memo of minute -> epoch avoids
        # nearly all date arithmetic; it is bounded (memory stays flat).
        key = (minute, offset)
        base = self._epochs.get(key, _MISSING)
        if base is _MISSING:
            if len(self._epochs) > 4096:
                self._epochs.clear()
            base = self._epochs[key] = _minute_epoch(minute, offset)
        if base is None or int(seconds) > 60:
            return None
        return base + int(seconds)

    def _add(self, owner, name, ts, ip, uses):
        entry = self.agg.get((owner, name))
        if entry is None:
            self.agg[(owner, name)] = [ts, ip, uses]
            return
        entry[2] += uses
        if ts >= entry[0]:  # in file order, the later line wins a tie
            entry[0] = ts
            entry[1] = ip

    def _span(self, oldest, newest):
        self.oldest = _pick(min, self.oldest, oldest)
        self.newest = _pick(max, self.newest, newest)

    def _finish(self):
        self._flush()
        state = self.state
        state.oldest = _pick(min, state.oldest, self.oldest)
        state.newest = _pick(max, state.newest, self.newest)
        for (owner, name), (last, ip, uses) in self.agg.items():
            _add_use(state.tokens, (_text(owner), _text(name)), last,
                     None if ip is None else _text(ip), uses)
        self.agg = {}
        _merge_addresses(state.addresses, {
            (_text(owner), _text(name)): [{_text(ip): v for ip, v in ips.items()}, dropped]
            for (owner, name), (ips, dropped) in self.addr.items()})
        self.addr = {}


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


def _add_address(table, key, ip, first, last, uses):
    """Count `uses` from address `ip` (b"" or "": none named) between first and last."""
    entry = table.get(key)
    if entry is None:
        entry = table[key] = [{}, None]
    ips = entry[0]
    known = ips.get(ip)
    if known is None:
        ips[ip] = [first, last, uses]
        if len(ips) > 2 * ADDRESS_CAP:  # trimmed now and then, not on every new address
            _trim_addresses(entry)
        return
    if first < known[0]:
        known[0] = first
    if last > known[1]:
        known[1] = last
    known[2] += uses


def _trim_addresses(entry):
    """Keep the ADDRESS_CAP most recently used addresses; remember the latest use of the rest."""
    ips, dropped = entry
    cap = ADDRESS_CAP
    if len(ips) <= cap:
        return
    ranked = sorted(ips.items(), key=lambda item: (item[1][1], item[0]), reverse=True)
    for ip, (_, last, _) in ranked[cap:]:
        del ips[ip]
        dropped = last if dropped is None else max(dropped, last)
    entry[1] = dropped


def _merge_addresses(into, more):
    """Add another reading's addresses (text keys) into `into`, trimmed to the cap."""
    for key, (ips, dropped) in more.items():
        entry = into.get(key)
        if entry is None:
            entry = into[key] = [{}, None]
        for ip, (first, last, uses) in ips.items():
            _add_address(into, key, ip, first, last, uses)
        if dropped is not None:
            entry[1] = dropped if entry[1] is None else max(entry[1], dropped)
        _trim_addresses(entry)


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
    tokens, addresses = {}, {}
    oldest = newest = None
    malformed = lines = 0
    for state in states:
        oldest = _pick(min, oldest, state.oldest)
        newest = _pick(max, newest, state.newest)
        malformed += state.malformed
        lines += state.lines
        for key, (last, ip, uses) in state.tokens.items():
            _add_use(tokens, key, last, ip, uses)
        _merge_addresses(addresses, state.addresses)
    usage = {key: TokenUsage(v[0], v[1], v[2]) for key, v in tokens.items()}
    seen = {key: (tuple(AddressUse(ip, *v) for ip, v in ips.items()), dropped)
            for key, (ips, dropped) in addresses.items()}
    return UsageFacts(usage, oldest, newest, malformed, lines, [s.path for s in states], seen)


# ---------------------------------------------------------------- cache


def _read_cache(cache_path, log_dir):
    """(cached file states by (dev, inode), the raw entries); ({}, None) without a usable cache."""
    try:
        data = json.loads(statefiles.read_bytes(cache_path).decode("utf-8"))
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
        if not _plausible(state):
            continue  # never trusted: that file is read again
        states[state.identity()] = state
    return states, entries


def _plausible(state):
    """Whether a cache entry could describe a real file. An entry whose fingerprint is
    empty would match ANY file at that inode (and skip its content), so it is ignored, as
    is one that claims more than the file held: a cache is a shortcut, never evidence."""
    return (
        state.head_len == min(state.size, HEAD_SIZE) and state.head_len > 0
        and re.match(r"^[0-9a-f]{64}\Z", state.head_sha) is not None
        and 0 <= state.offset <= state.size
        and (state.codec == "plain" or state.offset == 0)
        and state.lines >= 0 and 0 <= state.malformed <= state.lines
        and all(uses > 0 for _, _, uses in state.tokens.values())
        and all(uses > 0 and first <= last
                for ips, _ in state.addresses.values() for first, last, uses in ips.values())
    )


def _write_cache(cache_path, log_dir, entries):
    """Replace the cache atomically (0600); silently do without when it cannot be written."""
    data = {"version": CACHE_VERSION, "log_dir": log_dir, "files": entries}
    try:
        statefiles.write_atomically(
            cache_path, json.dumps(data, separators=(",", ":")).encode("utf-8"))
    except OSError:
        pass
