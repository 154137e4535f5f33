"""Pins on whmapi.py found by mutation testing (`make mutate`): how the child
process is started (what it can read, what a timeout kills), how its bytes are
decoded, and the exact words of each failure an admin reads."""

import json
import os
import signal
import sys
import textwrap
from urllib.parse import quote

import pytest

from tokensweeper.whmapi import (
    Client,
    UapiCall,
    WhmapiBadOutput,
    WhmapiError,
    WhmapiFailed,
    WhmapiMissing,
    WhmapiTimeout,
)

OK_TOKENS = {"metadata": {"result": 1, "reason": "OK"}, "data": {"tokens": {}}}


def script(tmp_path, body, name="whmapi1"):
    """A stand-in whmapi1 written in Python: `body` runs with sys, os and json imported."""
    path = tmp_path / name
    path.write_text(
        "#!%s\nimport json, os, sys\n%s" % (sys.executable, textwrap.dedent(body))
    )
    path.chmod(0o755)
    return str(path)


def printing(tmp_path, stdout=b"", stderr=b"", status=0):
    """A whmapi1 that prints exactly these bytes and exits with status."""
    return script(
        tmp_path,
        """
        sys.stdout.buffer.write(%r)
        sys.stderr.buffer.write(%r)
        sys.exit(%d)
        """ % (stdout, stderr, status),
    )


def failure(binary, function="api_token_list", owner="root", cls=WhmapiError):
    with pytest.raises(cls) as caught:
        Client(binary=binary, timeout=30).call(function, owner=owner)
    return caught.value


# -- what the child can reach ---------------------------------------------------


def test_whmapi1_cannot_read_the_callers_stdin(tmp_path):
    # The hook's stdin is cPanel's payload (it can carry the account's new
    # password); the CGI's is the request body. whmapi1 must see neither.
    binary = script(
        tmp_path,
        """
        print(json.dumps({"metadata": {"result": 1}, "data": {"stdin": sys.stdin.read()}}))
        """,
    )
    read_end, write_end = os.pipe()
    os.write(write_end, b"password=hunter2\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        data = Client(binary=binary).call("api_token_list")
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)
    assert data == {"stdin": ""}


def test_whmapi1_runs_in_a_session_of_its_own(tmp_path):
    # So that a timeout can kill it with everything it started (one process group).
    binary = script(
        tmp_path,
        """
        leader = os.getsid(0) == os.getpid() and os.getpgrp() == os.getpid()
        print(json.dumps({"metadata": {"result": 1}, "data": {"leader": leader}}))
        """,
    )
    assert Client(binary=binary).call("api_token_list") == {"leader": True}


def test_a_timeout_kills_the_grandchildren_that_hold_the_output_open(tmp_path):
    # whmapi1 is a wrapper: a grandchild holding stdout would keep communicate()
    # waiting long after whmapi1 itself was killed.
    pid_file = tmp_path / "grandchild.pid"
    binary = script(
        tmp_path,
        """
        import time
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        with open(%r, "w") as handle:
            handle.write(str(pid))
        time.sleep(600)
        """ % str(pid_file),
    )
    try:
        with pytest.raises(WhmapiTimeout) as caught:
            Client(binary=binary, timeout=1).call("api_token_list", owner="bob")
        assert str(caught.value) == (
            "whmapi1 api_token_list as bob: no answer after 1 seconds; the call was killed"
        )
        grandchild = int(pid_file.read_text())
        assert _dies_within(grandchild, 5)
    finally:
        if pid_file.exists():
            _kill_quietly(int(pid_file.read_text()))


def _dies_within(pid, seconds):
    """A process sent SIGKILL closes its files (the pipes' EOF) a moment before the kernel
    marks it a zombie: poll briefly rather than catch it in between (a flake under load)."""
    import time

    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed grandchild re-parented to init may linger as a zombie for a moment.
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# -- decoding ---------------------------------------------------------------------


def test_a_bad_byte_in_a_listing_does_not_abort_the_call(tmp_path):
    # The verifying listing after a revoke must never abort on one bad byte:
    # that would leave an intent without an outcome.
    answer = (
        b'{"metadata":{"result":1,"reason":"OK"},"data":{"tokens":{"t1":'
        b'{"name":"t1","create_time":5,"note":"caf\xe9"}}}}'
    )
    tokens = Client(binary=printing(tmp_path, stdout=answer)).list_tokens("root")
    assert [t.name for t in tokens] == ["t1"]


