"""Issues 25 and 26, a break-it pass: state files and listings as a hostile reseller or a
damaged disk leaves them, and every answer cPanel's own code gives. Bad input is refused
whole (never a crash, nothing else changed) and never steers what the sweeper revokes.

Each test here failed on the code before it. Runs on every Python of the matrix.
"""

import json
import os

import pytest

from tests.helpers import NOW, Cli, new_server

PAST_9999 = 253402300800  # 10000-01-01T00:00:00Z: no clock of the platform can show it


@pytest.fixture
def server(tmp_path):
    return new_server(tmp_path / "fake", resellers=["bob"])


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    run.config("mode: enforce\n")
    return run


# -- 1. the hook's queue: a time no clock can show ------------------------------------


def queue_file(cli, name, epoch, account="bob"):
    queue = os.path.join(cli.state_dir, "hook-queue")
    os.makedirs(queue, mode=0o700, exist_ok=True)
    os.chmod(cli.state_dir, 0o700)
    path = os.path.join(queue, name)
    with open(path, "w") as handle:
        json.dump({"account": account, "event": "Accounts::suspendacct", "key": "suspend",
                   "action": "revoke_all", "epoch": epoch}, handle)
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("epoch", [PAST_9999, 10 ** 30, -1, -10 ** 30],
                         ids=["year-10000", "huge", "before-1970", "huge-negative"])
def test_a_queued_event_with_a_time_past_any_clock_is_skipped_not_a_crash(cli, epoch):
    good = queue_file(cli, "1790000000-000000-11-aaaaaaaaaaaa.json", NOW)
    bad = queue_file(cli, "1790000001-000000-12-bbbbbbbbbbbb.json", epoch)
    said = "ignored %s in the hook queue: not a queued event this version wrote" % bad
    for argv in (["queue"], ["audit"]):
        run = cli(*argv)
        assert run.status == 0, run
        assert "Traceback" not in run.err and said in run.err
        assert "2026-11-27T12:00:00Z" in run.out  # the good event is listed still
    run = cli("queue", "--json")
    assert run.status == 0 and [e["queued"] for e in run.json()["queued"]] == [
        os.path.basename(good)]
    assert [said in p for p in run.json()["problems"]] == [True]
    assert os.path.exists(bad) and os.path.exists(good)  # nothing else changed
