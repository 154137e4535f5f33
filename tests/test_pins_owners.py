"""Pins for owners.py (issue 27's `make mutate`): who is listed, in what order, what a
failed listing becomes, and when the page's listing cache may answer for whmapi1."""

import json
import os
import threading

import pytest

from tests.helpers import DAY, NOW
from tests.kinds_support import build_server
from tokensweeper import owners
from tokensweeper.owners import ABSENT, CachedListings, Inventory, take_inventory
from tokensweeper.whmapi import Client, UapiCall, WhmapiError


@pytest.fixture
def cpanel_root(tmp_path):
    return tmp_path / "cpanel"


@pytest.fixture
def server(tmp_path, monkeypatch, cpanel_root):
    return build_server(tmp_path, monkeypatch, cpanel_root)


@pytest.mark.parametrize("name, valid", [
    ("root", True), ("bob", True), ("a", True), ("0day", True), ("a.b-c_d", True),
    ("a" * 64, True), ("a" * 65, False), ("", False), (None, False), ("Bob", False),
    ("-rf", False), (".hidden", False), ("_x", False), ("bob\n", False), ("a b", False),
    ("a/b", False),
])
def test_an_owner_name_is_a_cpanel_user_name(name, valid):
    assert owners.valid_owner(name) is valid


def test_root_comes_first_then_the_rest_sorted_once_each():
    assert owners.order_owners(["zed", "root", "amy", "zed", "bob"]) == ["root", "amy", "bob",
                                                                           "zed"]
    assert owners.order_owners(iter(["b", "a"])) == ["a", "b"]
    assert owners.order_owners([]) == []


def test_an_inventory_keeps_what_it_was_given():
    inventory = Inventory(["a"], ["t"], {"a": "x"}, notes=("n",))
    assert (inventory.owners, inventory.tokens, inventory.errors, inventory.notes) == (
        ["a"], ["t"], {"a": "x"}, ["n"])
    assert Inventory([], [], {}).notes == []


def test_the_inventory_is_in_the_order_asked_and_a_failure_is_that_owners_error(server):
    server.add_reseller("amy")
    server.add_token("amy", "a1", NOW - DAY)
    server.add_fault("exit", function="api_token_list", owner="amy", status=2, message="boom")
    inventory = take_inventory(Client(), ["root", "bob", "amy"], parallel=0)
    assert inventory.owners == ["root", "bob", "amy"]
    assert [(t.owner, t.name) for t in inventory.tokens] == [("root", "root-fine"),
                                                             ("bob", "foo")]
    assert inventory.errors == {
        "amy": "whmapi1 api_token_list as amy: exit status 2, no JSON answer: boom"}
    assert inventory.notes == []


def test_a_user_with_tokens_on_disk_who_is_no_reseller_is_a_note_not_an_error(server,
                                                                             cpanel_root):
    server.add_reseller("former")
    server.add_token("former", "t", NOW - DAY)
    server.write_token_files(str(cpanel_root))
    server.remove_reseller("former")
    server.write_resellers_file(str(cpanel_root))
    server.add_fault("non_reseller_refused")
    inventory = take_inventory(Client(), ["former"])
    assert inventory.errors == {}
    assert inventory.notes == [
        "former has WHM API tokens on disk but is not a reseller: whmapi1 cannot list them, "
        "and WHM does not accept them while former is not a reseller"]
    assert owners.dormant_note("root") is None
    assert owners.dormant_note("bob") is None  # a reseller: a real failure
    assert owners.dormant_note("nobody") is None  # no token file: nothing dormant


def test_without_a_resellers_file_no_failure_passes_for_dormant(server, cpanel_root):
    server.add_reseller("former")
    server.add_token("former", "t", NOW - DAY)
    server.write_token_files(str(cpanel_root))
    os.remove(str(cpanel_root / "var" / "cpanel" / "resellers"))
    assert owners.dormant_note("former") is None