def test_a_bad_byte_in_stderr_still_gives_the_message(tmp_path):
    error = failure(printing(tmp_path, stderr=b"bad \xff user\n", status=1), cls=WhmapiFailed)
    assert str(error) == (
        "whmapi1 api_token_list as root: exit status 1, no JSON answer: bad \ufffd user"
    )


# -- the words of each failure ----------------------------------------------------


def test_no_output_with_exit_0_is_bad_output_saying_so(tmp_path):
    error = failure(printing(tmp_path), cls=WhmapiBadOutput)
    assert str(error) == "whmapi1 api_token_list as root: exit status 0, no JSON answer: no output"
    assert (error.function, error.owner) == ("api_token_list", "root")


def test_no_output_with_a_failure_status_gives_the_first_stderr_line(tmp_path):
    binary = printing(tmp_path, stderr=b"\n  \n  first line  \nsecond\n", status=2)
    error = failure(binary, owner="bob", cls=WhmapiFailed)
    assert str(error) == "whmapi1 api_token_list as bob: exit status 2, no JSON answer: first line"
    assert error.reason == "exit status 2, no JSON answer: first line"


def test_a_long_stderr_line_is_cut_to_300_characters(tmp_path):
    error = failure(printing(tmp_path, stderr=b"x" * 400, status=1))
    assert error.reason == "exit status 1, no JSON answer: " + "x" * 300


def test_text_that_is_not_json_is_quoted_by_its_first_line(tmp_path):
    error = failure(printing(tmp_path, stdout=b"Can't locate Foo.pm\nat line 3\n"))
    assert isinstance(error, WhmapiBadOutput)
    assert str(error) == (
        "whmapi1 api_token_list as root: exit status 0, not JSON: Can't locate Foo.pm"
    )
    error = failure(printing(tmp_path, stdout=b"Died\n", status=255))
    assert isinstance(error, WhmapiFailed)
    assert error.reason == "exit status 255, not JSON: Died"


def test_json_that_is_not_an_object_is_bad_output(tmp_path):
    error = failure(printing(tmp_path, stdout=b"[1]"), owner="bob", cls=WhmapiBadOutput)
    assert str(error) == "whmapi1 api_token_list as bob: the answer is not a JSON object"


def test_an_answer_without_metadata_is_bad_output(tmp_path):
    error = failure(printing(tmp_path, stdout=b'{"data":{}}'), owner="bob", cls=WhmapiBadOutput)
    assert str(error) == "whmapi1 api_token_list as bob: the answer has no metadata"


def test_result_0_without_a_reason_says_so(tmp_path):
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":0,"reason":"  "}}')
    error = failure(binary, owner="bob")
    assert isinstance(error, WhmapiFailed)
    assert str(error) == "whmapi1 api_token_list as bob: result 0 without a reason"


def test_a_failure_status_with_ok_json_and_no_stderr_says_no_message(tmp_path):
    binary = printing(tmp_path, stdout=json.dumps(OK_TOKENS).encode(), status=1)
    assert failure(binary).reason == (
        "exit status 1 although the answer said it succeeded: no message"
    )


def test_a_failure_status_with_a_reasonless_refusal_quotes_stderr(tmp_path):
    binary = printing(
        tmp_path, stdout=b'{"metadata":{"result":0}}', stderr=b"locked\n", status=1
    )
    assert str(failure(binary, owner="bob")) == (
        "whmapi1 api_token_list as bob: exit status 1: locked"
    )
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":"0"}}', status=1)
    assert failure(binary).reason == "exit status 1: no message"


def test_result_as_a_string_1_is_success(tmp_path):
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":"1"},"data":{"a":1}}')
    assert Client(binary=binary).call("api_token_list") == {"a": 1}


def test_data_that_is_not_an_object_reads_as_none(tmp_path):
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":1},"data":[1,2]}')
    assert Client(binary=binary).call("listresellers") == {}


def test_a_missing_binary_names_it_and_the_variable(tmp_path):
    missing = str(tmp_path / "nowhere" / "whmapi1")
    error = failure(missing, cls=WhmapiMissing)
    assert str(error) == (
        "whmapi1 api_token_list as root: cannot run %s (No such file or directory); "
        "set TOKENSWEEPER_WHMAPI1 to the whmapi1 binary" % missing
    )


# -- listresellers ------------------------------------------------------------------


