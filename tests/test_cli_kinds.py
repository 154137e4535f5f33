"""The command with cPanel accounts' own tokens (issue 15): --kind on list, plan, sweep and
revoke, --reseller, the KIND column and `kind` in --json, the config's kinds (a config
without them stays on WHM tokens), cron's scheduled sweep and the audit command."""

import json

import pytest

from tests.helpers import DAY, NOW, Cli, add, new_server


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    with fake.batch():
        fake.add_account("bob", owner="root")
        fake.add_account("shop", owner="bob")
        fake.add_account("blog", owner="root")
        add(fake, "bob", "foo", age_days=50, expires_in_days=-2)
        add(fake, "root", "root-fine", age_days=5)
        fake.add_cpanel_token("bob", "foo", NOW - 40 * DAY, expires_at=NOW - DAY)
        fake.add_cpanel_token("shop", "deploy", NOW - 90 * DAY, expires_at=NOW - 5 * DAY)
        fake.add_cpanel_token("shop", "fine", NOW - 9 * DAY)
        fake.add_cpanel_token("blog", "old", NOW - 500 * DAY, expires_at=NOW - 100 * DAY)
        fake.add_cpanel_token("blog", "MailNodeLinkage", NOW - 300 * DAY, expires_at=NOW - DAY)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    server.write_token_files(run.cpanel_root)
    return run


def keys(tokens):
    return sorted((t["kind"], t["owner"], t["name"]) for t in tokens)


def test_list_without_kinds_in_the_config_shows_whm_tokens_only(cli, server):
    run = cli("list", "--json")
    assert run.status == 0, run
    assert keys(json.loads(run.out)["tokens"]) == [("whm", "bob", "foo"),
                                                   ("whm", "root", "root-fine")]
    assert server.calls("batch") == []  # not one call about cPanel accounts


def test_list_kind_cpanel_has_a_kind_column_and_the_accounts_owner(cli):
    run = cli("list", "--kind", "cpanel", "--wide")
    assert run.status == 0, run
    header = run.out.splitlines()[0].split()
    assert header[:4] == ["HOLDER", "NAME", "STATE", "KIND"] and header[-1] == "ACCOUNT_OF"
    shop = [line.split() for line in run.out.splitlines() if " deploy " in line][0]
    assert shop[0] == "shop@cpanel" and "cpanel" in shop and shop[-1] == "bob"
    assert "5 tokens of 3 owners" in run.out
    document = json.loads(cli("list", "--kind", "cpanel", "--json").out)
    deploy = [t for t in document["tokens"] if t["name"] == "deploy"][0]
    assert (deploy["kind"], deploy["account_of"]) == ("cpanel", "bob")
    assert deploy["last_used"] == ("unknown (cPanel-account token use is not in "
                                   "api_tokens_log)")


def test_the_config_opts_in_and_list_shows_both(cli):
    cli.config("kinds: [whm, cpanel]\n")
    tokens = json.loads(cli("list", "--json").out)["tokens"]
    assert ("cpanel", "bob", "foo") in keys(tokens) and ("whm", "bob", "foo") in keys(tokens)
    only = json.loads(cli("list", "--kind", "whm", "--json").out)["tokens"]
    assert {t["kind"] for t in only} == {"whm"}


def test_reseller_selects_its_accounts_cpanel_tokens(cli):
    run = cli("plan", "--expired", "--reseller", "bob", "--json")
    assert run.status == 0, run
    document = json.loads(run.out)
    revoke = [(t["kind"], t["owner"], t["name"]) for t in document["tokens"]
              if t["decision"] == "revoke"]
    assert revoke == [("cpanel", "shop", "deploy")]
    assert document["selectors"]["resellers"] == ["bob"]
    listed = json.loads(cli("list", "--reseller", "bob", "--json").out)["tokens"]
    assert keys(listed) == [("cpanel", "shop", "deploy"), ("cpanel", "shop", "fine")]
    assert cli("plan", "--expired", "--reseller", "bob", "--kind", "whm").status == 2


def test_plan_and_sweep_kind_cpanel_revoke_cpanel_tokens_only(cli, server):
    plan = cli("plan", "--expired", "--kind", "cpanel")
    assert plan.status == 0, plan
    assert plan.out.splitlines()[0].split()[:3] == ["HOLDER", "NAME", "ACTION"]
    assert "3 tokens of 3 owners would be revoked, 1 token kept as protected" in plan.out
    run = cli("sweep", "--expired", "--kind", "cpanel", "--yes", "--json")
    assert run.status == 0, run
    outcome = {(t["kind"], t["owner"], t["name"]): t["action"]
               for t in json.loads(run.out)["tokens"]}
    assert outcome == {("cpanel", "bob", "foo"): "revoked", ("cpanel", "shop", "deploy"): "revoked",
                       ("cpanel", "blog", "old"): "revoked",
                       ("cpanel", "blog", "MailNodeLinkage"): "kept-protected"}
    assert server.token_names("bob") == {"foo"}  # bob's WHM foo is still there
    assert server.cpanel_token_names("bob") == set()
    records = cli.audit_records()
    assert {t["kind"] for r in records for t in r["tokens"]} == {"cpanel"}