def test_an_emptied_token_file_is_nothing_dormant(server, cpanel_root):
    server.add_reseller("former")
    server.add_token("former", "t", NOW - DAY)
    server.remove_token("former", "t")
    server.write_token_files(str(cpanel_root))
    assert owners.dormant_note("former") is None


class Remembering(object):
    """A client that remembers some owners (as CachedListings does) and records the rest."""

    def __init__(self, remembered):
        self.remembered = remembered
        self.threads = {}

    def remembers(self, owner):
        return owner in self.remembered

    def list_tokens(self, owner):
        self.threads[owner] = threading.current_thread().name
        return [owner + "-token"]


def test_remembered_owners_are_answered_in_the_order_asked_without_a_thread():
    client = Remembering({"bob", "root"})
    inventory = take_inventory(client, ["zed", "bob", "amy", "root"])
    assert inventory.tokens == ["zed-token", "bob-token", "amy-token", "root-token"]
    here = threading.current_thread().name
    assert client.threads["bob"] == client.threads["root"] == here
    assert here not in (client.threads["zed"], client.threads["amy"])
    everything = Remembering({"a", "b"})
    assert take_inventory(everything, ["b", "a"]).tokens == ["b-token", "a-token"]
    assert set(everything.threads.values()) == {here}  # a cached page starts no thread


class Lister(object):
    """A plain client (it remembers nothing): records how many owners it lists at once.
    As test_pins_sources.Overlap: a long wait for `bound` together, then a short one for
    one more (only a pool wider than `bound` sends it)."""

    def __init__(self, bound):
        self.bound = bound
        self.active = self.most = 0
        self.condition = threading.Condition()

    def list_tokens(self, owner):
        with self.condition:
            self.active += 1
            self.most = max(self.most, self.active)
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.most >= self.bound, timeout=10)
            self.condition.wait_for(lambda: self.most > self.bound, timeout=0.3)
            self.active -= 1
        return [owner]


@pytest.mark.parametrize("parallel, count, most", [(1, 3, 1), (0, 3, 1), (2, 4, 2), (3, 3, 3)])
def test_owners_are_listed_at_most_parallel_at_once(parallel, count, most):
    client = Lister(most)
    names = ["o%d" % i for i in range(count)]
    assert take_inventory(client, names, parallel).tokens == names
    assert client.most == most


def test_the_identity_of_a_file(tmp_path):
    path = tmp_path / "f.json"
    assert owners._identity(str(path)) == ABSENT
    path.write_text("abc")
    st = os.stat(str(path))
    assert owners._identity(str(path)) == [st.st_ino, 3, st.st_mtime_ns]
    assert owners._identity(str(path / "under-a-file")) is None


