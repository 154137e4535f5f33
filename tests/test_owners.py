"""Who owns WHM API tokens: root, listresellers, and cPanel's token directory."""

import json
import os
import subprocess
import sys

import pytest

from tests.fakes.fakeserver import FakeServer
from tests.helpers import DAY, NOW
from tokensweeper.owners import find_owners, take_inventory, token_file_owners
from tokensweeper.whmapi import Client

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def server(tmp_path, monkeypatch):
    server = FakeServer(str(tmp_path / "fake"), now=NOW)
    server.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "cpanel"))
    return server


def token_dir(tmp_path):
    directory = tmp_path / "cpanel" / "var" / "cpanel" / "authn" / "api_tokens_v2" / "whostmgr"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


HOLDS_ONE = '{"tokens":{"%s":{"name":"t","create_time":1,"expires_at":null}}}' % ("ab" * 64)
EMPTIED = '{"tokens":{}}'  # what cPanel keeps after the last revoke


def test_root_resellers_and_token_file_owners_once_each_root_first(server, tmp_path):
    for name in ("zed", "amy", "bob"):
        server.add_reseller(name)
    files = token_dir(tmp_path)
    for name in ("bob", "former", "root"):  # a reseller whose privileges were removed
        (files / (name + ".json")).write_text(HOLDS_ONE)
    (files / "README").write_text("not a token file")
    owners, problems = find_owners(Client())
    assert owners == ["root", "amy", "bob", "former", "zed"]
    assert problems == []


def test_names_that_are_no_cpanel_user_are_left_out_and_said(server, tmp_path):
    files = token_dir(tmp_path)
    for name in ("-rf", "Evil User", "ok-user"):
        (files / (name + ".json")).write_text(HOLDS_ONE)
    owners, problems = find_owners(Client())
    assert owners == ["root", "ok-user"]
    assert len(problems) == 2 and all("not a valid cPanel user name" in p for p in problems)
    assert server.calls("api_token_list") == []  # finding owners lists no tokens


def test_an_emptied_token_file_is_no_owner_and_an_unreadable_one_is_asked_about(server, tmp_path):
    server.add_reseller("amy")
    files = token_dir(tmp_path)
    (files / "amy.json").write_text(EMPTIED)  # a reseller stays an owner: listresellers says so
    (files / "former.json").write_text(EMPTIED)  # a former reseller whose last token was revoked
    (files / "kept.json").write_text(HOLDS_ONE)
    (files / "odd.json").write_text("not what cPanel writes")  # only whmapi1 can tell
    owners, problems = find_owners(Client())
    assert owners == ["root", "amy", "kept", "odd"] and problems == []


def test_a_missing_token_directory_means_no_extra_owners(server):
    assert token_file_owners() == []
    assert find_owners(Client()) == (["root"], [])


def test_one_owner_failing_to_list_does_not_hide_the_others(server):
    for name in ("amy", "bob"):
        server.add_reseller(name)
        server.add_token(name, name + "-token", NOW - DAY)
    server.add_fault("fail", function="api_token_list", owner="amy", reason="The store is locked.")
    inventory = take_inventory(Client(), ["root", "amy", "bob"], parallel=2)
    assert [t.key() for t in inventory.tokens] == [("bob", "bob-token")]
    assert list(inventory.errors) == ["amy"] and "The store is locked." in inventory.errors["amy"]


def find_owners_in_a_child(server, tmp_path):
    """find_owners() in its own process, so that a reader stuck on a FIFO fails the test
    (TimeoutExpired) instead of hanging the suite."""
    code = ("import json; from tokensweeper.owners import find_owners; "
            "from tokensweeper.whmapi import Client; print(json.dumps(find_owners(Client())))")
    env = dict(server.full_env(), TOKENSWEEPER_CPANEL_ROOT=str(tmp_path / "cpanel"),
               PYTHONPATH=os.path.join(REPO, "plugin"))
    out = subprocess.check_output([sys.executable, "-c", code], env=env, timeout=120)
    owners, problems = json.loads(out.decode("utf-8"))
    return owners, problems


def test_a_token_file_that_is_a_fifo_a_link_or_huge_is_asked_about_never_waited_on(
        server, tmp_path):
    """cPanel writes regular files only. A FIFO in their place must not stall owner discovery
    (the hook's fast path reads the same file), a symlink is not followed (here to a
    bottomless /dev/zero, or to an emptied file elsewhere) and a file far bigger than
    cPanel's is not read whole: only whmapi1 can tell whether such a user owns tokens."""
    files = token_dir(tmp_path)
    os.mkfifo(str(files / "fifo.json"))
    os.symlink("/dev/zero", str(files / "zero.json"))
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(EMPTIED)
    os.symlink(str(elsewhere), str(files / "linked.json"))
    with open(str(files / "huge.json"), "wb") as handle:  # sparse: costs no disk
        handle.truncate(100 * 1024 * 1024)
    owners, problems = find_owners_in_a_child(server, tmp_path)
    assert owners == ["root", "fifo", "huge", "linked", "zero"] and problems == []