def test_revoke_kind_cpanel_takes_the_accounts_token_not_the_resellers(cli, server):
    run = cli("revoke", "--kind", "cpanel", "--owner", "bob", "foo", "--yes")
    assert run.status == 0, run
    assert server.cpanel_token_names("bob") == set()
    assert server.token_names("bob") == {"foo"}
    assert server.calls("api_token_revoke") == []
    run = cli("revoke", "--owner", "bob", "foo", "--yes")  # --kind whm is the default
    assert run.status == 0, run
    assert server.token_names("bob") == set()


def test_revoke_kind_cpanel_of_an_account_without_tokens_is_a_usage_error(cli, server):
    server.add_fault("fail", function="uapi_cpanel", owner="nobody")
    run = cli("revoke", "--kind", "cpanel", "--owner", "nobody", "x", "--yes")
    assert run.status == 2, run
    assert "nobody has no cPanel API tokens" in run.err


def test_the_scheduled_sweep_follows_the_configs_kinds_and_refuses_kind(cli, server):
    cli.config("mode: enforce\nkinds: [cpanel]\n")
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert server.cpanel_token_names("shop") == {"fine"}
    assert server.token_names("bob") == {"foo"}  # WHM tokens are not this config's kind
    assert cli("sweep", "--scheduled", "--kind", "whm").status == 2


def test_an_enforce_config_without_kinds_never_revokes_cpanel_tokens(cli, server):
    cli.config("mode: enforce\n")  # written before kinds existed
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert server.token_names("bob") == set()
    assert server.cpanel_token_names("shop") == {"deploy", "fine"}
    assert server.calls("batch") == []


def test_audit_shows_the_kind(cli):
    cli("sweep", "--expired", "--kind", "cpanel", "--yes")
    (run_id,) = {r["run_id"] for r in cli.audit_records()}
    run = cli("audit", "--run", run_id)
    assert run.status == 0, run
    assert "HOLDER  " in run.out
    assert [line.split()[:2] for line in run.out.splitlines() if " deploy " in line] == [
        ["shop@cpanel", "deploy"]]


def test_a_disabled_feature_is_a_warning_and_the_rest_is_listed(cli, server):
    server.add_fault("feature_disabled", owner="shop")
    run = cli("list", "--kind", "cpanel", "--json")
    assert run.status == 0, run
    assert "shop" not in {t["owner"] for t in json.loads(run.out)["tokens"]}
    assert "warning: the cPanel account shop's API tokens cannot be listed" in run.err


def test_a_cpanel_token_is_noticed_to_its_accounts_own_contact(tmp_path):
    """notify (issue 17) with kinds: the owner of a cPanel token is its account, whose
    contact address accountsummary lists."""
    from tests.test_notify import NOTICE_CONFIG, Server

    box = Server(tmp_path)
    box.fake.add_account("shop", owner="res1", email="shop@example.org")
    box.fake.add_cpanel_token("shop", "deploy", NOW - 90 * DAY, expires_at=NOW - 5 * DAY)
    box.fake.write_token_files(box.cli.cpanel_root)
    box.cli.config(NOTICE_CONFIG + "kinds: [whm, cpanel]\n")
    run = box.run(0)
    assert run.status == 0, run
    assert box.fake.cpanel_token_names("shop") == {"deploy"}  # noticed, not revoked
    mails = {m["To"]: m for m in box.messages()}
    text = mails["shop@example.org"].get_content()
    assert "deploy (cPanel account shop" in text and "this cPanel API token" in text
    (record,) = box.notices()
    assert [(t["kind"], t["owner"], t["name"]) for t in record["tokens"]] == [
        ("cpanel", "shop", "deploy")]


def test_the_incident_report_names_a_cpanel_tokens_kind_and_account_owner(cli):
    cli("sweep", "--expired", "--kind", "cpanel", "--yes")
    (run_id,) = {r["run_id"] for r in cli.audit_records()}
    text = cli("incident-report", "--run", run_id).out
    assert "shop/deploy (cPanel account token, account of bob)" in text
    document = json.loads(cli("incident-report", "--run", run_id, "--json").out)
    deploy = [t for t in document["tokens"] if t["name"] == "deploy"][0]
    assert (deploy["kind"], deploy["account_owner"]) == ("cpanel", "bob")


def test_a_name_ending_in_a_newline_does_not_hide_the_accounts_tokens(cli, server):
    """cPanel's name rule is Perl's /^[A-Za-z0-9_-]{1,50}$/, whose `$` also matches before
    a final newline: an account can create `leak\\n` (tests/contract). Its listing must
    not fail for that, or every token of the account escapes every sweep."""
    server.add_cpanel_token("shop", "leak\n", NOW - 60 * DAY, expires_at=NOW - 3 * DAY)
    listed = cli("list", "--kind", "cpanel", "--json")
    assert listed.status == 0, listed
    assert ("cpanel", "shop", "leak\n") in keys(json.loads(listed.out)["tokens"])
    # The table shows the newline as an escape, on the token's own row.
    table = cli("list", "--kind", "cpanel").out.splitlines()
    assert [line.split()[:3] for line in table if "leak" in line] == [
        ["shop@cpanel", "leak\\n", "expired"]]
    run = cli("sweep", "--expired", "--kind", "cpanel", "--yes", "--json")
    assert run.status == 0, run
    outcome = {(t["owner"], t["name"]): t["action"] for t in json.loads(run.out)["tokens"]}
    assert outcome[("shop", "leak\n")] == outcome[("shop", "deploy")] == "revoked"
    assert server.cpanel_token_names("shop") == {"fine"}
