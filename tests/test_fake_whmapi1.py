"""The whmapi1 emulator against cpanel-facts.md section 1, run as a program."""
import json
import os
import re
import subprocess
import sys
import threading

import pytest
import yaml

from tests.fakes import seed
from tests.fakes.fakeserver import FAKE_PATH, LISTED_ACLS, RESELLER_ACLS, FakeServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(FAKE_PATH)))
NOW = 1790000000
DAY = 86400
REVOKE_NO_NAME = ("The system failed to revoke the API token: Provide at least one "
                  "“token_name” argument.")


@pytest.fixture
def server(tmp_path):
    fake = FakeServer(str(tmp_path / "server"), now=NOW)
    fake.add_reseller("bob")
    fake.add_account("bob", owner="root")
    fake.add_account("carl", owner="bob", suspended=True)
    fake.add_token("root", "my-controller-token", 1483625276, expires_at=1609372800,
                   acls={"create-acct": 0, "list-accts": 1, "suspend-acct": 1},
                   whitelist_ips=["192.0.2.1", "192.0.2.8/29"])
    fake.add_token("root", "my-read-only-token", 1490882281,
                   acls={"create-acct": 0, "list-accts": 1})
    return fake


def run(server, *args, **kwargs):
    """-> (exit status, stdout text, stderr text)"""
    proc = subprocess.Popen([FAKE_PATH] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=server.full_env())
    out, err = proc.communicate(timeout=kwargs.get("timeout", 30))
    return proc.returncode, out.decode("utf-8"), err.decode("utf-8")


def api(server, *args):
    """Run with --output=json; -> the parsed envelope (exit status must be 0)."""
    status, out, err = run(server, "--output=json", *args)
    assert status == 0, err
    return json.loads(out)


def ok(document):
    return document["metadata"]["result"] == 1


# -- envelope and output formats ---------------------------------------------

def test_list_matches_documented_example(server):
    document = api(server, "api_token_list")
    assert set(document) == {"data", "metadata"}
    assert document["metadata"] == {"command": "api_token_list", "reason": "OK",
                                    "result": 1, "version": 1}
    tokens = document["data"]["tokens"]
    # As cPanel's own code lists it (tests/contract): root sees every ACL key, expires_at
    # is a digit string, an unset address list is no key at all.
    controller = tokens["my-controller-token"]
    assert {k: v for k, v in controller["acls"].items() if v} == {"list-accts": 1,
                                                                  "suspend-acct": 1}
    assert set(controller["acls"]) == set(LISTED_ACLS) and controller["acls"]["all"] == 0
    assert {k: v for k, v in controller.items() if k != "acls"} == {
        "create_time": 1483625276, "expires_at": "1609372800",
        "name": "my-controller-token", "whitelist_ips": ["192.0.2.1", "192.0.2.8/29"]}
    assert tokens["my-read-only-token"]["expires_at"] is None
    assert "whitelist_ips" not in tokens["my-read-only-token"]


def test_token_order_is_not_the_order_of_creation(server):
    add_names(server, "root", ["a1", "b2", "c3"])
    # Perl's hash order is random: one listing of five names is the creation order
    # (or sorted) one time in sixty, so the claim is about several listings.
    listings = [list(api(server, "api_token_list")["data"]["tokens"]) for _ in range(8)]
    assert all(sorted(listed) == sorted(server.token_names("root")) for listed in listings)
    assert any(listed != list(server.tokens("root")) for listed in listings)
    assert any(listed != sorted(listed) for listed in listings)


def test_default_output_is_yaml(server):
    status, out, _ = run(server, "api_token_list")
    assert status == 0
    assert out.startswith("---")
    assert yaml.safe_load(out) == api(server, "api_token_list")


def test_jsonpretty_and_xml(server):
    _, pretty, _ = run(server, "--output=jsonpretty", "listresellers")
    assert "\n   " in pretty
    assert json.loads(pretty)["data"] == {"reseller": ["bob"]}
    _, xml, _ = run(server, "--output=xml", "listresellers")
    assert "<reseller><item>bob</item></reseller>" in xml


def test_options_after_the_function_and_space_separated(server):
    status, out, _ = run(server, "api_token_list", "--user", "bob", "--output=json")
    assert status == 0
    assert json.loads(out)["data"] == {"tokens": {}}


def test_curly_quotes_arrive_as_utf8(server):
    status, out, _ = run(server, "--output=json", "api_token_revoke")
    assert "“token_name”".encode() in out.encode("utf-8")
    assert "\\u201c" not in out


