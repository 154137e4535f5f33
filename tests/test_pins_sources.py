"""Pins for sources/whm.py and sources/cpanel.py (issue 27's `make mutate`): who each kind
lists, what a listing, a revoke and the revoke command's checks answer, and the bound on
how many owners are listed or revoked at once."""

import threading

import pytest

from tests.helpers import DAY, NOW, add
from tests.kinds_support import build_server
from tokensweeper import sources
from tokensweeper.sources import cpanel as cpanel_source
from tokensweeper.sources import whm as whm_source
from tokensweeper.tokens import CPANEL, WHM
from tokensweeper.whmapi import Client, UapiAnswer, UapiCall, WhmapiError, WhmapiFailed


@pytest.fixture
def cpanel_root(tmp_path):
    return tmp_path / "cpanel"


@pytest.fixture
def server(tmp_path, monkeypatch, cpanel_root):
    return build_server(tmp_path, monkeypatch, cpanel_root)


class Refused(Exception):
    def __init__(self, message, status):
        super(Refused, self).__init__(message)
        self.status = status


# -- the registry ---------------------------------------------------------------------


def test_each_kind_has_its_source_and_an_unknown_kind_is_named():
    assert sources.source_for(WHM) is whm_source and whm_source.KIND == WHM
    assert sources.source_for(CPANEL) is cpanel_source and cpanel_source.KIND == CPANEL
    with pytest.raises(ValueError) as error:
        sources.source_for("ftp")
    assert str(error.value) == "unknown token kind 'ftp' (known: whm, cpanel)"
    assert sources.ordered(["cpanel", "whm", "cpanel"]) == ("whm", "cpanel")


# -- WHM tokens -------------------------------------------------------------------------


def test_whm_holders_are_every_owner_the_ones_asked_for_or_none_for_resellers(server):
    assert whm_source.find_holders(Client()) == (["root", "bob"], [])
    assert whm_source.find_holders(Client(), owners=("bob", "zed")) == (["bob", "zed"], [])
    assert whm_source.find_holders(Client(), resellers=["bob"]) == ([], [])


def test_whm_inventory_lists_each_owner(server):
    inventory = whm_source.inventory(Client(), ["root", "bob"])
    assert sorted((t.owner, t.name) for t in inventory.tokens) == [
        ("bob", "foo"), ("root", "root-fine")]
    assert inventory.errors == {}


def test_whm_listings_are_tokens_by_name_or_the_owners_error(server):
    server.add_fault("exit", function="api_token_list", owner="bob", status=2,
                     message="boom")
    listed = whm_source.listings(Client(), ["root", "bob"])
    assert sorted(listed) == ["bob", "root"]
    assert sorted(listed["root"]) == ["root-fine"]
    assert listed["root"]["root-fine"].create_time == NOW - 5 * DAY
    assert listed["root"]["root-fine"].owner == "root"
    assert listed["bob"] == "whmapi1 api_token_list as bob: exit status 2, no JSON answer: boom"


def test_a_whm_listing_without_a_token_list_is_no_proof_of_an_empty_owner(server):
    server.add_fault("no_data", function="api_token_list", owner="root")
    listed = whm_source.listings(Client(), ["root"])
    assert listed == {"root": "whmapi1 api_token_list as root: the answer has no token list"}
    assert whm_source.listings(Client(), []) == {}


def test_a_whm_owner_with_no_token_lists_empty(server):
    server.add_reseller("amy")
    assert whm_source.listings(Client(), ["amy"]) == {"amy": {}}


def test_whm_revoke_answers_none_per_owner_and_the_tokens_are_gone(server):
    add(server, "root", "old", age_days=100)
    answers = whm_source.revoke(Client(), {"root": ["old"], "bob": ["foo"]})
    assert answers == {"root": None, "bob": None}
    assert server.token_names("root") == {"root-fine"} and server.token_names("bob") == set()


def test_a_failed_whm_revoke_is_that_owners_sentence_only(server):
    server.add_fault("exit", function="api_token_revoke", owner="bob", status=2,
                     message="boom")
    add(server, "root", "old", age_days=100)
    answers = whm_source.revoke(Client(), {"root": ["old"], "bob": ["foo"]})
    assert answers["root"] is None
    assert answers["bob"] == ("whmapi1 api_token_revoke as bob: exit status 2, no JSON "
                              "answer: boom")
    assert server.token_names("root") == {"root-fine"}


def test_whm_list_one_is_the_owners_tokens_now(server):
    assert [t.name for t in whm_source.list_one(Client(), "bob")] == ["foo"]


