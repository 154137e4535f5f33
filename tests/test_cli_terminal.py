"""The command in an 80-column terminal and the inventory as CSV (issue 30.3 and 30.11):
every table fits, the holder tells bob's WHM tokens from bob's cPanel account's (bob@cpanel),
a note repeated down a column is said once, `audit --run` says its selectors in words, and
`list --csv` is one row per token with the auditor's columns, safe in a spreadsheet."""

import csv
import io
import json
import re

import pytest

from tests.fakes import seed
from tests.fakes.fakeserver import FakeServer
from tests.helpers import DAY, NOW, Cli, add, new_server

NOT_LOGGED_NOTE = "cPanel-account token use is not in api_tokens_log"


@pytest.fixture
def server(tmp_path):
    fake = seed.seed_realistic(FakeServer(str(tmp_path / "fake")), NOW)
    with fake.batch():
        # bob's WHM `billing` and the `billing` of bob's own cPanel account.
        fake.add_reseller("bob")
        fake.add_account("bob", owner="root")
        add(fake, "bob", "billing", age_days=900)
        fake.add_cpanel_token("bob", "billing", NOW - 900 * DAY)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    server.write_token_files(run.cpanel_root)
    run.config("mode: enforce\npolicy:\n  expired: true\n  older_than_days: 730\n"
               "kinds: [whm, cpanel]\n")
    return run


def table_part(out):
    return out.split("\n\n")[0].splitlines()


def assert_fits(run, width=80):
    assert run.status == 0, run
    wide = [line for line in run.out.splitlines() if len(line) > width]
    assert wide == [], "%d lines wider than %d:\n%s" % (len(wide), width, "\n".join(wide))


def test_every_table_fits_80_columns(cli):
    for args in (("list",), ("plan",), ("audit",)):
        assert_fits(cli(*args, COLUMNS="80"))
    sweep = cli("sweep", "--yes", COLUMNS="80")
    assert_fits(sweep)
    assert "revoked" in sweep.out
    (run_id,) = {r["run_id"] for r in cli.audit_records()}
    assert_fits(cli("audit", "--run", run_id, COLUMNS="80"))
    # A pipe without COLUMNS is not a terminal: the table stays whole, one line a token.
    piped = cli("plan")
    assert any(len(line) > 80 for line in piped.out.splitlines())


def test_the_holder_tells_whm_from_cpanel_tokens_at_80_columns(cli):
    for args in (("list",), ("plan",)):
        run = cli(*args, COLUMNS="80")
        rows = [line.split()[:2] for line in table_part(run.out)]
        assert rows[0][0] == "HOLDER"
        assert ["bob", "billing"] in rows and ["bob@cpanel", "billing"] in rows, run.out


def test_a_repeated_note_is_one_footnote(cli):
    run = cli("plan", COLUMNS="80")
    assert run.out.count(NOT_LOGGED_NOTE) == 1
    (mark,) = re.findall(r"^(\[\d\]) " + NOT_LOGGED_NOTE + "$", run.out, re.M)
    cpanel_rows = [line for line in run.out.splitlines() if line.startswith("bob@cpanel ")]
    assert cpanel_rows and "unknown " + mark in cpanel_rows[0]
    # Every word of a reason is still there, under its row.
    assert "created 2024-06-10, 900 days ago" in run.out.replace("\n    ", " ")
    listed = cli("list", "--wide", COLUMNS="80")
    assert listed.out.count(NOT_LOGGED_NOTE) == 1 and "unknown [" in listed.out


def test_audit_run_says_its_selectors_in_words(cli):
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    cli("sweep", "--yes")
    runs = [r["run_id"] for r in cli.audit_records() if r["event"] == "outcome"]
    first = cli("audit", "--run", runs[0], COLUMNS="80")
    assert "Selected by: expired, owners bob" in first.out and "{" not in first.out
    policy = cli("audit", "--run", runs[1], COLUMNS="80")
    assert "Selected by: expired or older_than_days=730" in policy.out, policy.out


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_list_csv_is_the_inventory(cli, server):
    # cPanel allows [A-Za-z0-9_-] in a name: "-A1-B1" is a formula to a spreadsheet.
    server.add_token("acmeweb", "-A1-B1", NOW - 3 * DAY, acls={"list-accts": 1},
                     whitelist_ips=["10.0.0.1", "192.0.2.0/24"])
    run = cli("list", "--csv")
    assert run.status == 0, run
    assert run.out.splitlines()[0] == ("owner,kind,holder,account_of,name,created,created_by,"
                                       "expires,last_used,state,protected_by,full_access,"
                                       "ip_limit")
    rows = csv_rows(run.out)
    listed = json.loads(cli("list", "--json").out)["tokens"]
    assert len(rows) == len(listed)  # one row per token
    by_key = {(r["holder"], r["name"]): r for r in rows}
    whm, cpanel = by_key[("bob", "billing")], by_key[("bob@cpanel", "billing")]
    assert (whm["owner"], whm["kind"], whm["account_of"]) == ("bob", "whm", "")
    assert (cpanel["owner"], cpanel["kind"], cpanel["account_of"]) == ("bob", "cpanel", "root")
    assert whm["created"] == "2024-06-10T12:00:00Z" and whm["expires"] == ""
    assert whm["state"] == "stale by policy" and cpanel["last_used"] == ""
    trust = [r for r in rows if r["name"].startswith("reverse_trust_")][0]
    assert trust["state"] == "protected" and "DNS cluster trust" in trust["protected_by"]
    # A name a spreadsheet would run as a formula is written as text.
    hostile = by_key[("acmeweb", "'-A1-B1")]
    assert hostile["ip_limit"] == "10.0.0.1 192.0.2.0/24" and hostile["full_access"] == "no"


def test_list_csv_follows_the_filters_and_refuses_json(cli):
    rows = csv_rows(cli("list", "--csv", "--state", "expired", "--owner", "root").out)
    assert rows and {(r["owner"], r["state"]) for r in rows} == {("root", "expired")}
    both = cli("list", "--csv", "--json")
    assert both.status == 2 and "choose one" in both.err and both.out == ""


def test_list_csv_with_an_owner_that_cannot_be_listed(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob", "carol"])
    add(fake, "bob", "ok")
    fake.add_fault("fail", function="api_token_list", owner="carol")
    cli = Cli(fake, tmp_path / "run")
    run = cli("list", "--csv")
    assert run.status == 3 and "carol" in run.err
    assert [r["name"] for r in csv_rows(run.out)] == ["ok"]