def test_bad_output_format_and_missing_function_exit_non_zero(server):
    assert run(server, "--output=csv", "listresellers")[0] != 0
    status, out, err = run(server, "--output=json")
    assert status != 0 and out == "" and "Usage" in err


def test_unknown_function_is_result_0(server):
    document = api(server, "api_token_frobnicate")
    assert not ok(document)
    assert document["metadata"]["reason"] == (
        "Unknown app (“api_token_frobnicate”) requested for this version (1) of the API.")


# -- owners ------------------------------------------------------------------

def test_token_functions_act_on_the_user_they_run_as(server):
    server.add_token("bob", "bob-token", NOW - DAY)
    assert set(api(server, "api_token_list")["data"]["tokens"]) == {
        "my-controller-token", "my-read-only-token"}
    assert set(api(server, "--user=bob", "api_token_list")["data"]["tokens"]) == {"bob-token"}


def test_user_that_is_not_a_reseller_lists_nothing(server):
    # cPanel's own code: result 1, no tokens (tests/contract); an unknown user: exit 1.
    assert api(server, "--user=carl", "api_token_list")["data"] == {"tokens": {}}
    server.add_fault("non_reseller_refused")
    document = api(server, "--user=carl", "api_token_list")
    assert not ok(document)
    assert "carl" in document["metadata"]["reason"]
    status, out, err = run(server, "--output=json", "--user=nobody", "api_token_list")
    assert status != 0 and out == "" and "nobody" in err


def test_former_reseller_keeps_tokens_listed_without_acls(server):
    server.add_token("bob", "kept", NOW - DAY)
    server.remove_reseller("bob")
    assert api(server, "--user=bob", "api_token_list")["data"]["tokens"]["kept"]["acls"] == {}
    server.add_fault("non_reseller_refused")
    assert not ok(api(server, "--user=bob", "api_token_list"))
    assert server.token_names("bob") == {"kept"}


# -- revoke ------------------------------------------------------------------

def add_names(server, owner, names):
    for name in names:
        server.add_token(owner, name, NOW - DAY)


def test_revoke_mixes_token_name_forms(server):
    add_names(server, "root", ["a", "b", "c", "d"])
    document = api(server, "api_token_revoke", "token_name=a", "token_name-7=b",
                   "token_name-0=c")
    assert ok(document)
    assert "data" not in document  # metadata only, no per-token outcome
    assert server.token_names("root") == {"d", "my-controller-token", "my-read-only-token"}


def test_revoke_is_exact_and_case_sensitive(server):
    add_names(server, "root", ["Deploy"])
    assert ok(api(server, "api_token_revoke", "token_name=deploy"))
    assert "Deploy" in server.token_names("root")


def test_revoke_ignores_unknown_names_silently(server):
    before = server.token_names("root")
    document = api(server, "api_token_revoke", "token_name=no-such-token")
    assert document["metadata"]["result"] == 1
    assert document["metadata"]["reason"] == "OK"
    assert server.token_names("root") == before
    assert server.accounting_lines() == []


def test_revoke_without_a_name_gives_the_documented_reason(server):
    for args in ([], ["token_namex=a"], ["token_name-x=a"], ["other=1"]):
        document = api(server, "api_token_revoke", *args)
        assert document["metadata"]["result"] == 0
        assert document["metadata"]["reason"] == REVOKE_NO_NAME


def test_revoke_uri_decodes_names(server):
    add_names(server, "root", ["a_b-c"])
    assert ok(api(server, "api_token_revoke", "token_name=a%5Fb%2Dc"))
    assert "a_b-c" not in server.token_names("root")


def test_revoke_only_touches_the_owner_it_runs_as(server):
    add_names(server, "root", ["shared"])
    add_names(server, "bob", ["shared"])
    assert ok(api(server, "--user=bob", "api_token_revoke", "token_name=shared"))
    assert "shared" in server.token_names("root")
    assert "shared" not in server.token_names("bob")


def test_accounting_log_has_one_line_per_real_removal(server):
    add_names(server, "bob", ["x1", "x2"])
    api(server, "--user=bob", "api_token_revoke", "token_name-1=x1", "token_name-2=x2",
        "token_name-3=ghost")
    lines = server.accounting_lines()
    assert len(lines) == 2
    assert all(":REVOKEAPITOKEN:bob:bob:not-applicable:" in line for line in lines)
    assert lines[0].endswith(":x1") and lines[1].endswith(":x2")


