"""Adversarial checks of the usage reader: the two-process split when the
system refuses it, and the fast reading against the exact one on hostile logs."""

import collections
import errno
import gzip
import os
import signal
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_usage import line, load, utc, varied_log, write
from test_usage import logs_dir as logs_dir_of

from tokensweeper import usage

Tok = collections.namedtuple("Tok", "owner name create_time")
usage_gzip = gzip.compress


@pytest.fixture
def root(tmp_path):
    (tmp_path / "cpanel" / "usr" / "local" / "cpanel" / "logs").mkdir(parents=True)
    return tmp_path / "cpanel"


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _split_always(monkeypatch):
    monkeypatch.setattr(usage.files, "PARALLEL_MIN", 1)
    monkeypatch.setattr(usage.os, "cpu_count", lambda: 2)


def _same_answer(one, other):
    assert (one.lines, one.malformed, one.oldest, one.newest) == (
        other.lines, other.malformed, other.oldest, other.newest)
    for user in ("res0", "res1", "res2", "res3"):
        for i in range(13):
            assert one.get(user, "tok-%d" % i) == other.get(user, "tok-%d" % i), (user, i)


@needs_fork
@pytest.mark.parametrize("failing", ["fork", "pipe"])
def test_a_refused_fork_reads_the_live_log_alone_instead_of_dropping_it(
        root, state, monkeypatch, failing):
    # Out of processes (RLIMIT_NPROC) or descriptors: the live log must still be read.
    # Dropped, the tokens used only in it would read as unused from the older archives.
    write(root, "api_tokens_log.1", [line(utc(2026, 1, 1), "res0", "tok-0")])
    write(root, "api_tokens_log", varied_log(600))
    alone = load(root, state / "alone")
    _split_always(monkeypatch)

    def refuse(*_args):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    monkeypatch.setattr(usage.os, failing, refuse)

    split = load(root, state / "split")

    assert split.errors == ()
    _same_answer(split, alone)
    assert split.get("res1", "tok-1") is not None


@needs_fork
@pytest.mark.parametrize("noticed", [True, False])
def test_an_ignored_sigchld_does_not_lose_the_live_log(root, state, monkeypatch, noticed):
    # A parent that ignores SIGCHLD (Perl's $SIG{CHLD} = 'IGNORE' survives exec) makes
    # waitpid fail with ECHILD: the child's half is then unknown, never the whole file.
    write(root, "api_tokens_log", varied_log(600))
    alone = load(root, state / "alone")
    _split_always(monkeypatch)
    if not noticed:  # the split goes ahead anyway: waitpid's ECHILD must not cost the file
        monkeypatch.setattr(usage.files, "_children_reaped_for_us", lambda: False)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        split = load(root, state / "split")
    finally:
        signal.signal(signal.SIGCHLD, previous)

    assert split.errors == ()
    _same_answer(split, alone)


# ---------------------------------------------------------------- fast against exact

STAMPS = [
    "2026-11-10 10:00:00", "2026-11-10 10:00:00", "2026-11-10 10:00:01", "2026-11-11 23:59:59",
    "2026-02-28 12:00:00",
    # impossible ones cPanel never writes: a damaged line, never a use
    "2026-02-30 12:00:00", "2026-11-10 10:00:61", "2026-13-01 00:00:00", "2026-11-10 25:00:00",
    "2026-11-10 24:00:00", "2026-11-10 10:60:00", "2026-11-1x 10:00:00", "2026-11-10 10:00:0",
    # a leap second (cPanel writes what the clock says) and a leap day: real times
    "2016-12-31 23:59:60", "2024-02-29 12:00:00",
]
OFFSETS = ["+0000", "+0000", "-0600", "+0530", "+2400"]
USERS = ["root", "res1", "res1'] x", ""]
NAMES = ["tok", "tok-2", "t" * 50]
REQUESTS = [
    "GET /json-api/listaccts HTTP/1.1",
    "GET /x?a=', User: ['root'], Token Name: ['victim'] HTTP/1.1",  # injected fields
    "GET /a,b HTTP/1.1",
]


@st.composite
def log_line(draw):
    stamp, offset = draw(st.sampled_from(STAMPS)), draw(st.sampled_from(OFFSETS))
    level = draw(st.sampled_from(["info", "info", "warn"]))
    service = draw(st.sampled_from(["whostmgrd", "whostmgrd", "cpaneld"]))
    host = draw(st.sampled_from(["", "", "Host: ['10.0.0.1'] ", "Host: ['::1'] "]))
    text = ("[%s %s] %s [%s] %sHTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['%s']" % (stamp, offset, level, service, host, draw(st.sampled_from(USERS)),
                                 draw(st.sampled_from(NAMES)), draw(st.sampled_from(REQUESTS))))
    damage = draw(st.sampled_from(["", "", "", "crlf", "nul", "cut", "garbage", "long"]))
    if damage == "crlf":
        text += "\r"
    elif damage == "nul":
        text = text.replace("HTTP Status", "HTTP\0Status")
    elif damage == "cut":
        text = text[:draw(st.integers(0, len(text)))]
    elif damage == "garbage":
        text = draw(st.text(st.sampled_from("[]' ,:\r\0aU"), max_size=30))
    elif damage == "long":
        text += "x" * 300
    return text.encode("utf-8") + b"\n"


