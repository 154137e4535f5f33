"""cPanel accounts' own API tokens as a second kind (issue 15): the fake's uapi_cpanel and
batch, the cPanel source (discovery, batched listing and revoking, faults), and the
engine keeping both kinds apart (keys, identities, protection, usage, cap, audit)."""

import json
import math
import os
import stat
import subprocess

import pytest

from tests.helpers import DAY, NOW
from tests.kinds_support import build_server, expired_plan, fates
from tokensweeper.lock import SweepLock
from tokensweeper.sources import cpanel as cpanel_source
from tokensweeper.sweep import ENFORCE, REVOKED, execute
from tokensweeper.whmapi import Client, UapiCall


@pytest.fixture
def cpanel_root(tmp_path):
    return tmp_path / "cpanel"


@pytest.fixture
def server(tmp_path, monkeypatch, cpanel_root):
    return build_server(tmp_path, monkeypatch, cpanel_root)


@pytest.fixture
def lock(tmp_path):
    with SweepLock(str(tmp_path / "state" / "sweep.lock")) as held:
        yield held






def run(argv, env, stdin=None):
    child = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           input=stdin)
    return child.returncode, child.stdout.decode(), child.stderr.decode()


# -- the fake answers like cPanel ----------------------------------------------------


def test_uapi_cpanel_answers_yaml_by_default_and_json_when_asked(server):
    env = server.full_env()
    binary = env["TOKENSWEEPER_WHMAPI1"]
    args = ["uapi_cpanel", "cpanel.user=shop1", "cpanel.module=Tokens", "cpanel.function=list"]
    status, out, _ = run([binary] + args, env)
    assert status == 0 and out.startswith("---") and "uapi:" in out
    status, out, _ = run([binary, "--output=json"] + args, env)
    document = json.loads(out)
    assert document["metadata"]["result"] == 1
    uapi = document["data"]["uapi"]
    assert uapi["status"] == 1 and uapi["errors"] is None
    assert sorted(t["name"] for t in uapi["data"]) == ["deploy", "fine"]
    assert set(uapi["data"][0]) == {"name", "create_time", "expires_at", "has_full_access",
                                    "features", "whitelist_ips"}


def test_batch_answers_each_command_as_a_whole_envelope_in_order(server):
    env = server.full_env()
    cmds = [UapiCall(user, "Tokens", "list").command() for user in ("shop2", "nobody", "bob")]
    argv = [env["TOKENSWEEPER_WHMAPI1"], "--output=json", "batch"] + [
        "command-%d=%s" % (i, __import__("urllib.parse").parse.quote(c, safe=""))
        for i, c in enumerate(cmds)]
    status, out, _ = run(argv, env)
    document = json.loads(out)
    assert status == 0 and document["metadata"]["command"] == "batch"
    first, unknown, last = document["data"]["result"]
    assert first["metadata"]["result"] == 1 and first["data"]["uapi"]["data"][0]["name"] == \
        "old-ci"
    assert unknown["metadata"]["result"] == 0  # no such account: the WHM call itself fails
    assert [t["name"] for t in last["data"]["uapi"]["data"]] == ["foo"]


