"""Who created each WHM API token: cPanel's /var/cpanel/accounting.log, read-only.

cPanel's `api_token_create` (Whostmgr/API/1/Tokens.pm) and
`scripts/convert_accesshash_to_token` append, after saving the token:

    <Perl's scalar localtime()>:CREATEAPITOKEN:<REMOTE_USER>:<REMOTE_USER>:not-applicable:<name>

e.g. `Sun Dec  6 01:23:01 2026:CREATEAPITOKEN:root:root:not-applicable:ci`. The time is the
server's local time (the same zone this process reads it in) and itself holds colons.
REMOTE_USER is the WHM user the call ran as: for api_token_create that is the token's
owner; convert_accesshash_to_token always writes `root`, also for a reseller's token.
Tokens made any other way (transfers, restores, DNS clustering, cPanel accounts' UAPI
calls) leave no line: their creator is unknown, never guessed.

cpanellogd rotates the file like its own logs (install/LogRotation.pm lists it;
Cpanel/Logs.pm `post_process_logs`): above the size threshold it is renamed to
`accounting.log.bkup`, appended gzip-compressed to `archive/accounting.log-MM-YYYY.gz`
beside it and the `.bkup` deleted; a `.bkup` left by an interrupted rotation holds lines
found nowhere else. All three are read.
"""

import os
import re
import time

from . import paths

# "Www Mmm dd hh:mm:ss yyyy" (dd space-padded), then the fields; names are cPanel's
# token names ([A-Za-z0-9_-], at most 50).
LINE_RE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +([0-9]{1,2}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})"
    r":CREATEAPITOKEN:([^:\n]*):([^:\n]*):not-applicable:([A-Za-z0-9_-]{1,50})\r?$")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ARCHIVE_RE = re.compile(r"^accounting\.log-[0-9]{2}-[0-9]{4}(?:_[A-Z]+)?\.gz$")
# The line is written right after the token is saved; a clock step or a slow disk aside,
# seconds apart. Local time is ambiguous only in the hour a DST change repeats: a line of
# that hour also matches an hour off (Creation.also), no other line does.
SLACK = 120
# Of a bigger log only its last MAX_BYTES (the newest lines) are read, and a bigger archive
# (compressed or inflated) not at all: the page must stay fast; older tokens stay unknown.
MAX_BYTES = 64 * 1024 * 1024
UNKNOWN = "unknown"
# The names scripts/convert_accesshash_to_token gives the tokens it imports ("accesshash-"
# time, then "-" and 8 of [0-9A-Z] when taken): the only lines root writes for another
# owner's token. Root's line under any other name is about root's own token.
CONVERTED_RE = re.compile(r"^accesshash-[0-9]+(?:-[0-9A-Z]{8})?\Z")


class Creation(object):
    __slots__ = ("epoch", "remote_user", "user", "name", "also")

    def __init__(self, epoch, remote_user, user, name, also=None):
        self.epoch = epoch
        self.remote_user = remote_user
        self.user = user
        self.name = name
        self.also = also  # the other epoch its local time names (a repeated hour), or None

    def gap(self, create_time):
        """Seconds between the line's time and create_time (the closer of a repeated
        hour's two readings)."""
        return min(abs(epoch - create_time) for epoch in (self.epoch, self.also)
                   if epoch is not None)


class Creations(list):
    """The Creations read, in file order, looked up by token name: every token's creator
    is asked for (list, the CSV download, the watch, the incident report), and going
    through every line once per token cost minutes on a busy server."""

    def named(self, name):
        index = getattr(self, "_by_name", None)
        if index is None:  # built on the first question, once
            index = self._by_name = {}
            for entry in self:
                index.setdefault(entry.name, []).append(entry)
        return index.get(name, ())


def log_path():
    return paths.cpanel_path("var", "cpanel", "accounting.log")


def parse_line(line):
    """A Creation from one CREATEAPITOKEN line, or None for any other line."""
    match = LINE_RE.match(line)
    if not match:
        return None
    month, mday, hour, minute, second, year, remote, user, name = match.groups()
    parts = (int(year), MONTHS.index(month) + 1, int(mday), int(hour), int(minute),
             int(second), 0, 0, -1)
    try:
        epoch = int(time.mktime(parts))
    except (OverflowError, ValueError):
        return None
    return Creation(epoch, remote, user, name, _repeated(epoch, parts[:6]))


def _repeated(epoch, fields):
    """The other epoch an hour away whose local time is the same `fields` (the hour a DST
    change repeats), or None."""
    for other in (epoch - 3600, epoch + 3600):
        try:
            if tuple(time.localtime(other)[:6]) == fields:
                return other
        except (OverflowError, ValueError, OSError):
            pass
    return None


def read(path=None):
    """Every CREATEAPITOKEN line of the live log, its `.bkup` and its archives (files that
    cannot be read add nothing: their tokens' creators stay unknown)."""
    path = path or log_path()
    found = Creations()
    for candidate in _files(path):
        found.extend(_read_one(candidate))
    return found


def _trusted(info):
    """Whether a file or directory is root's alone (the effective uid's: the tests run the
    reader unprivileged): anyone else who could write it could credit any token to anyone."""
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _trusted_dir(directory):
    import stat

    try:
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and _trusted(info)


def _files(path):
    if not _trusted_dir(os.path.dirname(path) or "."):
        return []
    directory = os.path.join(os.path.dirname(path), "archive")
    try:
        archives = sorted(name for name in os.listdir(directory)
                          if ARCHIVE_RE.match(name)) if _trusted_dir(directory) else []
    except OSError:
        archives = []
    return [os.path.join(directory, name) for name in archives] + [path + ".bkup", path]


