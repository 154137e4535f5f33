"""cPanel accounts' own API tokens as a second kind (issue 15): the fake's uapi_cpanel and
batch, the cPanel source (discovery, batched listing and revoking, faults), and the
engine keeping both kinds apart (keys, identities, protection, usage, cap, audit)."""

import json
import math
import os
import stat
import subprocess

import pytest

from tests.helpers import DAY, NOW, add, new_server
from tokensweeper import audit
from tokensweeper.lock import SweepLock
from tokensweeper.policy import (
    KEEP,
    PROTECTED,
    REVOKE,
    Protection,
    Selectors,
    confirmation_changes,
    identity_key,
    make_plan,
    plan_for_names,
)
from tokensweeper.sources import cpanel as cpanel_source
from tokensweeper.sweep import (
    ALREADY_GONE,
    DEFERRED,
    ENFORCE,
    FAILED,
    KEPT_PROTECTED,
    PREVIEW,
    REVOKED,
    UNVERIFIED,
    WOULD_REVOKE,
    build_plan,
    execute,
)
from tokensweeper.tokens import CPANEL, WHM, Token, TokenDataError, parse_uapi_token_list
from tokensweeper.whmapi import Client, UapiCall

BOTH = ("whm", "cpanel")


def stamp(epoch):
    """cPanel's ISO time with the characters a token name cannot hold made hyphens."""
    import time

    return time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(epoch))


@pytest.fixture
def cpanel_root(tmp_path):
    return tmp_path / "cpanel"


@pytest.fixture
def server(tmp_path, monkeypatch, cpanel_root):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    fake.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(cpanel_root))
    with fake.batch():
        fake.add_account("bob", owner="root")  # the reseller's own cPanel account
        fake.add_account("shop1", owner="bob")
        fake.add_account("shop2", owner="bob")
        fake.add_account("blog", owner="root")
        add(fake, "bob", "foo", age_days=50, expires_in_days=-2)  # bob's WHM token foo
        add(fake, "root", "root-fine", age_days=5)
        fake.add_cpanel_token("bob", "foo", NOW - 40 * DAY, expires_at=NOW - DAY)
        fake.add_cpanel_token("shop1", "deploy", NOW - 90 * DAY, expires_at=NOW - 5 * DAY)
        fake.add_cpanel_token("shop1", "fine", NOW - 9 * DAY)
        fake.add_cpanel_token("shop2", "old-ci", NOW - 500 * DAY, expires_at=NOW - 100 * DAY,
                              full_access=False, features=["ftp", "webdisk"])
        fake.add_cpanel_token("blog", "MailNodeLinkage", NOW - 300 * DAY,
                              expires_at=NOW - DAY)
        fake.add_cpanel_token("blog", "cpmove_%s_3fa9c2" % stamp(NOW - 20 * DAY),
                              NOW - 20 * DAY, expires_at=NOW - 2 * DAY)
    fake.write_token_files(cpanel_root)
    fake.write_resellers_file(cpanel_root)
    return fake


@pytest.fixture
def lock(tmp_path):
    with SweepLock(str(tmp_path / "state" / "sweep.lock")) as held:
        yield held


def expired_plan(kinds=BOTH, client=None, **kwargs):
    return build_plan(client or Client(), Selectors(expired=True), Protection(), None, NOW,
                      kinds=kinds, **kwargs)


def fates(result):
    return {(o.token.holder, o.token.name): o.action for o in result.outcomes}


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
                                    "features"}


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
        "shop1: UAPI refused: This feature requires the “apitokens” feature, which the "
        "account “shop1” does not have."]
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


def test_uapi_list_answers_are_checked():
    with pytest.raises(TokenDataError, match="shop1"):
        parse_uapi_token_list("shop1", {"tokens": {}})
    with pytest.raises(TokenDataError, match="has_full_access"):
        parse_uapi_token_list("shop1", [{"name": "a", "create_time": 1, "features": []}])
    with pytest.raises(TokenDataError, match="listed twice"):
        parse_uapi_token_list("shop1", [{"name": "a", "create_time": 1, "has_full_access": 1}] * 2)
    (token,) = parse_uapi_token_list("shop1", [{"name": "a", "create_time": "7",
                                                "expires_at": "0", "has_full_access": "1"}])
    assert (token.create_time, token.expires_at, token.full_access) == (7, None, True)


# -- the engine keeps the kinds apart ---------------------------------------------------


def test_revoking_bobs_cpanel_foo_leaves_bobs_whm_foo(server, lock):
    plan = expired_plan()
    tokens = [i.token for i in plan.items if i.token.owner == "bob" and i.token.name == "foo"]
    assert sorted(t.key() for t in tokens) == [("bob", "foo"), ("bob@cpanel", "foo")]
    assert len({t.identity() for t in tokens}) == 2
    chosen = plan_for_names([i.token for i in plan.items], {("bob@cpanel", "foo")},
                            Protection(), NOW)
    result = execute(chosen, Client(), lock, "cli:root", ENFORCE, NOW)
    assert fates(result) == {("bob@cpanel", "foo"): REVOKED}
    assert server.token_names("bob") == {"foo"}
    assert server.cpanel_token_names("bob") == set()


