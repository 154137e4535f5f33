"""Adversarial checks of the usage reader (breaker2): the two-process split when the
system refuses it, and the fast reading against the exact one on hostile logs."""

import errno
import os
import signal

import pytest

from tokensweeper import usage

from test_usage import line, load, root, state, utc, varied_log, write  # noqa: F401

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _split_always(monkeypatch):
    monkeypatch.setattr(usage, "PARALLEL_MIN", 1)
    monkeypatch.setattr(usage.os, "cpu_count", lambda: 2)


def _same_answer(one, other):
    assert (one.lines, one.malformed, one.oldest, one.newest) == (
        other.lines, other.malformed, other.oldest, other.newest)
    for user in ("res0", "res1", "res2", "res3"):
        for i in range(13):
            assert one.get(user, "tok-%d" % i) == other.get(user, "tok-%d" % i), (user, i)


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


@pytest.mark.parametrize("noticed", [True, False])
def test_an_ignored_sigchld_does_not_lose_the_live_log(root, state, monkeypatch, noticed):
    # A parent that ignores SIGCHLD (Perl's $SIG{CHLD} = 'IGNORE' survives exec) makes
    # waitpid fail with ECHILD: the child's half is then unknown, never the whole file.
    write(root, "api_tokens_log", varied_log(600))
    alone = load(root, state / "alone")
    _split_always(monkeypatch)
    if not noticed:  # the split goes ahead anyway: waitpid's ECHILD must not cost the file
        monkeypatch.setattr(usage, "_children_reaped_for_us", lambda: False)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        split = load(root, state / "split")
    finally:
        signal.signal(signal.SIGCHLD, previous)

    assert split.errors == ()
    _same_answer(split, alone)