# Files are read in blocks of this size, an archive's inflated output in pieces of at
# most INFLATE_PIECE input bytes (gzip inflates at most ~1000:1): memory stays a few MiB
# whatever the file's size (cPanel rotates the live log only past 300 MB).
BLOCK_SIZE = 1 << 20
INFLATE_PIECE = 4096
# A CREATEAPITOKEN line is under 200 bytes: a longer run without a newline is skipped.
MAX_LINE = 4096
MARK = b":CREATEAPITOKEN:"


class _Refused(Exception):
    """An archive that is damaged, truncated or inflates past MAX_BYTES: read as nothing."""


def _read_one(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return []
    try:
        import stat

        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _trusted(info):
            return []
        cut = info.st_size > MAX_BYTES
        if cut and path.endswith(".gz"):
            return []  # an archive is read whole or not at all
        with os.fdopen(fd, "rb") as handle:
            fd = None
            if path.endswith(".gz"):
                return _scan(_inflated(_blocks(handle), MAX_BYTES))
            if cut:  # its newest lines: cPanel rotates the live log only past 300 MB
                handle.seek(info.st_size - MAX_BYTES)
            return _scan(_blocks(handle, MAX_BYTES), partial_first=cut)
    except (OSError, _Refused):
        return []
    finally:
        if fd is not None:
            os.close(fd)


def _blocks(handle, limit=None):
    """The file's bytes from where it stands, BLOCK_SIZE at a time (at most `limit`)."""
    left = limit
    while left is None or left > 0:
        block = handle.read(BLOCK_SIZE if left is None else min(BLOCK_SIZE, left))
        if not block:
            return
        if left is not None:
            left -= len(block)
        yield block


def _scan(blocks, partial_first=False):
    """The Creations of a stream of blocks, line by line, holding one block and one line.
    `partial_first`: the stream starts inside a line (a cut log): that line is skipped."""
    found = []
    tail = b""
    skipping = partial_first  # inside a line that is not read (cut, or too long)
    for block in blocks:
        newline = block.rfind(b"\n")
        if newline < 0:
            tail, skipping = _carry(tail, block, skipping)
            continue
        lines = block[:newline]
        if skipping:
            first = lines.find(b"\n")
            lines = lines[first + 1:] if first >= 0 else b""
        else:
            lines = tail + lines
        found.extend(_creations(lines))
        tail, skipping = _carry(b"", block[newline + 1:], False)
    if not skipping:
        found.extend(_creations(tail))
    return found


def _carry(tail, more, skipping):
    """(the unfinished line, whether it is skipped) after `more` bytes without a newline."""
    if skipping:
        return b"", True
    tail += more
    return (b"", True) if len(tail) > MAX_LINE else (tail, False)


def _creations(lines):
    """Creations of the CREATEAPITOKEN lines among newline-separated bytes (only those
    lines are decoded)."""
    found = []
    at = lines.find(MARK)
    while at >= 0:
        start = lines.rfind(b"\n", 0, at) + 1
        end = lines.find(b"\n", at)
        end = len(lines) if end < 0 else end
        creation = parse_line(lines[start:end].decode("utf-8", "replace"))
        if creation is not None:
            found.append(creation)
        at = lines.find(MARK, end)
    return found


def _inflated(blocks, limit):
    """The inflated bytes of every gzip member in `blocks` (cpanellogd appends one per
    rotation), piece by piece; _Refused when damaged, truncated or past `limit` bytes (a
    few MiB of gzip can hold gigabytes: never inflated whole into memory)."""
    import zlib

    member, size = None, 0
    try:
        for block in blocks:
            at = 0
            while at < len(block):
                if member is None:
                    while at < len(block) and block[at] == 0:
                        at += 1  # gzip's trailing padding, as gzip reads it
                    if at == len(block):
                        break
                    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
                piece = block[at:at + INFLATE_PIECE]
                at += len(piece)
                out = member.decompress(piece)
                size += len(out)
                if size > limit:
                    raise _Refused()
                if out:
                    yield out
                if member.eof:
                    at -= len(member.unused_data)  # the next member starts there
                    member = None
    except zlib.error:
        raise _Refused()
    if member is not None:
        raise _Refused()  # truncated


def creator(token, creations):
    """Who created `token` (see creator_of)."""
    return creator_of(token.kind, token.owner, token.name, token.create_time, creations)


def creator_of(kind, owner, name, create_time, creations):
    """Who created a token (a WHM user name) by the log, or None when it does not say.

    A line matches by name and time; its user must be the token's owner, or root for a
    token named as convert_accesshash_to_token names them (it writes root for every
    owner). The owner's own line wins, then the closest in time."""
    if kind != "whm" or not isinstance(create_time, int) or isinstance(create_time, bool):
        return None
    best = None
    for entry in creations.named(name) if isinstance(creations, Creations) else creations:
        if entry.name != name or entry.gap(create_time) > SLACK:
            continue
        if entry.user != owner and not (entry.user == "root" and CONVERTED_RE.match(name)):
            continue
        if not entry.remote_user:
            continue
        rank = (entry.user != owner, entry.gap(create_time))
        if best is None or rank < best[0]:
            best = (rank, entry.remote_user)
    return best[1] if best else None


def creators(tokens, creations=None):
    """{token.key(): creator or None} for these tokens (read the log once)."""
    creations = read() if creations is None else creations
    return {token.key(): creator(token, creations) for token in tokens}


def words(who):
    return who or UNKNOWN