def test_the_revoke_command_takes_root_and_resellers_and_names_any_other(server):
    for check in (whm_source.require_owner, whm_source.empty_listing):
        check(Client(), "root", Refused, 2)
        check(Client(), "bob", Refused, 2)
        with pytest.raises(Refused) as refused:
            check(Client(), "shop1", Refused, 2)
        assert str(refused.value) == (
            "shop1 is not root or a reseller: only their WHM API tokens can be revoked "
            "(`tokensweeper list` shows every owner)")
        assert refused.value.status == 2


def test_whm_selector_and_hint():
    assert whm_source.selector_args("bob") == "--owner bob"
    assert whm_source.check_hint("bob") == "tokensweeper list --owner bob"


# -- the bound on parallel work --------------------------------------------------------


class Overlap(object):
    """Work that records how many items ran at once. Each item first waits (long) until
    `bound` items have been seen together, so a loaded machine cannot make a correct pool
    look narrower than its bound; then it lingers briefly for one more, which only a pool
    wider than `bound` can send (a loaded machine can only hide such an excess, never
    invent one)."""

    def __init__(self, bound):
        self.bound = bound
        self.active = 0
        self.most = 0
        self.threads = set()
        self.condition = threading.Condition()

    def __call__(self, item):
        with self.condition:
            self.active += 1
            self.most = max(self.most, self.active)
            self.threads.add(threading.current_thread().name)
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.most >= self.bound, timeout=10)
            self.condition.wait_for(lambda: self.most > self.bound, timeout=0.3)
            self.active -= 1
        return item, item * 2


@pytest.mark.parametrize("parallel, items, most", [(1, 3, 1), (0, 3, 1), (2, 5, 2), (3, 6, 3),
                                                   (2, 2, 2)])
def test_whm_owners_are_worked_on_at_most_parallel_at_once(parallel, items, most):
    work = Overlap(most)
    assert whm_source._pooled(work, range(items), parallel) == [(i, i * 2) for i in
                                                                range(items)]
    assert work.most == most


class OverlappingLister(object):
    def __init__(self, overlap):
        self.overlap = overlap

    def list_tokens(self, owner):
        self.overlap(0)
        return []


def test_the_whm_inventory_keeps_to_its_bound():
    work = Overlap(1)
    inventory = whm_source.inventory(OverlappingLister(work), ["a", "b", "c"], 1)
    assert inventory.owners == ["a", "b", "c"] and work.most == 1


def test_one_whm_owner_is_worked_on_in_the_callers_thread():
    work = Overlap(1)
    assert whm_source._pooled(work, iter([7]), 4) == [(7, 14)]
    assert work.threads == {threading.current_thread().name}
    assert whm_source._pooled(work, [], 4) == []


class ChunkedClient(object):
    """A client whose batches are recorded: each chunk is one call, answered in order."""

    def __init__(self, overlap):
        self.overlap = overlap

    def uapi_chunks(self, calls):
        return [[call] for call in calls]

    def run_uapi_chunk(self, chunk):
        self.overlap(0)
        return ["answer to %s" % call.user for call in chunk]


@pytest.mark.parametrize("parallel, count, most", [(1, 4, 1), (0, 4, 1), (2, 4, 2),
                                                   (2, 2, 2)])
def test_cpanel_batches_run_at_most_parallel_at_once(parallel, count, most):
    work = Overlap(most)
    calls = [UapiCall("acct%d" % i, "Tokens", "list") for i in range(count)]
    assert cpanel_source._run(ChunkedClient(work), calls, parallel) == [
        "answer to acct%d" % i for i in range(count)]
    assert work.most == most


def test_one_cpanel_batch_runs_in_the_callers_thread():
    work = Overlap(1)
    calls = [UapiCall("acct", "Tokens", "list")]
    assert cpanel_source._run(ChunkedClient(work), calls, 4) == ["answer to acct"]
    assert work.threads == {threading.current_thread().name}


# -- cPanel accounts' tokens -------------------------------------------------------------


def test_an_account_name_is_a_cpanel_user_never_root(server):
    assert cpanel_source.valid_account("shop1")
    assert not cpanel_source.valid_account("root")
    assert not cpanel_source.valid_account("-rf")
    assert cpanel_source.holder("shop1") == "shop1@cpanel"