def test_a_sweep_of_both_kinds_revokes_each_with_its_own_calls(server, lock):
    server.reset_calls()
    result = execute(expired_plan(), Client(), lock, "cli:root", ENFORCE, NOW)
    assert fates(result) == {
        ("bob", "foo"): REVOKED,
        ("bob@cpanel", "foo"): REVOKED,
        ("shop1@cpanel", "deploy"): REVOKED,
        ("shop2@cpanel", "old-ci"): REVOKED,
        ("blog@cpanel", "MailNodeLinkage"): KEPT_PROTECTED,
        ("blog@cpanel", "cpmove_%s_3fa9c2" % stamp(NOW - 20 * DAY)): KEPT_PROTECTED,
    }
    assert server.cpanel_token_names("shop1") == {"fine"}
    # cPanel: list (1 batch), list before revoking (1), revoke 3 names (1), verify (1).
    assert len(server.calls("batch")) == 4
    revoke_batch = [c for c in server.calls("batch") if "revoke" in " ".join(c["argv"])]
    assert len(revoke_batch) == 1
    (_, outcome) = audit.read()[0][-2:]
    kinds = {(t["kind"], t["owner"], t["name"]): t.get("account_owner")
             for t in outcome["tokens"]}
    assert kinds[("cpanel", "shop2", "old-ci")] == "bob"
    assert kinds[("whm", "bob", "foo")] is None


def test_revoke_says_ok_but_the_token_stays_is_a_failure(server, lock):
    server.add_fault("keep_token", owner="shop1", name="deploy")
    result = execute(expired_plan(kinds=("cpanel",)), Client(), lock, "cli:root", ENFORCE, NOW)
    outcome = next(o for o in result.outcomes if o.token.name == "deploy")
    assert (outcome.action, outcome.reason) == (FAILED, "whmapi1 answered OK but the token "
                                                        "is still listed")
    assert result.exit_code() == 3


def test_a_failed_verifying_listing_is_unverified_and_says_how_to_check(server, lock):
    plan = expired_plan(kinds=("cpanel",))
    # planning listed once; the revoke lists again, revokes, and this verifying batch fails
    server.add_fault("exit", function="batch", after=2, message="Segmentation fault")
    result = execute(plan, Client(), lock, "cli:root", ENFORCE, NOW)
    outcome = next(o for o in result.outcomes if o.token.name == "deploy")
    assert outcome.action == UNVERIFIED
    assert outcome.reason.endswith(
        "check with `tokensweeper list --kind cpanel --owner shop1`")
    assert server.cpanel_token_names("shop1") == {"fine"}  # it did go: nobody claims it


def test_a_token_recreated_under_the_same_name_is_not_revoked(server, lock):
    plan = expired_plan(kinds=("cpanel",))
    server.remove_cpanel_token("shop1", "deploy")
    server.add_cpanel_token("shop1", "deploy", NOW - 60)
    result = execute(plan, Client(), lock, "cli:root", ENFORCE, NOW)
    assert fates(result)[("shop1@cpanel", "deploy")] == ALREADY_GONE
    assert "deploy" in server.cpanel_token_names("shop1")


def test_the_cap_counts_each_holder_apart(server, lock):
    result = execute(expired_plan(), Client(), lock, "cron", ENFORCE, NOW, cap=2)
    assert result.held_back and result.exit_code() == 1
    held = {o.token.holder for o in result.outcomes if o.action == DEFERRED}
    revoked = {o.token.holder for o in result.outcomes if o.action == REVOKED}
    assert len(revoked) == 2 and held and not held & revoked
    assert all("@cpanel" in h or h == "bob" for h in held)


def test_a_preview_revokes_nothing_of_either_kind(server, lock):
    result = execute(expired_plan(), Client(), lock, "cli:root", PREVIEW, NOW)
    assert fates(result)[("shop1@cpanel", "deploy")] == WOULD_REVOKE
    assert server.cpanel_token_names("shop1") == {"deploy", "fine"}


# -- protection: exact cPanel shapes, per kind --------------------------------------------


def cp(name, created=NOW - 10 * DAY, owner="shop1"):
    return Token(owner, name, created, kind=CPANEL, full_access=True)


@pytest.mark.parametrize("name,protected", [
    ("MailNodeLinkage", True),
    ("MailNodeLinkage-%s" % stamp(NOW - 10 * DAY), True),
    ("cpmove_%s_0a1b2c" % stamp(NOW - 10 * DAY), True),
    ("MailNodeLinkage-%s" % stamp(NOW - 40 * DAY), False),  # stamp is not its creation
    ("cpmove_%s_0a1b2c" % stamp(NOW - 40 * DAY), False),
    ("cpmove_%s_XYZ" % stamp(NOW - 10 * DAY), False),  # not hex
    ("cpmove_%s" % stamp(NOW - 10 * DAY), False),
    ("MailNodeLinkage2", False),
    ("mailnodelinkage", False),
    ("MailNodeLinkage-backup", False),
    ("transfer-%d" % (NOW - 10 * DAY), False),  # a WHM shape
    ("WP-Dashboard", False),
])
def test_cpanel_protection_is_exact_shapes_only(name, protected):
    assert (Protection().reason(cp(name)) is not None) is protected


