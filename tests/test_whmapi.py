"""whmapi.Client against the whmapi1 emulator: argv, encoding, batching, and
every fault knob turned into its typed error without half-done work."""

import math
import os
import signal
import stat
import subprocess
import time

import pytest

from tests.helpers import DAY, NOW, add, names_in, new_server
from tokensweeper.tokens import Token
from tokensweeper.whmapi import (
    Client,
    WhmapiBadOutput,
    WhmapiError,
    WhmapiFailed,
    WhmapiMissing,
    WhmapiTimeout,
)

CPANEL_LOCK_REASON = ("The system failed to lock the file “/var/cpanel/authn/api_tokens_v2/"
                      "whostmgr/.lock”: Resource temporarily unavailable")


@pytest.fixture
def server(tmp_path, monkeypatch):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    fake.apply_env(monkeypatch)
    add(fake, "root", "alpha", age_days=100, expires_in_days=-3)
    add(fake, "root", "beta", age_days=5, acls={"list-accts": 1}, ips=["192.0.2.1"])
    add(fake, "bob", "gamma", age_days=30, expires_in_days=30)
    return fake


@pytest.fixture
def client(server):
    return Client()


# -- argv: a list, never a shell; JSON; --user; URI encoding -------------------


def test_binary_comes_from_the_environment_variable(server, monkeypatch):
    assert Client().binary == server.env["TOKENSWEEPER_WHMAPI1"]
    monkeypatch.delenv("TOKENSWEEPER_WHMAPI1")
    assert Client().binary == "/usr/local/cpanel/bin/whmapi1"


def test_root_calls_ask_for_json_and_never_pass_user(client, server):
    client.list_tokens("root")
    (call,) = server.calls()
    assert call["argv"] == ["--output=json", "api_token_list"]
    assert call["owner"] == "root"


def test_reseller_calls_run_as_the_reseller(client, server):
    tokens = client.list_tokens("bob")
    assert [t.name for t in tokens] == ["gamma"]
    assert all(t.owner == "bob" for t in tokens)
    (call,) = server.calls()
    assert call["argv"] == ["--output=json", "--user=bob", "api_token_list"]


def test_process_is_started_from_an_argv_list_without_a_shell(client, monkeypatch):
    seen = []
    real_popen = subprocess.Popen

    def spy(args, **kwargs):
        seen.append((args, kwargs))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)  # whmapi imports it when it runs
    client.call("listresellers")
    (args, kwargs), = seen
    assert isinstance(args, list)
    assert not kwargs.get("shell")
    assert args[1:] == ["--output=json", "listresellers"]


def test_values_with_shell_and_uri_characters_arrive_intact(client, server, tmp_path):
    """A shell would split or expand these; a missing %-encoding would turn '+' into a space."""
    tricky = "a b;$(touch x)&c=d+e%41'\"|`id`"
    server.add_account(tricky, owner="root")
    server.add_account("other", owner="root")
    data = client.call("listaccts", {"search": tricky, "searchtype": "user",
                                     "searchmethod": "exact", "want": "user"})
    assert data["acct"] == [{"user": tricky}]
    (call,) = server.calls()
    search = [arg for arg in call["argv"] if arg.startswith("search=")]
    assert search and " " not in search[0] and "+" not in search[0].split("=", 1)[1]
    assert not os.path.exists(str(tmp_path / "x"))


def test_slashes_in_values_are_encoded_and_decoded(client, server):
    client.call("api_token_create", [("token_name", "ci"), ("whitelist_ip-1", "10.0.0.0/8")])
    (call,) = server.calls()
    assert "whitelist_ip-1=10.0.0.0%2F8" in call["argv"]
    assert server.tokens("root")["ci"]["whitelist_ips"] == ["10.0.0.0/8"]


def test_booleans_become_1_and_0(client):
    argv = client.argv("f", [("yes", True), ("no", False)], owner="bob")
    assert argv[1:] == ["--output=json", "--user=bob", "f", "yes=1", "no=0"]


# -- data and quirks ----------------------------------------------------------


def test_list_tokens_gives_token_objects(client):
    alpha, beta = client.list_tokens("root")
    assert (alpha.name, alpha.owner, alpha.create_time) == ("alpha", "root", NOW - 100 * DAY)
    assert alpha.expires_at == NOW - 3 * DAY and alpha.is_expired(NOW)
    assert alpha.full_access and not alpha.ip_limited
    assert not beta.full_access and beta.whitelist_ips == ("192.0.2.1",)
    assert beta.expires_at is None


@pytest.mark.parametrize("kind", ["expires_as_string", "acls_as_string", "whitelist_absent",
                                  "whitelist_empty", "warnings", "messages", "latency",
                                  "expires_as_number", "whitelist_null"])
