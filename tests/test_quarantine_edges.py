"""Quarantine and restore at their edges (issue 28, broken on purpose): lists that hold the
quarantine address among others, runs that select a token already held, time."""

import pytest

from tests.helpers import DAY, LIMITED, NOW, Cli, add, new_server
from tests.test_quarantine import BOB_IPS, CONFIG, at, ips
from tokensweeper import quarantine


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    with fake.batch():
        add(fake, "root", "old-ci", age_days=400)
        add(fake, "bob", "deploy", age_days=500, expires_in_days=300, acls=LIMITED,
            ips=BOB_IPS)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    runner = Cli(server, tmp_path / "run")
    runner.config(CONFIG)
    return runner


def test_a_list_holding_the_marker_among_others_comes_back(cli, server):
    add(server, "bob", "mixed", age_days=400, ips=["10.0.0.1", quarantine.MARKER])
    run = cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes")
    assert run.status == 0, run
    assert ips(server, "bob", "mixed") == [quarantine.MARKER]
    run = cli("restore", "--owner", "bob", "--name", "mixed")
    assert run.status == 0, run
    assert ips(server, "bob", "mixed") == ["10.0.0.1", quarantine.MARKER]


def test_a_token_whose_list_could_not_be_put_back_is_not_quarantined(cli, server):
    # A list restore could not send back (more than cPanel's 100 entries, written to the
    # token file by hand): quarantining it would be a revocation that cannot be undone.
    many = ["10.1.%d.%d" % (i // 200, i % 200) for i in range(101)]
    add(server, "bob", "huge", age_days=400, ips=many)
    run = cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes", "--json")
    assert run.status == 3, run
    outcomes = {t["name"]: t["action"] for t in run.json()["tokens"]}
    assert outcomes == {"deploy": "quarantined", "huge": "failed"}
    assert ips(server, "bob", "huge") == many


def test_a_hundred_addresses_v4_v6_and_ranges_come_back_exactly(cli, server):
    # IPv6 as cPanel lists it (Net::IP writes every group out: tests/contract).
    hundred = (["10.2.0.%d" % i for i in range(1, 95)]
               + ["10.3.0.0/16", "2001:0db8:0000:0000:0000:0000:0000:0001",
                  "2001:0db8:0001:0000:0000:0000:0000:0000/48", "198.51.100.0/24",
                  "2001:0db8:ffff:0000:0000:0000:0000:0007", "203.0.113.9"])
    add(server, "bob", "wide", age_days=400, ips=hundred)
    before = ips(server, "bob", "wide")
    assert len(before) == 100
    assert cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes").status == 0
    assert ips(server, "bob", "wide") == [quarantine.MARKER]
    assert cli("restore", "--owner", "bob", "--name", "wide").status == 0
    # cPanel keeps a list in its own order (IPv4 first): the same entries, each once.
    assert sorted(ips(server, "bob", "wide")) == sorted(before)


def _undo_by_hand(server, owner, name, ips):
    """The owner sets the token's IP list back in WHM (api_token_update as the reseller),
    outside tokensweeper: not a restore."""
    tokens = server.tokens(owner)
    tokens[name]["whitelist_ips"] = ips
    server.replace_tokens(owner, tokens)


def test_an_owner_undoing_the_quarantine_by_hand_does_not_restart_the_count(cli, server):
    # A reseller who sets the list back after every run must not keep a token the policy
    # selects alive for ever: quarantine_days counts from the first quarantine.
    for day in range(10):
        at(cli, server, NOW + day * DAY)
        run = cli("sweep", "--scheduled")
        assert run.status == 0, run
        if "deploy" not in server.token_names("bob"):
            break
        assert ips(server, "bob", "deploy") == [quarantine.MARKER]
        _undo_by_hand(server, "bob", "deploy", BOB_IPS)
    assert server.token_names("bob") == set(), "still there on day %d" % day
    assert day == 7  # revoked on the day the first quarantine's seven days ran out


def test_a_run_killed_before_its_call_never_counts_as_a_quarantine(cli, server):
    # kill -9 between the intent record and the call: the record is there, the token never
    # changed. Days later it is quarantined first, never revoked straight away.
    assert cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes").status == 0
    with open(cli.audit_path) as handle:
        lines = [line for line in handle if '"event":"intent"' in line]
    with open(cli.audit_path, "w") as handle:
        handle.writelines(lines)
    _undo_by_hand(server, "bob", "deploy", BOB_IPS)  # as if the call never ran
    at(cli, server, NOW + 9 * DAY)
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    assert "deploy" in server.token_names("bob")


def test_an_owner_showing_the_quarantine_address_at_each_run_is_not_spared(cli, server):
    # The owner limits the token to 192.0.2.1 before each run (left alone: it works from
    # nowhere) and sets it back after: quarantine must not spare a selected token for
    # ever. It counts as in quarantine from the first run that left it alone.
    for day in range(10):
        at(cli, server, NOW + day * DAY)
        if "deploy" not in server.token_names("bob"):
            break
        _undo_by_hand(server, "bob", "deploy", [quarantine.MARKER])
        run = cli("sweep", "--scheduled")
        assert run.status == 0, run
        if "deploy" in server.token_names("bob"):
            _undo_by_hand(server, "bob", "deploy", BOB_IPS)
    assert server.token_names("bob") == set(), "still there on day %d" % day
    assert day == 8  # revoked by the run of day 7
    # Never "restorable": tokensweeper did not set that address.
    assert cli("restore", "--owner", "bob", "--name", "deploy").status == 1


def test_a_token_selected_again_long_after_an_undone_quarantine_is_quarantined_first(cli,
                                                                                     server):
    # Quarantined, set back by hand, then not selected for months (protected a while):
    # selected again, it is quarantined first, never revoked on the old quarantine's word.
    assert cli("sweep", "--scheduled").status == 0
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    _undo_by_hand(server, "bob", "deploy", BOB_IPS)
    at(cli, server, NOW + 60 * DAY)
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert "deploy" in server.token_names("bob")
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    at(cli, server, NOW + 61 * DAY)
    assert cli("sweep", "--scheduled").status == 0
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    shown = cli("list", "--state", "quarantined", "--json").json()["tokens"]
    assert [t["revoke_on"] for t in shown if t["name"] == "deploy"] == ["2027-02-02"]