def test_uapi_revoke_answers_1_or_0_and_keeps_cpanels_emptied_file(server, cpanel_root):
    client = Client()
    (gone, unknown) = client.run_uapi_chunk([
        UapiCall("bob", "Tokens", "revoke", [("name", "foo")]),
        UapiCall("bob", "Tokens", "revoke", [("name", "nope")])])
    assert (gone.data, unknown.data) == (1, 0) and gone.ok and unknown.ok
    path = cpanel_root / "var/cpanel/authn/api_tokens_v2/cpanel/bob.json"
    assert json.loads(path.read_text()) == {"tokens": {}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o711
    assert server.token_names("bob") == {"foo"}  # bob's WHM token of the same name stays


# -- the cPanel source ------------------------------------------------------------------


def test_owners_come_from_the_token_files_and_emptied_files_are_skipped(server, cpanel_root):
    directory = cpanel_root / "var/cpanel/authn/api_tokens_v2/cpanel"
    (directory / "gone.json").write_text('{"tokens":{}}')
    (directory / "Bad Name.json").write_text('{"tokens":{"x":{}}}')
    accounts, problems = cpanel_source.find_holders()
    assert accounts == ["blog", "bob", "shop1", "shop2"]
    assert problems == ["ignored the cPanel token file Bad Name.json: not a valid cPanel "
                        "account name"]
    assert cpanel_source.find_holders(resellers=["bob"])[0] == ["shop1", "shop2"]
    assert cpanel_source.find_holders(owners=["shop2", "gone"])[0] == ["shop2"]


def test_listing_costs_one_whmapi1_process_per_batch_of_accounts(server):
    server.reset_calls()
    plan = expired_plan(kinds=("cpanel",), client=Client(uapi_batch=3))
    assert math.ceil(4 / 3) == len(server.calls()) == len(server.calls("batch"))
    assert {t.holder for t in (i.token for i in plan.items)} == {
        "blog@cpanel", "bob@cpanel", "shop1@cpanel", "shop2@cpanel"}
    assert plan.owner_errors == {} and plan.problems == []


def test_a_cpanel_token_records_its_kind_and_its_accounts_owner(server):
    plan = expired_plan(kinds=("cpanel",))
    token = next(i.token for i in plan.items if i.token.name == "old-ci")
    assert (token.kind, token.owner, token.account_owner) == ("cpanel", "shop2", "bob")
    assert token.full_access is False and token.features == ("ftp", "webdisk")
    assert token.access_words == "limited features"
    assert token.to_dict() == {"owner": "shop2", "name": "old-ci", "kind": "cpanel",
                               "account_owner": "bob", "create_time": NOW - 500 * DAY,
                               "expires_at": NOW - 100 * DAY, "full_access": False,
                               "ip_limited": False}


def test_an_unreadable_trueuserowners_leaves_the_owner_unknown_not_the_token(server,
                                                                            cpanel_root):
    os.remove(str(cpanel_root / "etc" / "trueuserowners"))
    plan = expired_plan(kinds=("cpanel",))
    assert {i.token.account_owner for i in plan.items} == {None}
    assert len(plan.items) == 6


def test_a_disabled_feature_is_a_note_and_the_other_accounts_proceed(server, lock):
    server.add_fault("feature_disabled", owner="shop1")
    plan = expired_plan(kinds=("cpanel",))
    assert plan.owner_errors == {}
    assert [p for p in plan.problems if "shop1" in p] == [
        "the cPanel account shop1's API tokens cannot be listed or revoked: UAPI refused "
        "(is the account's apitokens feature disabled?): whmapi1 uapi_cpanel Tokens::list as "
        "shop1: UAPI refused: You do not have the feature “apitokens”."]
    result = execute(plan, Client(), lock, "cli:root", ENFORCE, NOW)
    assert fates(result)[("shop2@cpanel", "old-ci")] == REVOKED
    assert result.exit_code() == 0


def test_uapi_refusing_one_account_is_a_note_about_it(server):
    server.add_fault("uapi_fail", owner="shop2", reason="The system failed to lock the file.")
    plan = expired_plan(kinds=("cpanel",))
    assert plan.owner_errors == {}
    assert [p for p in plan.problems if "shop2" in p] == [
        "the cPanel account shop2's API tokens cannot be listed or revoked: UAPI refused "
        "(is the account's apitokens feature disabled?): whmapi1 uapi_cpanel Tokens::list as "
        "shop2: UAPI refused: The system failed to lock the file."]
    assert {i.token.owner for i in plan.items} == {"blog", "bob", "shop1"}


def test_one_account_failing_inside_a_batch_is_that_accounts_error_only(server, lock):
    server.add_fault("fail", function="uapi_cpanel", owner="shop2",
                     reason="You do not have access to an account named “shop2”.")
    plan = expired_plan(kinds=("cpanel",))
    assert plan.owner_errors == {"shop2@cpanel": "whmapi1 uapi_cpanel Tokens::list as shop2: "
                                                 "You do not have access to an account named "
                                                 "“shop2”."}
    result = execute(plan, Client(), lock, "cli:root", ENFORCE, NOW)
    assert fates(result)[("shop1@cpanel", "deploy")] == REVOKED
    assert result.exit_code() == 3  # finished, with an account it could not list


def test_a_batch_that_dies_fails_every_account_in_it_and_no_other(server):
    server.add_fault("exit", function="batch", times=1, message="Killed")
    plan = expired_plan(kinds=("cpanel",), client=Client(uapi_batch=2), parallel=1)
    assert sorted(plan.owner_errors) == ["blog@cpanel", "bob@cpanel"]
    assert plan.owner_errors["blog@cpanel"] == ("whmapi1 batch as root: exit status 1, no JSON "
                                                "answer: Killed")
    assert {i.token.owner for i in plan.items} == {"shop1", "shop2"}




# -- the engine keeps the kinds apart ---------------------------------------------------
















# -- protection: exact cPanel shapes, per kind --------------------------------------------










# -- usage: never "unused" on missing evidence ---------------------------------------------








# -- confirmations bind the kind ----------------------------------------------------------










def test_a_remembered_cpanel_listing_must_be_plausible():
    from tokensweeper.owners import _plausible

    assert _plausible("shop@cpanel", {"key": [1, 2, 3], "data": [{"name": "a"}]})
    assert _plausible("shop@cpanel", {"key": ["absent"], "data": []})
    # A missing file matches every account without one: it may only say "no tokens".
    assert not _plausible("shop@cpanel", {"key": ["absent"], "data": [{"name": "a"}]})
    assert not _plausible("root@cpanel", {"key": [1, 2, 3], "data": []})
    assert not _plausible("../x@cpanel", {"key": [1, 2, 3], "data": []})
    assert not _plausible("shop@cpanel", {"key": [1, 2, 3], "data": {"tokens": {}}})
    assert not _plausible("shop@cpanel", {"key": [1, "2", 3], "data": []})
