"""The overview's listing cache: an owner's api_token_list answer is reused only
while cPanel's token file for that owner is unchanged (the fake keeps those files
as cPanel does), and sweeps never use it."""

import pytest

from tests.fakes.fakeserver import FakeServer
from tests.helpers import DAY, NOW
from tests.test_web_cgi import Site
from tokensweeper.owners import CachedListings, find_owners, take_inventory
from tokensweeper.whmapi import Client

OWNERS = ["root", "alice", "bob"]


@pytest.fixture
def server(tmp_path, monkeypatch):
    server = FakeServer(str(tmp_path / "fake"), now=NOW)
    server.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "cpanel"))
    (tmp_path / "state").mkdir()
    for owner in OWNERS[1:]:
        server.add_reseller(owner)
    for owner in OWNERS:
        server.add_token(owner, owner + "-one", NOW - 400 * DAY, expires_at=NOW - DAY)
        server.add_token(owner, owner + "-two", NOW - 10 * DAY)
    server.write_token_files(str(tmp_path / "cpanel"))
    return server


def names(inventory):
    return sorted(token.key() for token in inventory.tokens)


def load():
    """What the overview does: find the owners, list them, remember the answers."""
    cache = CachedListings(Client())
    owners, _ = find_owners(cache)
    inventory = take_inventory(cache, owners)
    cache.save()
    return inventory, cache


def test_unchanged_owners_are_answered_without_whmapi1(server):
    first, _ = load()
    assert len(server.calls("api_token_list")) == 3
    second, cache = load()
    assert names(second) == names(first) and len(names(second)) == 6
    assert len(server.calls("api_token_list")) == 3 and cache.calls_saved == 3


def test_a_revocation_or_creation_lists_that_owner_again(server):
    load()
    Client().revoke_tokens("bob", ["bob-one"])
    server.add_token("alice", "alice-new", NOW - DAY)  # created behind our back, in WHM
    server.reset_calls()
    inventory, cache = load()
    assert sorted(c["owner"] for c in server.calls("api_token_list")) == ["alice", "bob"]
    assert ("bob", "bob-one") not in names(inventory)
    assert ("alice", "alice-new") in names(inventory)


def test_without_cpanels_token_directory_nothing_is_remembered(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "elsewhere"))
    load()
    load()
    assert len(server.calls("api_token_list")) == 6


def test_a_damaged_cache_file_is_ignored(server, tmp_path):
    load()
    (tmp_path / "state" / "listing-cache.json").write_text("{not json")
    inventory, _ = load()
    assert len(names(inventory)) == 6 and len(server.calls("api_token_list")) == 6


