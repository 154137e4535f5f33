"""`tokensweeper backtest` on a synthetic api_tokens_log with known answers (issue 28)."""

import gzip
import os
import time

import pytest

from tests.helpers import DAY, NOW, Cli, new_server

AS_OF = NOW - 30 * DAY  # 2026-10-28 12:00 UTC
CONFIG = "policy:\n  expired: false\n  unused_for_days: 30\n"


def stamp(epoch, offset_hours=0):
    local = time.gmtime(epoch + offset_hours * 3600)
    return "%s %s%02d00" % (time.strftime("%Y-%m-%d %H:%M:%S", local),
                            "-" if offset_hours < 0 else "+", abs(offset_hours))


def line(epoch, owner, name, service="whostmgrd", offset_hours=0, host=None):
    host_part = " Host: ['%s']" % host if host else ""
    return ("[%s] info [%s]%s HTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['GET /json-api/listaccts HTTP/1.1']\n"
            % (stamp(epoch, offset_hours), service, host_part, owner, name))


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    with fake.batch():
        for owner, name in (("root", "idle-then-used"), ("root", "idle-forever"),
                            ("root", "busy"), ("bob", "bob-idle")):
            fake.add_token(owner, name, NOW - 400 * DAY)
        fake.add_token("root", "young", AS_OF - 10 * DAY)
        fake.add_token("root", "born-after", AS_OF + DAY)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    runner = Cli(server, tmp_path / "run")
    runner.config(CONFIG)
    return runner


def write_log(cli, lines, name="api_tokens_log", compress=False):
    directory = os.path.join(cli.cpanel_root, "usr", "local", "cpanel", "logs")
    os.makedirs(os.path.join(directory, "archive"), exist_ok=True)
    data = "".join(lines).encode("utf-8")
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(gzip.compress(data) if compress else data)


def history():
    """Known answers: idle-then-used, idle-forever and bob-idle were unused for 30 days as
    of AS_OF; only idle-then-used was used afterwards (a cPanel service's line of
    idle-forever is no use of it)."""
    return [
        line(AS_OF - 100 * DAY, "root", "busy"),
        line(AS_OF - 90 * DAY, "root", "idle-forever"),
        line(AS_OF - 60 * DAY, "root", "idle-then-used", offset_hours=3),
        line(AS_OF - 45 * DAY, "bob", "bob-idle", host="10.0.0.1"),
        line(AS_OF - 2 * DAY, "root", "busy", offset_hours=-6),
        line(AS_OF + 5 * DAY, "root", "idle-then-used"),
        line(AS_OF + 6 * DAY, "root", "idle-forever", service="cpaneld"),
        line(AS_OF + 7 * DAY, "root", "born-after"),
        "garbage that is no log line\n",
    ]


def test_backtest_with_known_answers(cli, server):
    # The older half rotated into an archive, the newer one live: both are read.
    lines = history()
    write_log(cli, lines[:4], "archive/api_tokens_log-09-2026.gz", compress=True)
    write_log(cli, lines[4:])
    run = cli("backtest", "--as-of", "30d", "--json")
    assert run.status == 0, run
    document = run.json()
    assert document["as_of"] == "2026-10-28T12:00:00Z"
    answers = {(e["owner"], e["name"]): e["used_after"] for e in document["would_revoke"]}
    assert answers == {("root", "idle-then-used"): True, ("root", "idle-forever"): False,
                       ("bob", "bob-idle"): False}
    assert document["false_positive_rate"] == pytest.approx(1 / 3.0, abs=1e-4)
    assert document["cannot_judge"] == []
    assert server.calls("api_token_revoke") == [] and server.calls("batch") == []
    text = cli("backtest", "--as-of", "2026-10-28T12:00Z")
    assert text.status == 0, text
    assert "would have revoked 3 tokens" in text.out and "33%" in text.out


def test_a_log_that_starts_after_the_moment_vouches_for_nothing(cli, server):
    write_log(cli, history()[4:])  # begins two days before AS_OF: 30 days not covered
    document = cli("backtest", "--as-of", "30d", "--json").json()
    assert document["would_revoke"] == []
    assert document["false_positive_rate"] is None
    apart = {(e["owner"], e["name"]) for e in document["cannot_judge"]}
    assert {("root", "idle-forever"), ("bob", "bob-idle")} <= apart


def test_age_policy_without_log_coverage_counts_only_proven_uses(cli, server):
    cli.config("policy:\n  expired: false\n  older_than_days: 300\n")
    write_log(cli, [line(AS_OF + 5 * DAY, "root", "idle-then-used")])
    document = cli("backtest", "--as-of", "30d", "--json").json()
    assert [(e["name"], e["used_after"]) for e in document["would_revoke"]] == [
        ("idle-then-used", True)]
    apart = {e["name"] for e in document["cannot_judge"]}
    assert apart == {"idle-forever", "busy", "bob-idle"}


@pytest.mark.parametrize("args", [("backtest",), ("backtest", "--as-of", "yesterday"),
                                  ("backtest", "--as-of", "2099-01-01")])
def test_backtest_usage_errors(cli, server, args):
    run = cli(*args)
    assert run.status == 2, run
    assert server.calls() == []


def test_a_line_without_end_and_lines_across_blocks_are_read_right(cli, server, monkeypatch):
    from tokensweeper import backtest

    monkeypatch.setattr(backtest, "BLOCK", 97)  # every line crosses a block boundary
    monkeypatch.setattr(backtest, "MAX_LINE", 400)
    directory = os.path.join(cli.cpanel_root, "usr", "local", "cpanel", "logs")
    os.makedirs(directory)
    with open(os.path.join(directory, "api_tokens_log"), "w") as handle:
        handle.write("".join(history()[:4]) + "x" * 5000 + "\n" + "".join(history()[4:]))
    split = backtest.read_split(AS_OF, cli.cpanel_root)
    assert split.before[("root", "idle-forever")][0] == AS_OF - 90 * DAY
    assert split.before[("root", "busy")] == [AS_OF - 2 * DAY, 2]
    assert split.after == {("root", "idle-then-used"): AS_OF + 5 * DAY,
                           ("root", "born-after"): AS_OF + 7 * DAY}
    assert split.oldest == AS_OF - 100 * DAY