def _read(data, fast):
    state = usage.files._FileState("x", 0, 0, len(data), 0, 0, "", "plain")
    scan = usage.scan._Scan(state)
    with mock.patch.object(usage.scan._Scan, "_fast", usage.scan._Scan._fast if fast
                           else (lambda self, text, end, lines: False)):
        scan.run(__import__("io").BytesIO(data).read, final=True)
    return state


def _whm(stamp, user="root", name="tok", host="", offset="+0000"):
    return ("[%s %s] info [whostmgrd] %sHTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['GET / HTTP/1.1']\n" % (stamp, offset, host, user, name)).encode()


@settings(max_examples=150)
# A token's real use, then an impossible date for it: the real use must not be lost.
@example([_whm("2026-02-28 12:00:00"), _whm("2026-02-30 12:00:00"),
          _whm("2026-11-10 10:00:00", name="other")], 1 << 20)
# Two uses at the same second, the second in a block read line by line: the later one's
# (missing) address wins, as it does in a line-by-line reading.
@example([_whm("2026-11-10 10:00:00", host="Host: ['10.0.0.1'] "),
          _whm("2026-11-10 10:00:00", user="root'] x") + _whm("2026-11-10 10:00:00")], 256)
@given(st.lists(log_line(), max_size=40), st.sampled_from([64, 256, 1 << 20]))
def test_the_fast_reading_agrees_with_the_exact_one_on_any_log(lines, block):
    data = b"".join(lines)
    with mock.patch.object(usage.scan, "BLOCK_SIZE", block), \
            mock.patch.object(usage.scan, "MAX_LINE", 200), \
            mock.patch.object(usage.files, "MAX_LINE", 200):
        fast, exact = _read(data, True), _read(data, False)
    assert (fast.lines, fast.malformed, fast.oldest, fast.newest) == (
        exact.lines, exact.malformed, exact.oldest, exact.newest)
    assert fast.tokens == exact.tokens
    assert fast.addresses == exact.addresses


# ---------------------------------------------------------------- missing evidence


def test_a_file_that_could_not_be_read_whole_never_proves_disuse(root, state):
    # The archive reaches back far enough; the newer rotated file is cut short (or
    # unreadable) and its lost part held the token's last use: disuse is not proven.
    write(root, "archive/api_tokens_log-06-2026.gz", [line(utc(2026, 6, 1), "root", "other")],
          gz=True)
    lines = [line(utc(2026, 11, 1) + i, "root", "busy", ip="10.%d.%d.%d" % (i >> 16, i >> 8 & 255,
                                                                            i & 255))
             for i in range(20000)]
    lines.append(line(utc(2026, 11, 15), "root", "deploy"))
    whole = usage_gzip("".join(lines).encode())
    (logs_dir_of(root) / "api_tokens_log.1.gz").write_bytes(whole[:len(whole) // 2])
    deploy = Tok("root", "deploy", utc(2026, 5, 1))

    facts = load(root, state)

    assert facts.errors and facts.get("root", "deploy") is None
    selected, why = facts.unused_for(deploy, 30, utc(2026, 11, 20))
    assert not selected and "could not be read" in why and "api_tokens_log.1.gz" in why


def test_a_log_growing_while_it_is_read_is_still_cached(root, state, monkeypatch):
    # On a busy server lines are appended while a big log is being read: what was read
    # beyond the size seen at open is still a valid place to resume from next time.
    path = write(root, "api_tokens_log", varied_log(300))
    late = line(utc(2026, 11, 19), "res2", "tok-2", ip="10.7.7.7")
    real_run = usage.scan._Scan.run

    def run_while_written(self, read, final):
        with open(str(path), "a") as log:
            log.write(late)
        monkeypatch.setattr(usage.scan._Scan, "run", real_run)
        return real_run(self, read, final)
    monkeypatch.setattr(usage.scan._Scan, "run", run_while_written)
    first = load(root, state)
    assert first.get("res2", "tok-2").last_ip == "10.7.7.7"

    again = load(root, state)

    assert again.bytes_read == 0
    assert again.get("res2", "tok-2") == first.get("res2", "tok-2")