def test_the_overview_reuses_listings_but_a_revocation_lists_afresh(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.server.write_token_files(str(site.root))
    site.get()
    site.server.reset_calls()
    page = site.get()
    assert page.status == 200 and "old-ci" in page.text()
    assert site.server.calls("api_token_list") == []  # nothing changed: no listing at all
    reply = site.post([("action", "preview"), ("t", "root:old-ci")])
    assert reply.status == 200  # issue 14.4: a preview may use the validated cache
    assert site.server.calls("api_token_list") == []
    assert listed_note(reply) == "Listed at 2026-11-27 12:00 UTC · Refresh"
    site.post([("action", "revoke"), ("mode", "selection"), ("t", "root:old-ci")])
    assert [c["owner"] for c in site.server.calls("api_token_list")][:1] == ["root"]


def test_listresellers_is_remembered_while_the_resellers_file_is_unchanged(server, tmp_path):
    resellers = tmp_path / "cpanel" / "var" / "cpanel" / "resellers"
    resellers.parent.mkdir(parents=True, exist_ok=True)
    resellers.write_text("alice:all\nbob:all\n")
    load()
    load()
    assert len(server.calls("listresellers")) == 1
    server.add_reseller("carol")
    resellers.write_text("alice:all\nbob:all\ncarol:list-accts\n")  # cPanel rewrites it
    inventory, _ = load()
    assert len(server.calls("listresellers")) == 2
    assert "carol" in inventory.owners


def test_without_a_resellers_file_listresellers_is_always_asked(server):
    load()
    load()
    assert len(server.calls("listresellers")) == 2


def test_setacls_on_a_reseller_lists_that_reseller_again(server, tmp_path):
    # WHM's setacls rewrites only the resellers file, yet changes what api_token_list shows.
    server.set_reseller_acls("alice", ["list-accts", "create-acct"])
    server.add_token("alice", "alice-narrow", NOW - DAY, acls={"list-accts": 1})
    server.write_resellers_file(str(tmp_path / "cpanel"))
    first, _ = load()
    narrow = next(t for t in first.tokens if t.key() == ("alice", "alice-narrow"))
    assert not narrow.full_access
    server.reset_calls()

    server.set_reseller_acls("alice", ["list-accts"])
    inventory, cache = load()

    assert [c["owner"] for c in server.calls("api_token_list")] == ["alice"]
    narrow = next(t for t in inventory.tokens if t.key() == ("alice", "alice-narrow"))
    assert narrow.full_access  # it now holds every privilege alice has
    assert narrow.access_words == "full access (owner's privileges)"


# -- issue 14.4: previews from the validated cache, said on the page, Refresh -------------


def listed_note(page):
    import re
    found = re.search(r'<p class="ts-listed[^"]*">(.*?)</p>', page.body, re.S)
    return found and re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_policy_preview_uses_the_validated_cache_and_says_when_it_listed(tmp_path,
                                                                              monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.server.write_token_files(str(site.root))
    first = site.get("page=sweep")
    assert first.status == 200
    assert listed_note(first) == "Listed at 2026-11-27 12:00 UTC · Refresh"
    site.server.reset_calls()

    later = NOW + 3600  # an hour later, nothing changed: the 12:00 listing still holds
    again = site.get("page=sweep", now=later)
    assert again.status == 200 and "old-ci" in again.text()
    assert site.server.calls("api_token_list") == []
    assert listed_note(again) == "Listed at 2026-11-27 12:00 UTC · Refresh"
    assert 'href="index.cgi?page=sweep&amp;refresh=1"' in again.body

    refreshed = site.get("page=sweep&refresh=1", now=later)
    assert refreshed.status == 200
    assert listed_note(refreshed) == "Listed at 2026-11-27 13:00 UTC · Refresh"
    assert sorted(c["owner"] for c in site.server.calls("api_token_list")) == [
        "boss", "helper", "root"]
    site.server.reset_calls()
    assert listed_note(site.get("page=sweep", now=later + 60)) == (
        "Listed at 2026-11-27 13:00 UTC · Refresh")  # Refresh was remembered
    assert site.server.calls("api_token_list") == []


def test_the_overview_says_when_its_listing_was_made_and_refreshes(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.server.write_token_files(str(site.root))
    site.get()
    page = site.get("state=expired", now=NOW + 600)
    assert listed_note(page) == "Listed at 2026-11-27 12:00 UTC · Refresh"
    assert 'href="index.cgi?state=expired&amp;refresh=1"' in page.body
    site.server.reset_calls()
    refreshed = site.get("state=expired&refresh=1", now=NOW + 600)
    assert listed_note(refreshed) == "Listed at 2026-11-27 12:10 UTC · Refresh"
    assert len(site.server.calls("api_token_list")) == 3
    assert site.get("refresh=yes").status == 400


def test_a_policy_revocation_lists_afresh_even_after_a_cached_preview(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.server.write_token_files(str(site.root))
    site.get("page=sweep")
    site.get("page=sweep")  # from the cache
    site.server.reset_calls()
    reply = site.post([("action", "revoke"), ("mode", "policy"), ("t", "root:old-ci")])
    assert {c["owner"] for c in site.server.calls("api_token_list")} == {"root", "boss",
                                                                        "helper"}
    assert reply.status in (200, 409)


def test_the_cache_file_is_one_compact_object_of_the_answers_used(server, tmp_path):
    """New answers are encoded as each owner is listed, remembered ones when the file is
    written: joined, they are still exactly the compact JSON of every answer used."""
    import json

    load()
    server.add_token("alice", "alice-new", NOW - DAY)  # alice listed afresh, the rest remembered
    _, cache = load()
    assert cache.calls_saved == 2  # root and bob from the file
    raw = (tmp_path / "state" / "listing-cache.json").read_bytes()
    saved = json.loads(raw.decode("utf-8"))
    assert raw == json.dumps(saved, separators=(",", ":")).encode("utf-8")
    assert sorted(saved) == ["alice", "bob", "root"]
    assert "alice-new" in saved["alice"]["data"]["tokens"]
    inventory, cache = load()  # and the next load believes every remembered answer
    assert cache.calls_saved == 3 and ("alice", "alice-new") in names(inventory)