def test_the_accounts_owners_are_read_as_cpanel_writes_them(tmp_path, monkeypatch):
    root = tmp_path / "cpanel"
    (root / "etc").mkdir(parents=True)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(root))
    (root / "etc" / "trueuserowners").write_bytes(
        b"#comment\nshop1: bob\n shop2 :root \nshop1: evil\nnocolon\n: x\nempty:\n"
        b"blog: amy:extra\n"
        b"caf\xff: amy\n\n")
    # The first line of a user wins; a line without a user, an owner or a colon is no entry.
    assert cpanel_source.account_owners() == {"shop1": "bob", "shop2": "root",
                                              "caf\ufffd": "amy", "blog": "amy:extra"}
    (root / "etc" / "trueuserowners").unlink()
    assert cpanel_source.account_owners() == {}


def test_cpanel_inventory_keys_errors_by_holder_and_notes_a_refusal(server):
    server.add_fault("feature_disabled", owner="shop1")
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    inventory = cpanel_source.inventory(Client(), ["blog", "bob", "shop1", "shop2"])
    assert inventory.owners == ["blog@cpanel", "bob@cpanel", "shop1@cpanel", "shop2@cpanel"]
    assert sorted(inventory.errors) == ["shop2@cpanel"]
    assert "locked" in inventory.errors["shop2@cpanel"]
    assert len(inventory.notes) == 1 and inventory.notes[0].startswith(
        "the cPanel account shop1's API tokens cannot be listed or revoked")
    assert sorted((t.owner, t.name) for t in inventory.tokens if t.owner == "bob") == [
        ("bob", "foo")]
    assert {t.account_owner for t in inventory.tokens if t.owner == "bob"} == {"root"}


def test_cpanel_listings_are_tokens_by_name_or_the_accounts_error(server):
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    listed = cpanel_source.listings(Client(), ["shop1", "shop2"])
    assert sorted(listed["shop1"]) == ["deploy", "fine"]
    assert listed["shop1"]["deploy"].account_owner == "bob"
    assert listed["shop2"] == "whmapi1 uapi_cpanel Tokens::list as shop2: locked"


def test_cpanel_list_one_is_sorted_or_raises_the_accounts_error(server):
    assert [t.name for t in cpanel_source.list_one(Client(), "shop1")] == ["deploy", "fine"]
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    with pytest.raises(WhmapiFailed) as error:
        cpanel_source.list_one(Client(), "shop2")
    assert str(error.value) == ("whmapi1 uapi_cpanel as shop2: whmapi1 uapi_cpanel Tokens::list "
                                "as shop2: locked")
    assert isinstance(error.value, WhmapiError)


def test_cpanel_revoke_answers_the_first_error_per_account(server):
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    answers = cpanel_source.revoke(Client(), {"shop1": ["deploy", "fine"], "shop2": ["old-ci"]})
    assert answers["shop1"] is None
    assert answers["shop2"] == "whmapi1 uapi_cpanel Tokens::revoke as shop2: locked"
    assert server.cpanel_token_names("shop1") == set()
    assert server.cpanel_token_names("shop2") == {"old-ci"}


def test_the_revoke_command_names_an_account_without_a_token_file(server, cpanel_root):
    cpanel_source.require_owner(Client(), "shop1", Refused, 2)
    directory = str(cpanel_root / "var" / "cpanel" / "authn" / "api_tokens_v2" / "cpanel")
    # root has no cPanel account, whatever a file under its name says
    (cpanel_root / "var/cpanel/authn/api_tokens_v2/cpanel/root.json").write_text(
        '{"tokens":{"x":{"name":"t"}}}')
    for account in ("root", "nobody"):
        with pytest.raises(Refused) as refused:
            cpanel_source.require_owner(Client(), account, Refused, 2)
        assert str(refused.value) == ("%s has no cPanel API tokens (no token file under %s)"
                                      % (account, directory))
        assert refused.value.status == 2
    assert cpanel_source.empty_listing(Client(), "nobody", Refused, 2) is None


def test_cpanel_selector_and_hint():
    assert cpanel_source.selector_args("shop1") == "--kind cpanel --owner shop1"
    assert cpanel_source.check_hint("shop1") == "tokensweeper list --kind cpanel --owner shop1"


def test_the_removal_snapshot_is_the_listing_when_whmapi1_answers(server):
    said = []
    tokens, how = cpanel_source.snapshot(Client(), "shop1", said.append)
    assert [(t.owner, t.name) for t in tokens] == [("shop1", "deploy"), ("shop1", "fine")]
    assert how == "" and said == []
    assert {t.account_owner for t in tokens} == {"bob"}


