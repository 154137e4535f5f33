"""The account-event hook with cPanel accounts' own tokens (issue 15): suspension, removal
(snapshot of both kinds, the token file when whmapi1 cannot list), rename and password
change act on the account's cPanel tokens when the config's kinds include cpanel, and
the fast path for an account without any token file stays whmapi1- and config-free."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import DAY, NOW
from tests.test_hook import (
    HEAVY,
    RUNPY_WRAPPER,
    Hook,
    assert_answer_starts,
    assert_worker_said,
    change_password,
    line,
    modify,
    queued,
    remove,
    suspend,
)

BOTH = "kinds: [whm, cpanel]\n"


@pytest.fixture
def hook(tmp_path):
    h = Hook(tmp_path)
    h.tokens("root", [("root-ci", 400, -30)])
    h.reseller("res1", [("old-ci", 200, -10), ("deploy", 5, 300)])
    server = h.server
    server.add_account("res1", owner="root")  # the reseller's own cPanel account
    server.add_account("shop", owner="res1")
    server.add_cpanel_token("shop", "wp-old", NOW - 90 * DAY, expires_at=NOW - 3 * DAY)
    server.add_cpanel_token("shop", "wp-new", NOW - 2 * DAY)
    server.add_cpanel_token("shop", "MailNodeLinkage", NOW - 300 * DAY, expires_at=NOW - DAY)
    server.add_cpanel_token("res1", "old-ci", NOW - 100 * DAY, expires_at=NOW - 9 * DAY)
    server.write_token_files(h.cpanel_root)
    return h


def cpanel_file(hook, account):
    return os.path.join(hook.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2", "cpanel",
                        account + ".json")


def test_suspension_sweeps_the_accounts_cpanel_tokens_when_the_config_says_so(hook):
    hook.config("mode: enforce\n" + BOTH)
    out, _, worker = hook.handle(suspend("shop"))
    assert out == queued("suspendacct shop")
    assert_worker_said(worker, "suspendacct shop: revoked 1 token, 1 kept as protected (run ")
    assert hook.server.cpanel_token_names("shop") == {"wp-new", "MailNodeLinkage"}
    # no WHM call for an account that owns no WHM tokens: list, list, revoke, verify
    assert [c["function"] for c in hook.server.calls()] == ["batch"] * 4
    (record,) = [r for r in hook.audit() if r["event"] == "outcome"]
    assert {(t["kind"], t["name"], t["action"]) for t in record["tokens"]} == {
        ("cpanel", "wp-old", "revoked"), ("cpanel", "MailNodeLinkage", "kept-protected")}


def test_without_kinds_the_hook_leaves_cpanel_tokens_alone(hook):
    hook.config("mode: enforce\n")  # an existing config: kinds means [whm]
    out, _ = hook.run(suspend("shop"))
    assert out == line("suspendacct shop: no tokens of the kinds the config acts on (whm); "
                       "nothing to do")
    assert hook.server.calls() == []
    assert hook.server.cpanel_token_names("shop") == {"wp-old", "wp-new", "MailNodeLinkage"}


def test_a_resellers_suspension_sweeps_both_its_kinds_apart(hook):
    hook.config("mode: enforce\n" + BOTH)
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: revoked 2 tokens (run ")
    assert hook.server.token_names("res1") == {"deploy"}
    assert hook.server.cpanel_token_names("res1") == set()


def test_revoke_all_on_rename_and_password_change_reach_cpanel_tokens(hook):
    hook.config("mode: enforce\n" + BOTH + "events: {rename: revoke_all, "
                "password_change: revoke_all}\n")
    _, _, worker = hook.handle(change_password("shop"))
    assert_worker_said(worker, "ChangePasswd shop: revoked 3 tokens (run ")
    assert hook.server.cpanel_token_names("shop") == set()
    hook.server.add_account("blog", owner="res1")
    hook.server.add_cpanel_token("blog", "ci", NOW - DAY)
    hook.server.write_token_files(hook.cpanel_root)
    hook.server.rename_account("blog", "blog2")  # its tokens and users file go along
    _, _, worker = hook.handle(modify("blog", newuser="blog2"))
    assert_worker_said(worker, "Modify blog2: revoked 1 token (run ")


def test_removal_snapshots_both_kinds(hook):
    out, _ = hook.run(remove("res1"))  # no config: remove is snapshot, whatever the kinds
    assert_answer_starts(out, "Remove res1: recorded 3 tokens in the audit log (run ")
    (record,) = hook.audit()
    assert sorted((t["kind"], t["name"]) for t in record["tokens"]) == [
        ("cpanel", "old-ci"), ("whm", "deploy"), ("whm", "old-ci")]


def test_removal_snapshot_falls_back_to_the_cpanel_token_file(hook):
    hook.server.add_fault("exit", function="batch", message="Killed")
    out, err = hook.run(remove("shop"))
    assert_answer_starts(out, "Remove shop: recorded 3 tokens in the audit log (run ")
    (record,) = hook.audit()
    assert "read from the account's token file" in record["note"]
    assert sorted(t["name"] for t in record["tokens"]) == ["MailNodeLinkage", "wp-new",
                                                           "wp-old"]
    assert {t["account_owner"] for t in record["tokens"]} == {"res1"}
    assert "Killed" in err


def test_an_account_with_an_emptied_cpanel_file_is_on_the_fast_path(hook, tmp_path):
    hook.server.add_account("gone", owner="res1")
    with open(cpanel_file(hook, "gone"), "w") as handle:
        handle.write('{"tokens":{}}')
    hook.config("this: is: not: yaml: [")  # proves the config is never read
    modules_file = str(tmp_path / "modules.json")
    proc = subprocess.Popen([sys.executable, "-c", RUNPY_WRAPPER, modules_file,
                             os.path.join(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__))), "hooks", "tokensweeper-hook")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=hook.env())
    out, _ = proc.communicate(suspend("gone"), timeout=60)
    assert out == line("suspendacct gone: the account owns no API tokens; nothing to do")
    assert hook.server.calls() == []
    with open(modules_file) as handle:
        assert not set(json.load(handle)) & set(HEAVY)


def test_an_account_with_cpanel_tokens_is_not_on_the_fast_path(hook):
    hook.config("this: is: not: yaml: [")
    out, _ = hook.run(suspend("shop"))
    assert_answer_starts(out, "suspendacct shop: config error, nothing done")