def test_cpanel_shapes_do_not_protect_whm_tokens():
    assert Protection().reason(Token("bob", "MailNodeLinkage", NOW)) is None
    assert Protection().reason(Token("bob", "WP-Dashboard", NOW)) is not None


def test_a_resellers_connected_apps_do_not_shield_its_cpanel_accounts_token():
    protection = Protection(connected={"bob": {"foo": "monitor"}})
    assert protection.reason(Token("bob", "foo", NOW)) is not None
    assert protection.reason(cp("foo", owner="bob")) is None


# -- usage: never "unused" on missing evidence ---------------------------------------------


class EveryTokenUnused(object):
    """Usage evidence that would call every token unused: only WHM tokens may believe it."""

    def unused_for(self, token, days, now):
        return True, "no use in %d days" % days

    def describe(self, token, now):
        return "never used"

    def used_since(self, token, since):
        return False, "not used since then"


def test_unused_for_days_never_selects_a_cpanel_token():
    tokens = [Token("bob", "foo", NOW - 400 * DAY), cp("foo", NOW - 400 * DAY, owner="bob")]
    plan = make_plan(tokens, EveryTokenUnused(), Selectors(unused_for_days=90), Protection(),
                     NOW)
    decisions = {t.key(): plan.reason_of(t) for t in tokens}
    assert [i.decision for i in plan.items] == [REVOKE, KEEP]
    assert decisions[("bob@cpanel", "foo")] == (
        "not selected as unused: last use unknown (cPanel-account token use is not in "
        "api_tokens_log)")
    assert plan.unjudged == []
    assert plan.last_used == {("bob", "foo"): "never used",
                              ("bob@cpanel", "foo"): "unknown (cPanel-account token use is "
                                                     "not in api_tokens_log)"}


def test_an_incident_cannot_judge_a_cpanel_tokens_use_and_says_so():
    plan = make_plan([cp("deploy")], EveryTokenUnused(), Selectors(used_after=NOW - DAY),
                     Protection(), NOW)
    assert plan.items[0].decision == KEEP and len(plan.unjudged) == 1


# -- confirmations bind the kind ----------------------------------------------------------


def test_an_identity_names_the_kind_and_a_confirmation_cannot_cross_kinds():
    whm_foo = Token("bob", "foo", NOW - DAY)
    cpanel_foo = cp("foo", NOW - DAY, owner="bob")
    assert whm_foo.identity().startswith("bob:foo:")
    assert cpanel_foo.identity().startswith("bob@cpanel:foo:")
    assert identity_key(cpanel_foo.identity()) == ("bob@cpanel", "foo")
    plan = make_plan([whm_foo, cpanel_foo], None, Selectors(every_token=True), Protection(),
                     NOW)
    assert confirmation_changes([whm_foo.identity(), cpanel_foo.identity()], plan) == []
    only_whm = make_plan([whm_foo], None, Selectors(every_token=True), Protection(), NOW)
    assert confirmation_changes([cpanel_foo.identity()], only_whm) == [
        "bob@cpanel/foo is no longer listed (revoked or removed meanwhile)",
        "bob/foo is newly selected: every token of bob"]


def test_a_changed_feature_list_changes_the_identity():
    a = Token("shop1", "t", NOW, kind=CPANEL, full_access=False, features=["ftp"])
    b = Token("shop1", "t", NOW, kind=CPANEL, full_access=False, features=["ftp", "ssh"])
    c = Token("shop1", "t", NOW, kind=CPANEL, full_access=True)
    assert len({a.identity(), b.identity(), c.identity()}) == 3
    assert Token("bob", "t", NOW).kind == WHM


def test_reseller_selects_the_tokens_of_its_accounts_only(server):
    plan = build_plan(Client(), Selectors(expired=True, resellers=["bob"]), Protection(), None,
                      NOW, kinds=BOTH, resellers=["bob"])
    assert {i.token.key() for i in plan.items if i.decision == REVOKE} == {
        ("shop1@cpanel", "deploy"), ("shop2@cpanel", "old-ci")}
    assert not [i for i in plan.items if i.token.kind == WHM]


def test_kinds_default_to_whm_only(server):
    plan = build_plan(Client(), Selectors(expired=True), Protection(), None, NOW)
    assert {i.token.kind for i in plan.items} == {WHM}
    assert {i.decision for i in plan.items if i.token.kind == WHM} >= {REVOKE}
    assert PROTECTED not in {i.decision for i in plan.items}