@pytest.mark.parametrize("key, entry, plausible", [
    ("bob", {"key": [1, 2, 3, None], "data": {"tokens": {"x": {}}}}, True),
    ("bob", {"key": [1, 2, 3], "data": {}}, True),
    ("bob", {"key": [1, 2], "data": {}}, False),
    ("bob", {"key": [1, 2, "3"], "data": {}}, False),
    ("bob", {"key": [1, True, 3], "data": {}}, False),
    ("bob", {"key": [1, 2, 3], "data": []}, False),
    ("Bad Name", {"key": [1, 2, 3], "data": {}}, False),
    ("bob", {"key": ["absent"], "data": {"tokens": {}}}, True),
    ("bob", {"key": ["absent"], "data": {}}, True),
    ("bob", {"key": ["absent", "list-accts"], "data": {}}, True),  # a reseller's, no file
    ("bob", {"key": ["absent", "list-accts"], "data": {"tokens": {"x": {}}}}, False),
    ("bob", {"key": ["absent"], "data": {"tokens": {"x": {}}}}, False),
    ("bob", {"key": ["absent"], "data": []}, False),
    ("bob", {"key": "absent", "data": {}}, False),
    ("bob", ["absent"], False),
    (":resellers", {"key": [1, 2, 3], "data": ["amy", "bob"]}, True),
    (":resellers", {"key": [1, 2, 3], "data": ["amy", "-rf"]}, False),
    (":resellers", {"key": [1, 2, 3], "data": ["amy", 5]}, False),
    (":resellers", {"key": [1, 2, 3], "data": {"amy": 1}}, False),
    (":resellers", {"key": ["absent"], "data": []}, False),
    ("shop1@cpanel", {"key": [1, 2, 3], "data": [{"name": "t"}]}, True),
    ("shop1@cpanel", {"key": [1, 2, 3], "data": {}}, False),
    ("shop1@cpanel", {"key": [1, 2], "data": []}, False),
    ("shop1@cpanel", {"key": [1, 2, 3, 4], "data": []}, False),
    ("shop1@cpanel", {"key": [1, 2, 3.0], "data": []}, False),
    ("shop1@cpanel", {"key": ["absent"], "data": []}, True),
    ("shop1@cpanel", {"key": ["absent", 1], "data": []}, True),
    ("shop1@cpanel", {"key": ["absent"], "data": [{"name": "t"}]}, False),
    ("root@cpanel", {"key": [1, 2, 3], "data": []}, False),
    ("-rf@cpanel", {"key": [1, 2, 3], "data": []}, False),
])
def test_a_remembered_answer_must_be_plausible(key, entry, plausible):
    assert owners._plausible(key, entry) is plausible


# -- the listing cache and cPanel accounts' Tokens::list ---------------------------------


def uapi_list(*accounts):
    return [UapiCall(account, "Tokens", "list") for account in accounts]


def test_an_unchanged_accounts_listing_is_remembered_and_a_change_lists_again(server,
                                                                             cpanel_root,
                                                                             tmp_path):
    path = str(tmp_path / "state" / "listing-cache.json")
    first = CachedListings(Client(), path=path, now=NOW)
    answers = first.run_uapi_chunk(uapi_list("shop1", "shop2"))
    assert [sorted(t["name"] for t in a.data) for a in answers] == [["deploy", "fine"],
                                                                   ["old-ci"]]
    assert first.listed_at() == NOW and first.calls_saved == 0
    first.save()
    server.reset_calls()
    second = CachedListings(Client(), path=path, now=NOW + 60)
    answers = second.run_uapi_chunk(uapi_list("shop1", "shop2"))
    assert [sorted(t["name"] for t in a.data) for a in answers] == [["deploy", "fine"],
                                                                   ["old-ci"]]
    assert server.calls() == [] and second.calls_saved == 2
    assert second.listed_at() == NOW  # when the remembered answers were listed
    # cPanel rewrites shop1's file on a revoke: shop1 is asked again, shop2 is not.
    server.remove_cpanel_token("shop1", "fine")
    os.utime(str(cpanel_root / "var/cpanel/authn/api_tokens_v2/cpanel/shop1.json"),
             ns=(1, 1))
    third = CachedListings(Client(), path=path, now=NOW + 120)
    answers = third.run_uapi_chunk(uapi_list("shop2", "shop1"))
    assert [sorted(t["name"] for t in a.data) for a in answers] == [["old-ci"], ["deploy"]]
    assert len(server.calls("batch")) == 1 and third.calls_saved == 1
    assert third.listed_at() == NOW
    third.save()
    with open(path) as handle:
        saved = json.load(handle)
    assert sorted(saved) == ["shop1@cpanel", "shop2@cpanel"]
    assert saved["shop1@cpanel"]["listed"] == NOW + 120
    assert saved["shop2@cpanel"]["listed"] == NOW


def test_refresh_asks_whmapi1_for_every_account(server, tmp_path):
    path = str(tmp_path / "state" / "listing-cache.json")
    first = CachedListings(Client(), path=path, now=NOW)
    first.run_uapi_chunk(uapi_list("shop1"))
    first.save()
    server.reset_calls()
    fresh = CachedListings(Client(), path=path, now=NOW + 60, fresh=True)
    fresh.run_uapi_chunk(uapi_list("shop1"))
    assert len(server.calls("batch")) == 1 and fresh.calls_saved == 0
    assert fresh.listed_at() == NOW + 60