def test_the_removal_snapshot_falls_back_to_the_token_file(server):
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    said = []
    tokens, how = cpanel_source.snapshot(Client(), "shop2", said.append)
    assert [(t.owner, t.name, t.account_owner, t.full_access, t.features, t.expires_at)
            for t in tokens] == [("shop2", "old-ci", "bob", False, ("ftp", "webdisk"),
                                  NOW - 100 * DAY)]
    assert how.startswith("cPanel tokens read from the account's token file: whmapi1 could "
                          "not list them (") and "locked" in how
    assert len(said) == 1 and said[0].startswith("whmapi1 could not list shop2's cPanel "
                                                 "tokens (") and said[0].endswith(
        "); reading its token file")


def test_a_snapshot_that_neither_lists_nor_reads_says_so(server, cpanel_root):
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    (cpanel_root / "var" / "cpanel" / "authn" / "api_tokens_v2" / "cpanel"
     / "shop2.json").write_text("{broken")
    said = []
    tokens, how = cpanel_source.snapshot(Client(), "shop2", said.append)
    assert tokens == []
    assert how.startswith("shop2's cPanel tokens could not be read: ") and "locked" in how
    assert len(said) == 2 and said[1].startswith(
        "the cPanel token file cannot stand in for the listing: ")


class Answering(object):
    """A client whose every UAPI call gets the answer `answer(call)` (one chunk a call)."""

    def __init__(self, answer):
        self.answer = answer

    def uapi_chunks(self, calls):
        return [[call] for call in calls]

    def run_uapi_chunk(self, chunk):
        return [self.answer(call) for call in chunk]


def bad_record(call):
    return UapiAnswer(call, data=[{"name": 5, "create_time": 1}])


def test_an_answer_the_parser_refuses_is_that_accounts_error(server):
    inventory = cpanel_source.inventory(Answering(bad_record), ["shop1", "shop2"], 2)
    assert inventory.errors == {
        "shop1@cpanel": "Tokens::list for shop1: a record has no valid name: 5",
        "shop2@cpanel": "Tokens::list for shop2: a record has no valid name: 5"}
    assert inventory.tokens == [] and inventory.notes == []
    listed = cpanel_source.listings(Answering(bad_record), ["shop1", "shop2"], 2)
    assert listed == {"shop1": "Tokens::list for shop1: a record has no valid name: 5",
                      "shop2": "Tokens::list for shop2: a record has no valid name: 5"}


def test_an_answer_that_is_no_list_is_no_proof_of_an_empty_account(server):
    listed = cpanel_source.listings(Answering(lambda call: UapiAnswer(call, data={"x": 1})),
                                    ["shop1", "shop2"], 2)
    assert listed == {
        "shop1": "whmapi1 uapi_cpanel Tokens::list as shop1: the answer has no token list",
        "shop2": "whmapi1 uapi_cpanel Tokens::list as shop2: the answer has no token list"}


def test_a_revoke_in_several_batches_keeps_each_accounts_first_error(server):
    def answer(call):
        name = dict(call.params)["name"]
        return UapiAnswer(call, data=None if name != "ok" else 1,
                          error=None if name == "ok" else "no %s" % name)

    answers = cpanel_source.revoke(Answering(answer), {"shop1": ["ok", "a", "b"],
                                                       "shop2": ["ok"]}, 2)
    assert answers == {"shop1": "no a", "shop2": None}


def test_a_snapshot_whose_listing_the_parser_refuses_reads_the_file(server):
    said = []
    tokens, how = cpanel_source.snapshot(Answering(bad_record), "shop2", said.append)
    assert [t.name for t in tokens] == ["old-ci"]
    assert how == ("cPanel tokens read from the account's token file: whmapi1 could not list "
                   "them (Tokens::list for shop2: a record has no valid name: 5)")


def test_a_token_file_record_that_is_no_object_is_no_snapshot(server, cpanel_root):
    (cpanel_root / "var/cpanel/authn/api_tokens_v2/cpanel/shop2.json").write_text(
        '{"tokens":{"ab":["not", "an", "object"]}}')
    said = []
    tokens, how = cpanel_source.snapshot(Answering(bad_record), "shop2", said.append)
    assert tokens == []
    assert how == ("shop2's cPanel tokens could not be read: Tokens::list for shop2: a record "
                   "has no valid name: 5")
    assert said[1] == ("the cPanel token file cannot stand in for the listing: Tokens::list "
                       "for shop2: a record is list, not an object")
