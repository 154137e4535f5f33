"""The log files: which exist, what each one is (identity, codec), and reading their
bytes (plain, compressed, or in two processes) into the line reader."""

import hashlib
import json
import os
import re
import stat
import sys

from .scan import MAX_LINE, _add_use, _merge_addresses, _pick, _Scan

LOG_DIR = ("usr", "local", "cpanel", "logs")
ACTIVE_NAME = "api_tokens_log"
# cpanellogd ("cPanel Log Rotation") keeps monthly archives here.
ARCHIVE_SUBDIR = "archive"
HEAD_SIZE = 4096

# api_tokens_log, plus what logrotate (numbered, dateext) and cpanellogd make of it:
# cpanellogd renames the live file to api_tokens_log.bkup, appends it gzipped to
# archive/api_tokens_log-MM-YYYY.gz, then deletes the .bkup; a .bkup left by an
# interrupted rotation holds lines found nowhere else.
_NAME_RE = re.compile(
    r"^api_tokens_log(?:\.bkup|[.-][0-9][0-9._-]*?)?(?:\.(?:gz|bz2|xz))?\Z")
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)

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
    except damaged_errors() as e:
        # Typically logrotate still compressing it: use what was read, and
        # read it again next time rather than caching half a file.
        state.cacheable = False
        error = f"damaged or incomplete {state.codec} data ({e})"
    return state, scan.bytes_read, error


def damaged_errors():
    """What reading a damaged or cut compressed file raises: a corrupt gzip stream raises
    zlib.error and a corrupt xz one lzma.LZMAError, neither an OSError."""
    import zlib

    errors = [OSError, EOFError, ValueError, zlib.error]
    try:
        import lzma
    except ImportError:
        return tuple(errors)
    return tuple(errors + [lzma.LZMAError])


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