def test_only_a_plain_list_of_a_valid_account_is_remembered(server, tmp_path):
    path = str(tmp_path / "state" / "listing-cache.json")
    cache = CachedListings(Client(), path=path, now=NOW)
    calls = [UapiCall("shop1", "Tokens", "list", [("x", "1")]),
             UapiCall("shop2", "Tokens", "revoke", [("name", "nothing")])]
    cache.run_uapi_chunk(calls)
    cache.save()
    assert not os.path.exists(path)
    assert cache._uapi_key(UapiCall("Bad Name", "Tokens", "list")) is None
    assert cache._uapi_key(UapiCall("shop1", "Tokens", "list")) is not None


def test_a_failed_or_odd_answer_is_never_remembered(server, tmp_path):
    server.add_fault("fail", function="uapi_cpanel", owner="shop2", reason="locked")
    path = str(tmp_path / "state" / "listing-cache.json")
    cache = CachedListings(Client(), path=path, now=NOW)
    answers = cache.run_uapi_chunk(uapi_list("shop1", "shop2"))
    assert answers[1].error == "whmapi1 uapi_cpanel Tokens::list as shop2: locked"
    cache.save()
    with open(path) as handle:
        assert sorted(json.load(handle)) == ["shop1@cpanel"]


def test_without_the_cpanel_token_directory_nothing_is_remembered(server, cpanel_root,
                                                                 tmp_path):
    import shutil

    shutil.rmtree(str(cpanel_root / "var/cpanel/authn/api_tokens_v2/cpanel"))
    cache = CachedListings(Client(), path=str(tmp_path / "state" / "c.json"), now=NOW)
    assert cache._uapi_key(UapiCall("shop1", "Tokens", "list")) is None


def test_a_remembered_whm_listing_says_when_it_was_listed(server, tmp_path):
    path = str(tmp_path / "state" / "listing-cache.json")
    first = CachedListings(Client(), path=path, now=NOW)
    assert first.listed_at() is None  # nothing listed yet
    assert [t.name for t in first.list_tokens("bob")] == ["foo"]
    first.save()
    second = CachedListings(Client(), path=path, now=NOW + 600)
    assert second.remembers("bob") and not second.remembers("root")
    assert [t.name for t in second.list_tokens("bob")] == ["foo"]
    second.list_tokens("root")
    assert second.listed_at() == NOW  # the oldest answer used
    with open(path) as handle:
        saved = json.load(handle)
    # A hand-edited time: unknown, never a bool, nothing a clock cannot show (issue 25).
    for listed, known in ((True, None), (-1, None), (253402300800, None), (10 ** 30, None),
                          (0, 0), (253402300799, 253402300799)):
        saved["bob"]["listed"] = listed
        with open(path, "w") as handle:
            json.dump(saved, handle)
        third = CachedListings(Client(), path=path, now=NOW + 900)
        third.list_tokens("bob")
        assert third.listed_at() == known and third.calls_saved == 1


def test_saving_nothing_new_writes_nothing_and_a_failed_write_is_harmless(server, tmp_path,
                                                                        monkeypatch):
    path = tmp_path / "state" / "listing-cache.json"
    cache = CachedListings(Client(), path=str(path), now=NOW)
    cache.save()
    assert not path.exists()  # nothing used: nothing to remember
    cache.list_tokens("bob")

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(owners.statefiles, "write_atomically", full)
    cache.save()
    assert not path.exists()


def test_a_bad_answer_is_never_remembered(server, tmp_path):
    server.add_fault("garbage", function="api_token_list", owner="bob")
    path = tmp_path / "state" / "listing-cache.json"
    cache = CachedListings(Client(), path=str(path), now=NOW)
    with pytest.raises(WhmapiError):
        cache.list_tokens("bob")
    cache.save()
    assert not path.exists()