def test_quirky_answers_give_the_same_tokens(client, server, kind):
    plain = [(t.to_dict(), t.acls, t.whitelist_ips) for t in client.list_tokens("root")]
    params = {"seconds": 0.01} if kind == "latency" else {}
    server.add_fault(kind, function="api_token_list", **params)
    quirky = [(t.to_dict(), t.acls, t.whitelist_ips) for t in client.list_tokens("root")]
    assert quirky == plain
    assert kind in server.calls()[-1]["faults"]


@pytest.mark.parametrize("kind", ["no_data", "null_data", "empty_data"])
def test_answers_without_data_give_an_empty_dict(client, server, kind):
    server.add_fault(kind, function="listresellers")
    assert client.call("listresellers") == {}
    assert client.list_resellers() == []


@pytest.mark.parametrize("kind", ["no_data", "null_data", "empty_data"])
def test_a_revoke_answer_without_data_is_success(client, server, kind):
    server.add_fault(kind, function="api_token_revoke")
    assert client.revoke_tokens("bob", ["gamma"]) == 1
    assert server.token_names("bob") == set()


def test_list_resellers(client, server):
    server.add_reseller("carol")
    assert sorted(client.list_resellers()) == ["bob", "carol"]


# -- faults -> typed errors, nothing half-done ---------------------------------


def test_missing_binary_names_the_path_and_the_variable(tmp_path):
    path = str(tmp_path / "nowhere" / "whmapi1")
    with pytest.raises(WhmapiMissing) as raised:
        Client(binary=path).list_tokens("root")
    message = str(raised.value)
    assert path in message and "TOKENSWEEPER_WHMAPI1" in message
    assert raised.value.function == "api_token_list" and raised.value.owner == "root"


def test_non_executable_binary_is_missing(tmp_path, monkeypatch):
    path = tmp_path / "whmapi1"
    path.write_text("#!/bin/sh\necho '{}'\n")
    os.chmod(str(path), stat.S_IRUSR | stat.S_IWUSR)
    monkeypatch.setenv("TOKENSWEEPER_WHMAPI1", str(path))
    with pytest.raises(WhmapiMissing) as raised:
        Client().call("listresellers")
    assert str(path) in str(raised.value) and "TOKENSWEEPER_WHMAPI1" in str(raised.value)


def test_hang_times_out_and_the_child_is_killed(server):
    server.add_fault("hang", function="api_token_revoke")
    with pytest.raises(WhmapiTimeout) as raised:
        Client(timeout=0.5).revoke_tokens("root", ["alpha"])
    assert raised.value.function == "api_token_revoke" and raised.value.owner == "root"
    assert "killed" in str(raised.value)
    (hung,) = server.calls("api_token_revoke")
    with pytest.raises(ProcessLookupError):
        os.kill(hung["pid"], 0)
    assert "alpha" in server.token_names("root")


def test_a_descendant_holding_the_pipes_does_not_stretch_the_timeout(server, tmp_path):
    """Issue 11.8: a 2 s timeout became 15 s while a detached descendant held stdout.
    Unbounded, this call would wait the descendant's 120 s."""
    pid_file = tmp_path / "holder.pid"
    server.add_fault("hang", function="api_token_list", grandchild=120, pid_file=str(pid_file))
    started = time.monotonic()
    try:
        with pytest.raises(WhmapiTimeout) as raised:
            Client(timeout=0.5).list_tokens("root")
        waited = time.monotonic() - started
        holder = int(pid_file.read_text())
        os.kill(holder, 0)  # the descendant was out of reach of the kill, as on a real server
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert "no answer after 0.5 seconds" in str(raised.value)
    assert waited < 60  # generous: the bound is the timeout plus a short grace


def test_non_zero_exit_without_json_is_a_failure_with_the_message(client, server):
    server.add_fault("exit", function="api_token_revoke", status=255,
                     message="Cpanel::Exception::IO::FileOpenError: Permission denied")
    with pytest.raises(WhmapiFailed) as raised:
        client.revoke_tokens("bob", ["gamma"])
    error = raised.value
    assert (error.function, error.owner) == ("api_token_revoke", "bob")
    assert "255" in error.reason and "Permission denied" in error.reason
    assert server.token_names("bob") == {"gamma"}


def test_exit_after_the_work_is_still_a_failure(client, server):
    """The revoke went through, but whmapi1 died: the client must not claim success."""
    server.add_fault("exit", function="api_token_revoke", when="after")
    with pytest.raises(WhmapiFailed):
        client.revoke_tokens("root", ["alpha"])


def test_non_zero_exit_with_a_failure_answer_gives_cpanels_reason(client, server):
    server.add_fault("exit", function="api_token_revoke", status=2, json=True,
                     message=CPANEL_LOCK_REASON)
    with pytest.raises(WhmapiFailed) as raised:
        client.revoke_tokens("root", ["alpha"])
    assert raised.value.reason == "exit status 2: " + CPANEL_LOCK_REASON
    assert "alpha" in server.token_names("root")