@pytest.mark.parametrize("reseller", ['"bob"', '["bob", 1]', '{"bob": 1}'])
def test_a_reseller_list_of_the_wrong_shape_is_bad_output(tmp_path, reseller):
    answer = '{"metadata":{"result":1},"data":{"reseller":%s}}' % reseller
    with pytest.raises(WhmapiBadOutput) as caught:
        Client(binary=printing(tmp_path, stdout=answer.encode())).list_resellers()
    assert str(caught.value) == (
        "whmapi1 listresellers as root: data.reseller is not a list of names"
    )


def test_no_reseller_key_means_no_resellers(tmp_path):
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":1},"data":{}}')
    assert Client(binary=binary).list_resellers() == []


# -- argv ---------------------------------------------------------------------------


def test_argv_for_a_reseller_with_dict_params(tmp_path):
    client = Client(binary="/x/whmapi1")
    assert client.argv("api_token_revoke", {"token_name-1": "a b", "flag": True}, "bob") == [
        "/x/whmapi1",
        "--output=json",
        "--user=bob",
        "api_token_revoke",
        "token_name-1=a%20b",
        "flag=1",
    ]
    assert client.argv("listresellers") == ["/x/whmapi1", "--output=json", "listresellers"]
    assert client.argv("f", [("off", False), ("n", 0)]) == [
        "/x/whmapi1", "--output=json", "f", "off=0", "n=0"
    ]


def test_batches_fill_to_the_byte_bound_exactly():
    # Each "token_name-N=NAME" argument costs its length plus one (the NUL).
    two = 2 * (len("token_name-1=aaaa") + 1)
    client = Client(binary="/x/whmapi1", batch_size=10, max_argv_bytes=two)
    assert list(client.batches(["aaaa"] * 5)) == [["aaaa", "aaaa"], ["aaaa", "aaaa"], ["aaaa"]]
    client = Client(binary="/x/whmapi1", batch_size=10, max_argv_bytes=two - 1)
    assert list(client.batches(["aaaa", "aaaa", "aaaa"])) == [["aaaa"], ["aaaa"], ["aaaa"]]


def test_a_name_that_alone_exceeds_the_bound_still_gets_its_own_call():
    client = Client(binary="/x/whmapi1", max_argv_bytes=5)
    assert list(client.batches(["long-name", "other"])) == [["long-name"], ["other"]]


def test_revoke_reports_the_calls_it_made(tmp_path):
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":1}}')
    client = Client(binary=binary, batch_size=2)
    assert client.revoke_tokens("bob", ["a", "b", "c"]) == 2
    assert client.revoke_tokens("bob", []) == 0


def test_a_refusal_with_a_failure_status_gives_cpanels_reason_first(tmp_path):
    binary = printing(tmp_path, stdout=b'{"metadata":{"result":0,"reason":"Denied"}}',
                      stderr=b"noise\n", status=1)
    assert failure(binary).reason == "exit status 1: Denied"


def test_the_defaults():
    client = Client(binary="/x/whmapi1")
    assert (client.timeout, client.batch_size, client.max_argv_bytes) == (60, 500, 64 * 1024)
    Client(binary="/x/whmapi1", batch_size=1)
    with pytest.raises(ValueError) as caught:
        Client(binary="/x/whmapi1", batch_size=0)
    assert str(caught.value) == "batch_size must be at least 1"


# -- UAPI calls in `batch` (issue 15) ---------------------------------------------------------


def uapi_calls(*users):
    return [UapiCall(user, "Tokens", "list") for user in users]


def batch_answer(tmp_path, results, status=0, result=1, reason="OK", stderr=b""):
    document = {"metadata": {"command": "batch", "result": result, "reason": reason,
                             "version": 1}}
    if results is not None:
        document["data"] = {"result": results}
    return printing(tmp_path, json.dumps(document).encode(), stderr, status)


def ok(data):
    return {"metadata": {"result": 1, "reason": "OK"},
            "data": {"uapi": {"status": 1, "errors": None, "data": data}}}


def test_a_uapi_command_is_uapi_cpanel_with_its_arguments_uri_encoded():
    call = UapiCall("shop1", "Tokens", "revoke", [("name", "a b&c"), ("n", 1)])
    assert call.label() == "Tokens::revoke"
    assert call.command() == ("uapi_cpanel?cpanel.user=shop1&cpanel.module=Tokens&"
                              "cpanel.function=revoke&name=a%20b%26c&n=1")