@pytest.mark.parametrize("text", ["[1, 2]", "not json", '{"bob": {"key": "x"}}'])
def test_a_cache_file_of_another_shape_remembers_nothing(server, tmp_path, text):
    path = tmp_path / "state" / "listing-cache.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(str(path), 0o600)
    cache = CachedListings(Client(), path=str(path), now=NOW)
    assert not cache.remembers("bob")
    assert cache._entries == {}


def test_the_resellers_answer_is_remembered_while_their_file_is_unchanged(server, tmp_path,
                                                                          cpanel_root):
    path = str(tmp_path / "state" / "listing-cache.json")
    first = CachedListings(Client(), path=path, now=NOW)
    assert first.list_resellers() == ["bob"]
    first.save()
    server.reset_calls()
    second = CachedListings(Client(), path=path, now=NOW)
    assert second.list_resellers() == ["bob"] and server.calls() == []
    assert second.calls_saved == 1
    fresh = CachedListings(Client(), path=path, now=NOW, fresh=True)
    assert fresh.list_resellers() == ["bob"] and len(server.calls("listresellers")) == 1
    os.remove(str(cpanel_root / "var" / "cpanel" / "resellers"))
    server.reset_calls()
    gone = CachedListings(Client(), path=path, now=NOW)
    assert gone.list_resellers() == ["bob"] and len(server.calls("listresellers")) == 1
    assert gone._resellers == {}  # no file: no resellers (not unknown)
    assert gone._key("bob") is not None


def test_an_unreadable_resellers_file_makes_a_resellers_listing_unrememberable(
        server, tmp_path, cpanel_root):
    path = cpanel_root / "var" / "cpanel" / "resellers"
    os.remove(str(path))
    os.mkdir(str(path))  # there, but not readable as a file
    cache = CachedListings(Client(), path=str(tmp_path / "state" / "c.json"), now=NOW)
    assert cache._resellers is None
    assert cache._key("bob") is None and cache._key("root") is not None


def test_token_file_owners_reads_the_directory_it_is_given(server, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "amy.json").write_text('{"tokens":{"x":{"name":"t"}}}')
    (other / "gone.json").write_text('{"tokens":{}}')
    (other / "listed.json").write_text('{"tokens":{}}')
    assert sorted(owners.token_file_owners(str(other), listed={"listed"})) == ["amy", "listed"]
    assert "amy" not in owners.token_file_owners()


def test_a_refused_owner_name_is_said_as_it_was_found(server, cpanel_root):
    directory = cpanel_root / "var/cpanel/authn/api_tokens_v2/whostmgr"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "-rf.json").write_text('{"tokens":{"x":{"name":"t"}}}')
    found, problems = owners.find_owners(Client())
    assert found == ["root", "bob"]
    assert problems == ["ignored the owner name '-rf': not a valid cPanel user name"]


def test_remembered_cpanel_answers_serve_the_source_and_say_when_they_were_listed(server,
                                                                                  tmp_path):
    from tokensweeper.sources import cpanel as cpanel_source

    path = str(tmp_path / "state" / "listing-cache.json")
    first = CachedListings(Client(uapi_batch=1), path=path, now=NOW)
    listed = cpanel_source.listings(first, ["shop1", "shop2"], 2)
    assert sorted(listed["shop1"]) == ["deploy", "fine"] and sorted(listed["shop2"]) == [
        "old-ci"]
    first.save()
    with open(path) as handle:
        saved = json.load(handle)
    saved["shop2@cpanel"]["listed"] = True  # a hand-edited time: unknown, never a bool
    with open(path, "w") as handle:
        json.dump(saved, handle)
    server.reset_calls()
    second = CachedListings(Client(uapi_batch=1), path=path, now=NOW + 60)
    listed = cpanel_source.listings(second, ["shop1", "shop2"], 2)
    assert sorted(listed["shop1"]) == ["deploy", "fine"] and server.calls() == []
    assert second.listed_at() is None
