"""The unattended runs' quarantine step and the listing read only the part of the audit
log their tokens' lifetimes can hold (audit.read_about), not years of history, and find
the same quarantines as a full read.

Runs on every Python of the matrix (3.6 syntax).
"""

import json
import os
import random

import pytest

from tests.helpers import DAY, NOW
from tests.test_audit_window import bytes_read, line, write_log
from tokensweeper import quarantine
from tokensweeper.tokens import Token

YEAR = 365 * DAY


@pytest.fixture
def log_path(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    return str(state / "audit.log")


def entry(token, action, **extra):
    body = {"owner": token.owner, "name": token.name, "create_time": token.create_time,
            "kind": "whm", "action": action}
    body.update(extra)
    return body


def record(epoch, run_id, operation, event, tokens):
    body = {"epoch": epoch, "run_id": run_id, "operation": operation, "event": event,
            "tokens": tokens}
    return (json.dumps(body, sort_keys=True) + "\n").encode("utf-8")


def quarantine_run(epoch, run_id, tokens, outcome):
    own = [{"original_whitelist_ips": ["10.0.0.%d/32" % (n + 1)]} for n in range(len(tokens))]
    chunks = [record(epoch, run_id, "quarantine", "intent",
                     [entry(t, quarantine.QUARANTINE, identity=t.identity(), **o)
                      for t, o in zip(tokens, own)])]
    if outcome is not None:  # None: killed between the intent and the outcome
        chunks.append(record(epoch + 5, run_id, "quarantine", "outcome",
                             [entry(t, outcome) for t in tokens]))
    return chunks


def seen(held_map, tokens):
    """What a reader of held() uses, for the looked-up tokens."""
    keys = {(t.owner, t.name, t.create_time) for t in tokens}
    return {key: (h.since, h.run_id, h.originals, h.identity, h.confirmed, h.foreign)
            for key, h in held_map.items() if key in keys}


def marked(token):
    return Token(token.owner, token.name, token.create_time, token.expires_at,
                 whitelist_ips=(quarantine.MARKER,))


def test_the_window_finds_the_quarantines_a_full_read_finds(log_path):
    """Five years of quarantines, restores, revocations, runs killed half way and runs
    that found the marker set by someone else, tokens re-created under the same name:
    for the tokens listed now, the windowed replay equals the full one, at every
    quarantine_days setting, foreign or not."""
    rng = random.Random(28)
    listed, earlier = [], []
    for n in range(60):
        created = NOW - rng.randrange(1, 5 * 365) * DAY - rng.randrange(DAY)
        owner = listed[n - 40].owner if n >= 40 else rng.choice(["root", "res1", "res2"])
        made = Token(owner, "ci-%d" % (n % 40), created)
        (earlier if n >= 40 else listed).append(made)
    chunks = []
    for day_number in range(5 * 365, -1, -1):
        moment = NOW - day_number * DAY
        chunks.append(line(moment, "cron-%d" % day_number))
        known = [t for t in listed + earlier if t.create_time <= moment]
        if known and rng.random() < 0.15:
            chosen = rng.sample(known, min(len(known), rng.randrange(1, 4)))
            run_id = "q-%d" % day_number
            outcome = rng.choice([quarantine.QUARANTINED, quarantine.QUARANTINED,
                                  quarantine.LEFT_ALONE, quarantine.FAILED, None])
            chunks += quarantine_run(moment + 60, run_id, chosen, outcome)
        if known and rng.random() < 0.05:
            gone = rng.choice(known)
            operation, action = rng.choice([("restore", quarantine.RESTORED),
                                            ("sweep", "revoked")])
            chunks.append(record(moment + 90, "r-%d" % day_number, operation, "outcome",
                                 [entry(gone, action)]))
    write_log(log_path, chunks)
    found = 0
    for sample in (listed, listed[:5], [t for t in listed if t.create_time > NOW - YEAR]):
        for foreign in (False, True):
            for days in (0, 7, 90):
                whole = seen(quarantine.read_held(foreign, days), sample)
                windowed = seen(quarantine.read_held(foreign, days, about=sample), sample)
                assert windowed == whole, (len(sample), foreign, days)
                found += len(whole)
    assert found > 50  # the history really holds quarantines of the listed tokens


def test_a_token_quarantined_years_ago_is_still_found(log_path):
    """Quarantined three years ago and never revoked (quarantine_days long, or the cap
    kept deferring it): the window starts at its creation, so it is still in quarantine."""
    old = Token("res1", "legacy", NOW - 4 * YEAR)
    chunks = [line(NOW - 4 * YEAR + n * DAY, "before-%d" % n) for n in range(300)]
    chunks += quarantine_run(NOW - 3 * YEAR, "q-old", [old], quarantine.QUARANTINED)
    chunks += [line(NOW - 3 * YEAR + n * DAY, "after-%d" % n) for n in range(1, 3 * 365)]
    write_log(log_path, chunks)
    held = quarantine.held_among([marked(old)], days=3650)
    assert [(h.run_id, h.since, h.originals) for h in held.values()] == [
        ("q-old", NOW - 3 * YEAR, ("10.0.0.1/32",))]


def test_the_listing_reads_only_back_to_its_oldest_marked_token(log_path):
    """Five years of hourly records, the marked token created last month: the listing's
    quarantine lookup reads a few blocks, not the log."""
    fresh = Token("res1", "ci-fresh", NOW - 20 * DAY)
    chunks = [line(NOW - 5 * YEAR + n * 3600, "cron-%d" % n) for n in range(5 * 365 * 24)]
    chunks += quarantine_run(NOW - 10 * DAY, "q-fresh", [fresh], quarantine.QUARANTINED)
    write_log(log_path, chunks)
    size = os.path.getsize(log_path)
    before = bytes_read()
    held = quarantine.held_among([marked(fresh), Token("root", "unmarked", NOW - 4 * YEAR)])
    used = bytes_read() - before
    assert [h.run_id for h in held.values()] == ["q-fresh"]
    assert used < size // 20
    before = bytes_read()
    assert quarantine.read_held(about=[]) == {}
    assert bytes_read() - before < 4096


def test_an_untrusted_log_is_still_refused_through_the_window(log_path):
    fresh = Token("res1", "ci-fresh", NOW - 20 * DAY)
    write_log(log_path, quarantine_run(NOW - 10 * DAY, "q", [fresh], quarantine.QUARANTINED))
    os.chmod(log_path, 0o666)
    with pytest.raises(Exception) as raised:
        quarantine.held_among([marked(fresh)])
    assert "audit.log" in str(raised.value)