def test_non_zero_exit_with_an_ok_answer_is_a_failure_that_does_not_say_ok(client, server):
    """whmapi1 printed a complete OK listing, then died: the listing is not trusted, and
    the message gives the error whmapi1 printed, not the answer's "OK"."""
    server.add_fault("exit", function="api_token_list", when="after", json=True,
                     message="Out of memory!")
    with pytest.raises(WhmapiFailed) as raised:
        client.list_tokens("root")
    assert raised.value.reason == (
        "exit status 1 although the answer said it succeeded: Out of memory!")


def test_result_0_is_a_failure_with_cpanels_reason(client, server):
    server.add_fault("fail", function="api_token_revoke")
    with pytest.raises(WhmapiFailed) as raised:
        client.revoke_tokens("root", ["alpha", "beta"])
    assert raised.value.reason == CPANEL_LOCK_REASON
    assert CPANEL_LOCK_REASON in str(raised.value)
    assert server.token_names("root") == {"alpha", "beta"}


def test_unknown_function_is_a_failure(client):
    with pytest.raises(WhmapiFailed) as raised:
        client.call("no_such_function")
    assert "no_such_function" in raised.value.reason


def test_revoke_without_names_makes_no_call(client, server):
    assert client.revoke_tokens("root", []) == 0
    assert server.calls() == []


def test_garbage_is_bad_output(client, server):
    server.add_fault("garbage", function="api_token_revoke")
    with pytest.raises(WhmapiBadOutput) as raised:
        client.revoke_tokens("root", ["alpha"])
    assert raised.value.owner == "root"
    assert "alpha" in server.token_names("root")


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "not a JSON object"),
    ('{"data": {}}', "no metadata"),
    ('{"data": {"reseller": "bob"}, "metadata": {"result": 1}}', "not a list"),
    ("", "no JSON"),
])
def test_json_of_the_wrong_shape_is_bad_output(client, server, text, words):
    server.add_fault("garbage", function="listresellers", text=text)
    with pytest.raises(WhmapiBadOutput) as raised:
        client.list_resellers()
    assert words in str(raised.value)


def test_every_error_is_a_whmapi_error():
    for cls in (WhmapiMissing, WhmapiTimeout, WhmapiFailed, WhmapiBadOutput):
        assert issubclass(cls, WhmapiError)


def test_a_failure_of_one_call_does_not_poison_the_next(client, server):
    server.add_fault("fail", function="api_token_list", times=1)
    with pytest.raises(WhmapiFailed):
        client.list_tokens("root")
    assert [t.name for t in client.list_tokens("root")] == ["alpha", "beta"]


# -- batching -------------------------------------------------------------------


def seed_many(server, owner, count):
    names = ["tok-%05d" % i for i in range(count)]
    server.replace_tokens(owner, {n: {"name": n, "create_time": NOW - DAY, "expires_at": None,
                                      "acls": {"all": 1}, "whitelist_ips": None} for n in names})
    return names


def assert_numbered_from_one(call):
    keys = [arg.split("=", 1)[0] for arg in call["argv"] if arg.startswith("token_name")]
    assert keys == ["token_name-%d" % (i + 1) for i in range(len(keys))]


@pytest.mark.parametrize("count, batch", [(1, 5), (5, 5), (6, 5), (2000, 500), (11, 1)])
def test_revoking_n_names_takes_ceil_n_over_b_calls(server, count, batch):
    names = seed_many(server, "bob", count)
    made = Client(batch_size=batch).revoke_tokens("bob", names)
    calls = server.calls("api_token_revoke")
    assert made == len(calls) == math.ceil(count / batch)
    revoked = [name for call in calls for name in names_in(call)]
    assert sorted(revoked) == names  # each name exactly once
    for call in calls:
        assert call["owner"] == "bob" and len(names_in(call)) <= batch
        assert_numbered_from_one(call)
    assert server.token_names("bob") == set()
    assert len(server.accounting_lines()) == count


def test_default_batch_is_at_most_500(server):
    names = seed_many(server, "root", 1001)
    assert Client().revoke_tokens("root", names) == 3


def test_batches_also_respect_the_argv_byte_bound(server):
    names = ["n%s-%03d" % ("x" * 40, i) for i in range(120)]
    server.replace_tokens("root", {n: {"name": n, "create_time": NOW - DAY, "expires_at": None,
                                       "acls": {"all": 1}, "whitelist_ips": None} for n in names})
    limit = 1000
    made = Client(batch_size=500, max_argv_bytes=limit).revoke_tokens("root", names)
    calls = server.calls("api_token_revoke")
    assert made == len(calls) > 1
    for call in calls:
        params = [arg for arg in call["argv"] if arg.startswith("token_name")]
        assert sum(len(arg) + 1 for arg in params) <= limit
        assert_numbered_from_one(call)
    # bounded, not wasteful: each call but the last was close to full
    per_arg = len("token_name-10=") + 45 + 1
    assert len(calls) <= math.ceil(120 * per_arg / (limit - per_arg))
    assert server.token_names("root") == set()