def test_two_thousand_names_in_one_call(server):
    names = [f"t{i}" for i in range(2000)]
    server.replace_tokens("bob", {n: {"name": n, "create_time": NOW, "expires_at": None,
                                      "acls": {"all": 1}, "whitelist_ips": None}
                                  for n in names})
    args = [f"token_name-{i + 1}={n}" for i, n in enumerate(names)]
    assert ok(api(server, "--user=bob", "api_token_revoke", *args))
    assert server.token_names("bob") == set()
    assert len(server.accounting_lines()) == 2000


def test_concurrent_revokes_lose_no_update(server):
    names = [f"c{i}" for i in range(12)]
    add_names(server, "root", names)
    threads = [threading.Thread(target=api, args=(server, "api_token_revoke",
                                                  "token_name=" + n)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.token_names("root") == {"my-controller-token", "my-read-only-token"}
    assert len(server.accounting_lines()) == 12


# -- create / update ---------------------------------------------------------

def test_create_returns_a_secret_once_and_lists_the_token(server):
    document = api(server, "api_token_create", "token_name=ci-deploy",
                   "acl-0=list-accts", "acl-1=create-acct", f"expires_at={NOW + DAY}",
                   "whitelist_ip-0=192.0.2.8%2F29")
    assert ok(document)
    data = document["data"]
    assert re.match(r"^[0-9A-Z]{32}$", data["token"])
    assert (data["name"], data["create_time"], data["expires_at"]) == (
        "ci-deploy", NOW, str(NOW + DAY))
    assert data["acls"] == ["create-acct", "list-accts"]  # sorted, as cPanel's writer keeps them
    assert data["whitelist_ips"] == ["192.0.2.8/29"]
    token = server.tokens("root")["ci-deploy"]
    assert token["acls"] == {"list-accts": 1, "create-acct": 1}
    assert token["whitelist_ips"] == ["192.0.2.8/29"]
    assert data["token"] not in json.dumps(server.state())


def test_create_without_acl_is_full_access(server):
    api(server, "api_token_create", "token_name=full")
    api(server, "--user=bob", "api_token_create", "token_name=full")
    # cPanel stores full access as the absence of an ACL list.
    assert server.tokens("root")["full"]["acls"] is None
    assert server.tokens("bob")["full"]["acls"] is None
    assert api(server, "api_token_list")["data"]["tokens"]["full"]["acls"] == dict.fromkeys(
        LISTED_ACLS, 1)
    listed = api(server, "--user=bob", "api_token_list")["data"]["tokens"]["full"]["acls"]
    assert listed == dict.fromkeys(RESELLER_ACLS, 1)
    assert server.tokens("root")["full"]["expires_at"] is None


def test_a_resellers_listing_shows_only_its_own_acls_and_follows_setacls(server):
    server.set_reseller_acls("bob", ["list-accts", "create-acct", "manage-api-tokens"])
    server.add_token("bob", "full", NOW - DAY)
    server.add_token("bob", "narrow", NOW - DAY, acls={"list-accts": 1, "kill-acct": 1})

    def listed():
        return api(server, "--user=bob", "api_token_list")["data"]["tokens"]

    tokens = listed()
    assert tokens["full"]["acls"] == {"list-accts": 1, "create-acct": 1, "manage-api-tokens": 1}
    # A granted ACL of a reseller's limited token is the string "1" (cPanel's code).
    assert tokens["narrow"]["acls"] == {"list-accts": "1", "create-acct": 0,
                                        "manage-api-tokens": 0}
    tokens_before = server.tokens("bob")
    server.set_reseller_acls("bob", ["list-accts", "kill-acct"])
    assert server.tokens("bob") == tokens_before
    assert listed()["full"]["acls"] == {"list-accts": 1, "kill-acct": 1}
    assert listed()["narrow"]["acls"] == {"list-accts": "1", "kill-acct": "1"}
    # With `all` the reseller sees every ACL, and `all` itself only on full access.
    server.set_reseller_acls("bob", ["all"])
    assert listed()["full"]["acls"]["all"] == 1
    assert listed()["narrow"]["acls"]["all"] == 0
    assert listed()["narrow"]["acls"]["kill-acct"] == 1


def test_the_resellers_file_is_kept_as_cpanel_keeps_it(server, tmp_path):
    path = server.write_resellers_file(str(tmp_path / "cpanel"))
    assert open(path).read() == "bob:" + ",".join(RESELLER_ACLS) + "\n"
    server.add_reseller("alice", acls=["list-accts", "all"])
    server.set_reseller_acls("bob", ["list-accts"])
    assert open(path).read() == "bob:list-accts\nalice:list-accts,all\n"
    server.remove_reseller("bob")
    assert open(path).read() == "alice:list-accts,all\n"


def test_token_files_store_full_access_as_no_acl_list(server, tmp_path):
    server.add_token("bob", "full", NOW - DAY)
    server.add_token("bob", "narrow", NOW - DAY, acls={"list-accts": 1, "kill-acct": 0})
    directory = server.write_token_files(str(tmp_path / "cpanel"))
    with open(os.path.join(directory, "bob.json")) as handle:
        records = {r["name"]: r for r in json.load(handle)["tokens"].values()}
    assert "acls" not in records["full"]
    assert records["narrow"]["acls"] == ["list-accts"]
    assert "whitelist_ips" not in records["narrow"]


def test_create_rejects_duplicates_per_owner(server):
    document = api(server, "api_token_create", "token_name=my-read-only-token")
    assert document["metadata"]["result"] == 0
    assert document["metadata"]["reason"] == (
        "The system failed to create the API token: A conflicting API token with the name "
        "“my-read-only-token” already exists.")


@pytest.mark.parametrize("name", ["has space", "dot.name", "x" * 51, "ünïcode", "a/b"])
def test_create_rejects_invalid_names(server, name):
    from urllib.parse import quote
    document = api(server, "api_token_create", "token_name=" + quote(name, safe=""))
    assert document["metadata"]["result"] == 0
    assert document["metadata"]["reason"].startswith(
        f"The system failed to create the API token: “{name}” is not a valid API token name.")
    assert name not in server.token_names("root")


def test_create_accepts_a_fifty_character_name(server):
    assert ok(api(server, "api_token_create", "token_name=" + "A_9-" * 12 + "zz"))


def test_create_rejects_past_expiry(server):
    document = api(server, "api_token_create", "token_name=late",
                   f"expires_at={NOW - 1}")
    assert document["metadata"]["reason"] == (
        f"The system failed to create the API token: The “{NOW - 1}” value must be a future "
        "date.")
    assert "late" not in server.token_names("root")


def test_update_keeps_omitted_fields_and_renames(server):
    assert ok(api(server, "api_token_update", "token_name=my-controller-token",
                  "new_name=renamed", "whitelist_ip=any"))
    token = server.tokens("root")["renamed"]
    assert token["whitelist_ips"] is None
    assert token["acls"] == {"create-acct": 0, "list-accts": 1, "suspend-acct": 1}
    assert token["expires_at"] == 1609372800
    assert "my-controller-token" not in server.token_names("root")


def test_update_of_missing_token_fails(server):
    assert not ok(api(server, "api_token_update", "token_name=ghost", "new_name=x"))


# -- listresellers / listaccts -----------------------------------------------

def test_listresellers_shape(server):
    server.add_reseller("alice")
    data = api(server, "listresellers")["data"]
    assert sorted(data["reseller"]) == ["alice", "bob"]
    assert "root" not in data["reseller"]


def test_listresellers_order_is_neither_sorted_nor_as_added(server):
    """cPanel's order is arbitrary: the fake must not hand out a convenient one."""
    for name in ("carol", "dave"):
        server.add_reseller(name)
    added = server.resellers()
    assert added == sorted(added)  # so one answer can differ from both
    listed = api(server, "listresellers")["data"]["reseller"]
    assert sorted(listed) == added
    assert listed != added


def test_listaccts_want(server):
    accounts = api(server, "listaccts", "want=user,owner,suspended")["data"]["acct"]
    assert accounts == [{"user": "bob", "owner": "root", "suspended": 0},
                        {"user": "carl", "owner": "bob", "suspended": 1}]
    full = api(server, "listaccts")["data"]["acct"]
    assert {"domain", "plan", "user", "owner", "suspended"} <= set(full[0])


def test_listaccts_as_reseller_sees_own_accounts(server):
    accounts = api(server, "--user=bob", "listaccts", "want=user")["data"]["acct"]
    assert accounts == [{"user": "bob"}, {"user": "carl"}]


# -- fault knobs -------------------------------------------------------------

def test_fault_fail_for_one_function_changes_nothing(server):
    add_names(server, "root", ["x"])
    server.add_fault("fail", function="api_token_revoke", reason="Locked out.")
    document = api(server, "api_token_revoke", "token_name=x")
    assert document["metadata"] == {"command": "api_token_revoke", "reason": "Locked out.",
                                    "result": 0, "version": 1}
    assert "x" in server.token_names("root")
    assert ok(api(server, "api_token_list"))


def test_fault_restricted_to_an_owner(server):
    server.add_fault("fail", owner="bob")
    assert ok(api(server, "api_token_list"))
    assert not ok(api(server, "--user=bob", "api_token_list"))


def test_fault_exit_prints_no_json(server):
    add_names(server, "root", ["x"])
    server.add_fault("exit", function="api_token_revoke", status=255, message="Died.")
    status, out, err = run(server, "--output=json", "api_token_revoke", "token_name=x")
    assert (status, out, err.strip()) == (255, "", "Died.")
    assert "x" in server.token_names("root")


def test_fault_exit_after_the_work_still_revokes(server):
    add_names(server, "root", ["x"])
    server.add_fault("exit", function="api_token_revoke", when="after")
    status, out, _ = run(server, "--output=json", "api_token_revoke", "token_name=x")
    assert status == 1 and out == ""
    assert "x" not in server.token_names("root")


def test_fault_exit_with_json_before_the_work(server):
    add_names(server, "root", ["x"])
    server.add_fault("exit", function="api_token_revoke", status=2, message="Died.", json=True)
    status, out, err = run(server, "--output=json", "api_token_revoke", "token_name=x")
    assert (status, err.strip()) == (2, "Died.")
    assert json.loads(out)["metadata"] == {"command": "api_token_revoke", "reason": "Died.",
                                           "result": 0, "version": 1}
    assert "x" in server.token_names("root")


def test_fault_exit_with_json_after_the_work_prints_the_ok_answer(server):
    add_names(server, "root", ["x"])
    server.add_fault("exit", function="api_token_list", when="after", json=True)
    status, out, _ = run(server, "--output=json", "api_token_list")
    document = json.loads(out)
    assert status == 1 and ok(document)
    assert "x" in document["data"]["tokens"]
    (call,) = server.calls()
    assert (call["exit"], call["result"]) == (1, 1)


def test_fault_garbage(server):
    server.add_fault("garbage", text="<html>oops</html>")
    status, out, _ = run(server, "--output=json", "api_token_list")
    assert (status, out) == (0, "<html>oops</html>")


def test_fault_garbage_default_is_not_json(server):
    server.add_fault("garbage")
    status, out, _ = run(server, "--output=json", "api_token_list")
    assert status == 0
    with pytest.raises(ValueError):
        json.loads(out)


def test_fault_hang_outlives_a_timeout(server):
    add_names(server, "root", ["x"])
    server.add_fault("hang", function="api_token_revoke")
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([FAKE_PATH, "--output=json", "api_token_revoke", "token_name=x"],
                       stdout=subprocess.PIPE, env=server.full_env(), timeout=1.5)
    assert "x" in server.token_names("root")
    assert server.calls("api_token_revoke")[0]["hung"] is True


def test_a_short_hang_is_logged_once(server):
    server.add_fault("hang", function="listresellers", seconds=0.1)
    status, out, _ = run(server, "--output=json", "listresellers")
    assert status == 1 and out == ""
    (call,) = server.calls()
    assert call["hung"] is True


def test_fault_latency_shows_in_the_call_log(server):
    server.add_fault("latency", seconds=0.3, function="listresellers")
    api(server, "listresellers")
    api(server, "api_token_list")
    assert server.calls("listresellers")[0]["duration"] >= 0.3
    assert server.calls("api_token_list")[0]["faults"] == []


def test_fault_keep_token(server):
    add_names(server, "root", ["stays", "goes"])
    server.add_fault("keep_token", name="stays")
    assert ok(api(server, "api_token_revoke", "token_name=stays", "token_name=goes"))
    assert "stays" in server.token_names("root")
    assert "goes" not in server.token_names("root")
    assert len(server.accounting_lines()) == 1


def test_fault_quirky_list_fields(server):
    for kind in ("expires_as_string", "acls_as_string", "whitelist_absent"):
        server.add_fault(kind, function="api_token_list")
    tokens = api(server, "api_token_list")["data"]["tokens"]
    assert tokens["my-controller-token"]["expires_at"] == "1609372800"
    assert tokens["my-controller-token"]["acls"]["list-accts"] == "1"
    assert tokens["my-controller-token"]["whitelist_ips"] == ["192.0.2.1", "192.0.2.8/29"]
    assert "whitelist_ips" not in tokens["my-read-only-token"]
    assert tokens["my-read-only-token"]["expires_at"] is None


def test_fault_whitelist_empty(server):
    server.add_fault("whitelist_empty")
    tokens = api(server, "api_token_list")["data"]["tokens"]
    assert tokens["my-read-only-token"]["whitelist_ips"] == []


def test_faults_for_the_shapes_documented_elsewhere(server):
    """The API docs' shapes (a number for expires_at, null for no address limit), which
    cPanel's code does not answer but the plugin must still read."""
    server.add_fault("expires_as_number", function="api_token_list")
    server.add_fault("whitelist_null", function="api_token_list")
    tokens = api(server, "api_token_list")["data"]["tokens"]
    assert tokens["my-controller-token"]["expires_at"] == 1609372800
    assert tokens["my-read-only-token"]["whitelist_ips"] is None
    assert tokens["my-controller-token"]["whitelist_ips"] == ["192.0.2.1", "192.0.2.8/29"]


def test_listing_order_is_per_process_unless_seeded(server, monkeypatch):
    server.replace_tokens("root", {n: {"name": n, "create_time": NOW, "expires_at": None,
                                       "acls": None, "whitelist_ips": None}
                                   for n in "abcdefgh"})
    orders = {tuple(api(server, "api_token_list")["data"]["tokens"]) for _ in range(6)}
    assert len(orders) > 1
    monkeypatch.setenv("TOKENSWEEPER_FAKE_ORDER_SEED", "7")
    orders = {tuple(api(server, "api_token_list")["data"]["tokens"]) for _ in range(4)}
    assert len(orders) == 1


def test_fault_no_data_and_null_data(server):
    server.add_fault("no_data", function="api_token_list")
    server.add_fault("null_data", function="listresellers")
    assert "data" not in api(server, "api_token_list")
    assert api(server, "listresellers")["data"] is None


def test_fault_empty_data(server):
    server.add_fault("empty_data", function="listresellers")
    assert api(server, "listresellers")["data"] == {}


def test_fault_warnings(server):
    server.add_fault("warnings", messages=["Disk almost full."])
    document = api(server, "listresellers")
    assert ok(document)
    assert document["metadata"]["output"] == {"warnings": ["Disk almost full."]}


def test_fault_messages_next_to_warnings(server):
    server.add_fault("warnings", function="api_token_list")
    server.add_fault("messages", function="api_token_list", messages=["Cache rebuilt."])
    document = api(server, "api_token_list")
    assert ok(document) and "my-read-only-token" in document["data"]["tokens"]
    output = document["metadata"]["output"]
    assert output["messages"] == ["Cache rebuilt."]
    assert len(output["warnings"]) == 1 and "“" in output["warnings"][0]


def test_counted_fault_fires_on_the_chosen_calls_only(server):
    server.add_fault("fail", function="listresellers", after=1, times=1)
    results = [ok(api(server, "listresellers")) for _ in range(3)]
    assert results == [True, False, True]


def test_unknown_fault_kind_or_param_is_refused(server):
    with pytest.raises(ValueError):
        server.add_fault("explode")
    with pytest.raises(ValueError):
        server.add_fault("latency", secs=1)


def test_clear_faults(server):
    server.add_fault("fail")
    server.clear_faults()
    assert ok(api(server, "listresellers"))


# -- call log ----------------------------------------------------------------

def test_call_log_records_each_call(server):
    api(server, "--user=bob", "api_token_list")
    api(server, "api_token_revoke", "token_name=nothing")
    calls = server.calls()
    assert [c["function"] for c in calls] == ["api_token_list", "api_token_revoke"]
    assert calls[0]["argv"] == ["--output=json", "--user=bob", "api_token_list"]
    assert calls[0]["owner"] == "bob" and calls[1]["owner"] == "root"
    for call in calls:
        assert {"start", "duration", "pid", "exit"} <= set(call)
    assert len(server.calls("api_token_revoke")) == 1
    server.reset_calls()
    assert server.calls() == []


def test_no_state_variable_is_a_clear_error(server):
    env = server.full_env()
    del env["TOKENSWEEPER_FAKE_STATE"]
    proc = subprocess.Popen([FAKE_PATH, "listresellers"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"TOKENSWEEPER_FAKE_STATE" in err


# -- FakeServer and seeds ----------------------------------------------------

def test_apply_env_points_at_the_fake(server, monkeypatch):
    server.apply_env(monkeypatch)
    assert os.environ["TOKENSWEEPER_WHMAPI1"] == FAKE_PATH
    assert os.environ["TOKENSWEEPER_FAKE_STATE"] == server.state_path
    assert os.environ["PATH"].split(os.pathsep)[0] == os.path.dirname(
        sys.executable)


def test_reopening_a_directory_keeps_the_server(server):
    again = FakeServer(server.directory)
    assert again.token_names("root") == server.token_names("root")


def test_token_files_for_owner_discovery(server, tmp_path):
    server.add_token("bob", "b", NOW)
    directory = server.write_token_files(str(tmp_path / "cpanel"))
    assert sorted(os.listdir(directory)) == ["bob.json", "root.json"]
    assert oct(os.stat(os.path.join(directory, "bob.json")).st_mode & 0o777) == "0o600"


def test_token_file_stays_as_cpanel_keeps_it_after_the_last_revoke(server, tmp_path):
    server.add_reseller("bob")
    server.add_token("bob", "b", NOW)
    directory = server.write_token_files(str(tmp_path / "cpanel"))
    path = os.path.join(directory, "bob.json")
    before = os.stat(path).st_ino
    assert ok(api(server, "--user=bob", "api_token_revoke", "token_name=b"))
    with open(path) as handle:
        assert json.load(handle) == {"tokens": {}}
    assert os.stat(path).st_ino != before, "every save replaces the file"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(directory).st_mode & 0o777) == "0o700"


def test_realistic_seed(tmp_path):
    fake = seed.seed_realistic(FakeServer(str(tmp_path)), NOW)
    assert len(fake.resellers()) == 5
    root = fake.tokens("root")
    trust = "reverse_trust_2c7d9e41-8b3a-4f6e-9d12-7a5c3e8b0f64"
    assert {"billing-whmcs", trust, "prospamfilter", "WP-Dashboard"} <= set(root)
    assert any(t["expires_at"] and t["expires_at"] < NOW for t in root.values())
    assert any(t["expires_at"] and NOW < t["expires_at"] < NOW + 7 * DAY for t in root.values())
    assert any(t["whitelist_ips"] for t in root.values())
    assert root[trust]["acls"]["clustering"] == 1
    assert root[trust]["acls"]["all"] == 0
    assert root["prospamfilter"]["acls"] is None  # full access: no ACL list, as cPanel keeps it
    transfer = [name for name in root if name.startswith("transfer-")]
    assert [int(name.split("-")[1]) for name in transfer] == [
        root[name]["create_time"] for name in transfer]  # named after its creation time
    listed = api(fake, "--user=hostpro", "api_token_list")["data"]["tokens"]
    assert "billing-whmcs" in listed
    again = seed.seed_realistic(FakeServer(str(tmp_path / "again")), NOW)
    assert again.tokens("webagency") == fake.tokens("webagency")


def test_realistic_seed_has_real_reseller_acls_and_log_shapes(tmp_path):
    fake = seed.seed_realistic(FakeServer(str(tmp_path)), NOW)
    assert fake.reseller_acls("webagency") == ["all"]
    hostpro = fake.reseller_acls("hostpro")
    assert "all" not in hostpro and "list-accts" in hostpro
    listed = api(fake, "--user=hostpro", "api_token_list")["data"]["tokens"]
    # Created without ACLs: every privilege hostpro has, and never `all`.
    assert listed["old-migration-2023"]["acls"] == dict.fromkeys(fake.reseller_acls("hostpro"), 1)
    text = seed.usage_log_text(fake, NOW)
    lines = text.splitlines()
    assert any("] info [whostmgrd] HTTP Status:" in line for line in lines)  # documented shape
    assert any("] info [whostmgrd] Host: ['" in line for line in lines)
    assert any("] info [cpaneld] " in line for line in lines)
    assert seed.usage_log_text(fake, NOW) == text  # deterministic


def test_scale_seed_uses_per_owner_files(tmp_path):
    fake = FakeServer(str(tmp_path))
    owners = seed.seed_scale(fake, 3, 10, 0.3, NOW)
    assert owners == ["root", "reseller001", "reseller002"]
    tokens = fake.tokens("reseller002")
    assert len(tokens) == 10
    assert sum(1 for t in tokens.values() if t["expires_at"]) == 3
    assert ok(api(fake, "--user=reseller002", "api_token_revoke", "token_name=api-00000"))
    assert len(fake.token_names("reseller002")) == 9
    assert len(api(fake, "api_token_list")["data"]["tokens"]) == 10


def test_seed_command_prints_exports(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.seed", str(tmp_path), "--now",
         str(NOW)], stdout=subprocess.PIPE, cwd=REPO)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "export TOKENSWEEPER_FAKE_STATE=" in out.decode()
    assert len(FakeServer(str(tmp_path)).resellers()) == 5


# -- accountsummary (notify.py's contact addresses) -----------------------------------


def test_accountsummary_answers_one_account_like_cpanel(server):
    server.add_account("carl", owner="bob", email="carl@example.org")
    document = api(server, "accountsummary", "user=carl")
    assert ok(document)
    [account] = document["data"]["acct"]
    assert (account["user"], account["owner"], account["email"]) == (
        "carl", "bob", "carl@example.org")
    # A reseller is an account, and an account without a contact address lists *unknown*.
    server.add_account("dora", owner="root", email=None)
    assert api(server, "accountsummary", "user=dora")["data"]["acct"][0]["email"] == "*unknown*"
    assert api(server, "accountsummary", "user=bob")["data"]["acct"][0]["user"] == "bob"


def test_accountsummary_fails_like_cpanel(server):
    document = api(server, "accountsummary", "user=nobody")
    assert not ok(document) and document["metadata"]["reason"] == "Account does not exist."
    assert document["data"] == {"acct": []}
    document = api(server, "accountsummary")
    assert not ok(document)
    assert document["metadata"]["reason"] == (
        "You must specify a user or domain to get a summary of.")
    # A reseller sees only its own accounts.
    document = api(server, "--user=bob", "accountsummary", "user=bob")
    assert ok(document)
    server.add_account("erin", owner="root")
    assert not ok(api(server, "--user=bob", "accountsummary", "user=erin"))


def test_fake_sendmail_records_messages_and_fails_on_request(tmp_path):
    sendmail = os.path.join(os.path.dirname(FAKE_PATH), "sendmail")
    env = dict(os.environ, TOKENSWEEPER_FAKE_MAIL_DIR=str(tmp_path / "mail"))
    message = b"To: a@example.com\nSubject: s\n\nline\n.\nafter the dot\n"

    def send(args, **extra):
        proc = subprocess.Popen([sendmail] + args, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(env, **extra))
        out, err = proc.communicate(message, timeout=30)
        return proc.returncode, err.decode()

    assert send(["-t", "-oi"]) == (0, "")
    with open(str(tmp_path / "mail" / "0001.eml"), "rb") as handle:
        assert handle.read() == message
    assert send(["-t"])[0] == 0  # without -oi the dot ends the message
    with open(str(tmp_path / "mail" / "0002.eml"), "rb") as handle:
        assert handle.read() == b"To: a@example.com\nSubject: s\n\nline\n"
    assert send([])[0] == 64
    status, err = send(["-t", "-oi"], TOKENSWEEPER_FAKE_SENDMAIL_FAIL="75")
    assert status == 75 and "spool" in err
    assert sorted(os.listdir(str(tmp_path / "mail"))) == [
        "0001.argv.json", "0001.eml", "0002.argv.json", "0002.eml"]


def test_a_renamed_account_takes_its_tokens_and_accounts_to_the_new_name(server, tmp_path):
    """modifyacct newuser=: the tokens keep working under the new name, the old name is
    unknown, its token files gone, the accounts it owned are the new name's."""
    root = tmp_path / "cpanel"
    server.add_token("bob", "deploy", NOW - 100)
    server.add_cpanel_token("bob", "site", NOW - 100)
    server.write_token_files(str(root))
    server.rename_account("bob", "robert")
    listed = api(server, "--user=robert", "api_token_list")["data"]["tokens"]
    assert list(listed) == ["deploy"]
    assert run(server, "--user=bob", "api_token_list")[0] == 1
    assert server.cpanel_token_names("robert") == {"site"} and server.tokens("bob") == {}
    assert server.resellers() == ["robert"]
    assert {a["user"]: a["owner"] for a in server.accounts()} == {"robert": "root",
                                                                  "carl": "robert"}
    tokens = root / "var/cpanel/authn/api_tokens_v2"
    assert sorted(p.name for p in (tokens / "whostmgr").iterdir()) == ["robert.json", "root.json"]
    assert sorted(p.name for p in (tokens / "cpanel").iterdir()) == ["robert.json"]
    assert "carl: robert" in (root / "etc/trueuserowners").read_text()
