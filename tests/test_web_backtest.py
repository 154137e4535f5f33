"""The Policy tab's back-test summary (issue 28): 30 and 90 days back beside the preview,
from one pass over api_tokens_log, cached for an hour in a private state file."""

import json
import os
import re

import pytest

from tests.helpers import DAY, NOW
from tests.test_backtest import line
from tests.test_web_cgi import Site
from tokensweeper import backtest, backtestcache, paths

CONFIG = "policy:\n  expired: false\n  unused_for_days: 30\n"


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.config.write_text(CONFIG)
    for name in ("idle-then-used", "idle-forever", "busy", "mid"):
        site.token("root", name, age=400)
    return site


@pytest.fixture
def reads(monkeypatch):
    """Every log file the back-test opens, in order."""
    opened = []
    real = backtest._read_file

    def counting(path, *args):
        opened.append(os.path.basename(path))
        return real(path, *args)

    monkeypatch.setattr(backtest, "_read_file", counting)
    return opened


def log_path(site):
    return site.root / "usr" / "local" / "cpanel" / "logs" / "api_tokens_log"


def write_log(site, lines):
    path = log_path(site)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def history():
    """Known answers with unused_for_days 30 (old-ci, created 400 days ago, is never used):
    30 days ago the policy would have revoked idle-then-used (used since), idle-forever, mid
    and old-ci: 4, 1 used afterwards (25%); 90 days ago idle-then-used (used since),
    idle-forever and old-ci: 3, 1 used afterwards (33%). busy is used all along."""
    return [
        line(NOW - 200 * DAY, "root", "idle-forever"),
        line(NOW - 150 * DAY, "root", "idle-then-used"),
        line(NOW - 100 * DAY, "root", "busy"),
        line(NOW - 95 * DAY, "root", "mid"),
        line(NOW - 70 * DAY, "root", "mid"),
        line(NOW - 35 * DAY, "root", "busy"),
        line(NOW - 10 * DAY, "root", "idle-then-used"),
        line(NOW - 1 * DAY, "root", "busy"),
    ]


def summary(reply):
    assert reply.status == 200, reply.text()
    match = re.search(r'<p class="ts-reason">(\d+ days ago: would have revoked[^<]*)</p>',
                      reply.body)
    assert match, reply.body
    return match.group(1)


KNOWN = ("30 days ago: would have revoked 4, 1 used afterwards (25%); "
         "90 days ago: would have revoked 3, 1 used afterwards (33%).")


def test_the_policy_tab_shows_both_back_tests_with_known_answers_from_one_read(site, reads):
    write_log(site, history())
    reply = site.get("page=sweep")
    assert summary(reply) == KNOWN
    assert reads == ["api_tokens_log"]  # both moments from one pass over the log
    body = reply.body
    assert 'id="ts-backtest-heading"' in body and "<caption>What the configured policy" in body
    assert "as computed at 12:00 UTC" in body
    assert 'href="index.cgi?page=backtest&amp;days=30"' in body
    assert 'href="index.cgi?page=backtest&amp;days=90"' in body
    # The detail page is the same back-test, row by row, without reading the log again.
    detail = site.get("page=backtest&days=30")
    text = detail.text()
    assert "would have revoked 4 tokens" in text and "a false-positive rate of 25%" in text
    assert "idle-then-used yes: a false positive" in text and "mid no" in text
    assert reads == ["api_tokens_log"]


def test_the_result_is_reused_within_the_hour_then_computed_again(site, reads):
    write_log(site, history())
    assert summary(site.get("page=sweep")) == KNOWN
    with open(str(log_path(site)), "a") as handle:  # idle-forever is used now, after all
        handle.write(line(NOW + 60, "root", "idle-forever"))
    later = site.get("page=sweep", now=NOW + 1800)
    assert summary(later) == KNOWN  # as computed half an hour ago, and says so
    assert "as computed at 12:00 UTC" in later.body
    assert reads == ["api_tokens_log"]
    fresh = site.get("page=sweep", now=NOW + 3601)
    assert summary(fresh) == ("30 days ago: would have revoked 4, 2 used afterwards (50%); "
                              "90 days ago: would have revoked 3, 2 used afterwards (67%).")
    assert "as computed at 13:00 UTC" in fresh.body
    assert reads == ["api_tokens_log"] * 2


def test_a_changed_policy_or_a_rotated_log_is_computed_again(site, reads):
    write_log(site, history())
    assert summary(site.get("page=sweep")) == KNOWN
    site.config.write_text("policy:\n  expired: false\n  unused_for_days: 100\n")
    assert summary(site.get("page=sweep")) == (
        "30 days ago: would have revoked 3, 1 used afterwards (33%); "
        "90 days ago: would have revoked 2, 0 used afterwards (0%).")
    assert len(reads) == 2
    site.config.write_text(CONFIG)
    assert summary(site.get("page=sweep")) == KNOWN
    # A rotation: the live file becomes a backup and a new live file starts.
    os.rename(str(log_path(site)), str(log_path(site)) + ".1")
    write_log(site, [line(NOW - 60, "root", "idle-forever")])
    rotated = summary(site.get("page=sweep"))
    assert rotated.startswith("30 days ago: would have revoked 4, 2 used afterwards (50%)")
    assert sorted(reads[-2:]) == ["api_tokens_log", "api_tokens_log.1"]


def test_a_foreign_or_damaged_cache_file_is_a_quiet_miss(site, reads):
    write_log(site, history())
    assert summary(site.get("page=sweep")) == KNOWN
    cache = os.path.join(paths.state_dir(), backtestcache.CACHE_NAME)
    assert os.stat(cache).st_mode & 0o077 == 0
    with open(cache) as handle:
        document = json.load(handle)
    for outcome in document["outcomes"].values():
        outcome["would_revoke"] = []

    def plant(mode):
        with open(cache, "w") as handle:
            handle.write(json.dumps(document))
        os.chmod(cache, mode)

    plant(0o600)  # ours and private: believed (this is what makes the cache a cache)
    assert summary(site.get("page=sweep")).startswith("30 days ago: would have revoked 0;")
    plant(0o666)  # anyone could have written it: ignored, computed again
    assert summary(site.get("page=sweep")) == KNOWN
    for junk in (b"\x00not json", b"[1, 2]", b'{"version": 1, "key": 5}'):
        with open(cache, "wb") as handle:
            handle.write(junk)
        os.chmod(cache, 0o600)
        assert summary(site.get("page=sweep")) == KNOWN
    document["outcomes"]["30"]["would_revoke"] = [{"owner": 1}]  # damaged: not a row
    plant(0o600)
    assert summary(site.get("page=sweep")) == KNOWN
    os.unlink(cache)
    os.symlink(str(log_path(site)), cache)
    assert summary(site.get("page=sweep")) == KNOWN


def test_without_a_readable_log_the_summary_says_so(site):
    reply = site.get("page=sweep")
    assert reply.status == 200
    text = reply.text()
    assert "No use of any token could be read from api_tokens_log" in text
    # Nothing can be proven unused without a log: every stale-looking token is not judged.
    assert re.search(r"30 days ago: would have revoked 0, \d+ could not be judged", text)


def test_a_log_that_does_not_reach_back_says_where_it_begins(site):
    write_log(site, history()[-2:])  # begins 10 days ago
    text = site.get("page=sweep").text()
    assert "The log begins on 2026-11-17 12:00 UTC, after this moment" in text