def test_the_batch_argv_numbers_its_commands_and_never_aborts(tmp_path):
    log = tmp_path / "argv.json"
    binary = script(tmp_path, """
        json.dump(sys.argv[1:], open(%r, "w"))
        print(json.dumps({"metadata": {"result": 1}, "data": {"result": [
            {"metadata": {"result": 1}, "data": {"uapi": {"status": 1, "data": []}}}] * 2}}))
        """ % str(log))
    answers = Client(binary=binary).run_uapi_chunk(uapi_calls("a", "b"))
    assert [(x.ok, x.data, x.call.user) for x in answers] == [(True, [], "a"), (True, [], "b")]
    assert json.loads(log.read_text()) == [
        "--output=json", "batch",
        "command-0=uapi_cpanel%3Fcpanel.user%3Da%26cpanel.module%3DTokens%26cpanel.function%3Dlist",
        "command-1=uapi_cpanel%3Fcpanel.user%3Db%26cpanel.module%3DTokens%26cpanel.function%3Dlist",
        "abort_on_error=0"]


def test_each_command_is_judged_on_its_own(tmp_path):
    results = [
        ok([{"name": "t"}]),
        {"metadata": {"result": 0, "reason": "You do not have access to “b”."}},
        {"metadata": {"result": 1}, "data": {"uapi": {"status": 0, "errors": [
            "This feature requires the “apitokens” feature.", " "]}}},
        {"metadata": {"result": 1}, "data": {"uapi": {"status": 0, "errors": None}}},
        {"metadata": {"result": 1}, "data": {}},
        "garbage",
        {"metadata": {"result": "0"}},
    ]
    answers = Client(binary=batch_answer(tmp_path, results)).run_uapi_chunk(
        uapi_calls("a", "b", "c", "d", "e", "f", "g"))
    assert [(x.ok, x.refused, x.error) for x in answers] == [
        (True, False, None),
        (False, False, "whmapi1 uapi_cpanel Tokens::list as b: You do not have access to “b”."),
        (False, True, "whmapi1 uapi_cpanel Tokens::list as c: UAPI refused: This feature "
                      "requires the “apitokens” feature."),
        (False, True, "whmapi1 uapi_cpanel Tokens::list as d: UAPI refused: status 0 without "
                      "a reason"),
        (False, False, "whmapi1 uapi_cpanel Tokens::list as e: the answer has no data.uapi"),
        (False, False, "whmapi1 uapi_cpanel Tokens::list as f: the answer has no metadata"),
        (False, False, "whmapi1 uapi_cpanel Tokens::list as g: result 0 without a reason"),
    ]
    assert answers[0].data == [{"name": "t"}]


@pytest.mark.parametrize("results,status,result,why", [
    (None, 0, 1, "the answer has no data.result list"),
    ([ok([])], 0, 1, "the answer holds 1 results for 2 commands"),
    (None, 0, 0, "Access denied"),
    ([ok([]), ok([])], 2, 1, "exit status 2 although the answer said it succeeded: boom"),
    (None, 3, 0, "exit status 3: Access denied"),
])
def test_a_batch_without_an_answer_per_command_fails_every_call(tmp_path, results, status,
                                                               result, why):
    binary = batch_answer(tmp_path, results, status, result,
                          "Access denied" if not result else "OK", b"boom\n")
    answers = Client(binary=binary).run_uapi_chunk(uapi_calls("a", "b"))
    assert [(x.ok, x.refused) for x in answers] == [(False, False)] * 2
    assert answers[1].error == "whmapi1 batch (Tokens::list as b): %s" % why


def test_a_batch_that_prints_nothing_fails_every_call_with_whmapi1s_words(tmp_path):
    binary = printing(tmp_path, b"", b"Killed\n", 137)
    answers = Client(binary=binary).run_uapi_chunk(uapi_calls("a"))
    assert answers[0].error == "whmapi1 batch as root: exit status 137, no JSON answer: Killed"


def test_uapi_chunks_keep_to_the_batch_size_and_the_argv_limit():
    calls = uapi_calls(*["user%02d" % i for i in range(7)])
    assert [len(c) for c in Client(binary="x", uapi_batch=3).uapi_chunks(calls)] == [3, 3, 1]
    one = len(quote(calls[0].command(), safe="")) + 16
    small = Client(binary="x", uapi_batch=100, max_argv_bytes=2 * one)
    assert [len(c) for c in small.uapi_chunks(calls)] == [2, 2, 2, 1]
    assert list(Client(binary="x").uapi_chunks([])) == []
    with pytest.raises(ValueError):
        Client(binary="x", uapi_batch=0)