def test_a_failed_batch_leaves_the_others_alone(server):
    """Batch 2 of 3 fails: batch 1 is done, batches 2 and 3 untouched, and the error says so."""
    names = seed_many(server, "bob", 9)
    server.add_fault("fail", function="api_token_revoke", after=1, times=1)
    with pytest.raises(WhmapiFailed):
        Client(batch_size=3).revoke_tokens("bob", names)
    assert server.token_names("bob") == set(names[3:])


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        Client(binary="/bin/true", batch_size=0)


def test_tokens_compare_by_value():
    one = Token("root", "a", 1, None, {"all": 1})
    assert one == Token("root", "a", 1, None, {"all": True})
    assert one != Token("bob", "a", 1, None, {"all": 1})


# -- update_whitelists: many api_token_update in one `batch` per owner (issue 28) -------


def updated_ips(server, owner):
    return {name: t.get("whitelist_ips") for name, t in server.tokens(owner).items()}


@pytest.mark.parametrize("count, batch", [(1, 100), (5, 2), (7, 7), (8, 7)])
def test_updating_n_tokens_takes_ceil_n_over_b_batch_processes_as_the_owner(server, count,
                                                                             batch):
    for i in range(count):
        add(server, "bob", "t%d" % i, age_days=3)
    server.reset_calls()
    answers = Client(uapi_batch=batch).update_whitelists(
        "bob", [("t%d" % i, ["192.0.2.1"]) for i in range(count)])
    assert answers == {"t%d" % i: None for i in range(count)}
    calls = server.calls()
    assert len(calls) == math.ceil(count / batch)
    assert {c["function"] for c in calls} == {"batch"} and {c["owner"] for c in calls} == {"bob"}
    assert all("--user=bob" in c["argv"] for c in calls)
    assert all(updated_ips(server, "bob")["t%d" % i] == ["192.0.2.1"] for i in range(count))


def test_an_update_passes_only_the_name_and_the_list_and_any_for_none(client, server):
    client.update_whitelists("root", [("beta", []), ("alpha", ["10.0.0.0/8", "203.0.113.9"])])
    (call,) = server.calls()
    commands = sorted(a.split("=", 1)[1] for a in call["argv"] if a.startswith("command-"))
    from urllib.parse import unquote
    assert [unquote(c) for c in commands] == [
        "api_token_update?token_name=alpha&whitelist_ip-0=10.0.0.0%2F8&"
        "whitelist_ip-1=203.0.113.9",
        "api_token_update?token_name=beta&whitelist_ip-0=any"]
    assert "abort_on_error=0" in call["argv"]
    ips = updated_ips(server, "root")
    assert ips["beta"] is None and ips["alpha"] == ["10.0.0.0/8", "203.0.113.9"]


def test_each_update_is_judged_by_its_own_answer(client, server):
    answers = client.update_whitelists("root", [("alpha", ["192.0.2.1"]),
                                                ("nope", ["192.0.2.1"]),
                                                ("beta", ["not an address"])])
    assert answers["alpha"] is None
    assert answers["nope"] == ("whmapi1 api_token_update as root: The system failed to update "
                               "the API token: The API token “nope” does not exist.")
    assert "Invalid IP address" in answers["beta"]
    assert updated_ips(server, "root")["alpha"] == ["192.0.2.1"]


@pytest.mark.parametrize("fault, words", [
    ({"kind": "exit", "status": 1, "message": "boom"}, "exit status 1"),
    ({"kind": "garbage", "text": "<html>"}, "not JSON"),
    ({"kind": "no_data"}, "no data.result list"),
])
def test_a_failed_batch_process_fails_every_update_in_it(client, server, fault, words):
    server.add_fault(function="batch", **fault)
    answers = client.update_whitelists("root", [("alpha", ["192.0.2.1"]),
                                                ("beta", ["192.0.2.1"])])
    assert set(answers) == {"alpha", "beta"}
    assert all(words in why for why in answers.values()), answers


def test_update_chunks_respect_the_argv_byte_bound(server):
    client = Client(uapi_batch=100, max_argv_bytes=400)
    updates = [("n%02d" % i, ["192.0.2.1"]) for i in range(20)]
    chunks = list(client.update_chunks(updates))
    assert [u for chunk in chunks for u in chunk] == updates
    assert len(chunks) > 1 and all(len(chunk) >= 1 for chunk in chunks)
