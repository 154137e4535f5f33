"""What the plugin relies on from whmapi1, driven through the plugin's own whmapi.py.

Runs on the fake in `make test`, and on cPanel's own Perl code with
`make conformance CPANEL_SOURCE=DIR` (see conftest.py): a case that passes on one and
fails on the other is a fake that lies."""
import os
import stat
import time

import pytest

from tokensweeper import whmapi
from tokensweeper.whmapi import UapiCall

FUTURE = int(time.time()) + 400 * 86400
# A reseller's privileges (its line in /var/cpanel/resellers).
BOB_ACLS = ("list-accts", "create-acct", "manage-api-tokens")


def client():
    return whmapi.Client()


def create(owner, name, *params):
    return client().call("api_token_create", [("token_name", name)] + list(params),
                         owner=owner)


def by_name(tokens):
    return {token.name: token for token in tokens}


def accounting(backend):
    path = os.path.join(backend.root, "var", "cpanel", "accounting.log")
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_root_full_access_token_is_listed_as_full_access(backend):
    answer = create("root", "deploy")
    assert answer["name"] == "deploy" and len(answer["token"]) == 32
    token = by_name(client().list_tokens("root"))["deploy"]
    assert token.full_access
    assert token.expires_at is None
    assert token.whitelist_ips == ()


def test_limited_token_with_expiry_and_addresses(backend):
    answer = create("root", "ci", ("acl-1", "list-accts"), ("expires_at", str(FUTURE)),
                    ("whitelist_ip-1", "192.0.2.9"), ("whitelist_ip-2", "192.0.2.1"))
    # cPanel answers the ACLs and the addresses, normalised and sorted.
    assert answer["acls"] == ["list-accts"]
    assert answer["whitelist_ips"] == ["192.0.2.1", "192.0.2.9"]
    token = by_name(client().list_tokens("root"))["ci"]
    assert not token.full_access
    assert token.acls.get("list-accts") and not token.acls.get("all")
    assert token.expires_at == FUTURE
    assert sorted(token.whitelist_ips) == ["192.0.2.1", "192.0.2.9"]


def test_reseller_tokens_full_and_limited(backend):
    backend.add_reseller("bob", BOB_ACLS)
    create("bob", "everything")
    create("bob", "lister", ("acl-1", "list-accts"))
    tokens = by_name(client().list_tokens("bob"))
    assert tokens["everything"].full_access
    assert not tokens["lister"].full_access
    assert tokens["lister"].acls.get("list-accts")
    # A reseller's listing never offers ACLs it does not have.
    assert "all" not in tokens["everything"].acls
    assert "clustering" not in tokens["lister"].acls


def test_revoke_removes_only_the_named_tokens_and_logs_each(backend):
    create("root", "old")
    create("root", "keep")
    assert client().revoke_tokens("root", ["old", "never-existed"]) == 1
    assert set(by_name(client().list_tokens("root"))) == {"keep"}
    lines = accounting(backend)
    assert [line.split(":", 3)[3] for line in lines if "APITOKEN" in line] == [
        "CREATEAPITOKEN:root:root:not-applicable:old",
        "CREATEAPITOKEN:root:root:not-applicable:keep",
        "REVOKEAPITOKEN:root:root:not-applicable:old"]
    # <ctime>: "Sun Dec  6 01:25:50 2026"
    assert time.strptime(lines[-1][:24], "%a %b %d %H:%M:%S %Y")


def test_reseller_revoke_is_logged_under_the_reseller(backend):
    backend.add_reseller("bob", BOB_ACLS)
    create("bob", "gone")
    client().revoke_tokens("bob", ["gone"])
    assert by_name(client().list_tokens("bob")) == {}
    assert accounting(backend)[-1].endswith(":REVOKEAPITOKEN:bob:bob:not-applicable:gone")
    # The file stays, emptied, with cPanel's modes.
    directory = os.path.join(backend.root, "var", "cpanel", "authn", "api_tokens_v2",
                             "whostmgr")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    path = os.path.join(directory, "bob.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as handle:
        assert handle.read().replace(" ", "") == '{"tokens":{}}'


def test_revoke_without_a_name_fails(backend):
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        client().call("api_token_revoke", [], owner="root")
    assert "Provide at least one “token_name” argument." in str(failed.value)


@pytest.mark.parametrize("params", [
    [("token_name", "dup")],
    [("token_name", "no.dots")],
    [("token_name", "past"), ("expires_at", "100")],
    [("token_name", "hostbits"), ("whitelist_ip-1", "10.0.0.1/24")],
])
def test_create_errors_say_so(backend, params):
    create("root", "dup")
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        client().call("api_token_create", params, owner="root")
    assert failed.value.reason.startswith("The system failed to create the API token: ")


def test_update_renames_and_keeps_the_rest(backend):
    create("root", "before", ("acl-1", "list-accts"), ("expires_at", str(FUTURE)))
    client().call("api_token_update", [("token_name", "before"), ("new_name", "after")])
    tokens = by_name(client().list_tokens("root"))
    assert set(tokens) == {"after"}
    assert tokens["after"].expires_at == FUTURE and not tokens["after"].full_access


def uapi(*calls):
    return client().run_uapi_chunk(list(calls))


def test_uapi_list_and_revoke_of_a_cpanel_account(backend):
    backend.add_account("alice")
    backend.add_cpanel_token("alice", "site")
    backend.add_cpanel_token("alice", "other")
    [listed] = uapi(UapiCall("alice", "Tokens", "list"))
    assert listed.ok
    assert sorted(row["name"] for row in listed.data) == ["other", "site"]
    assert all(str(row["has_full_access"]) == "1" for row in listed.data)
    gone, unknown = uapi(UapiCall("alice", "Tokens", "revoke", [("name", "site")]),
                         UapiCall("alice", "Tokens", "revoke", [("name", "nope")]))
    assert gone.ok and str(gone.data) == "1"
    assert unknown.ok and str(unknown.data) == "0"
    [listed] = uapi(UapiCall("alice", "Tokens", "list"))
    assert [row["name"] for row in listed.data] == ["other"]


def test_cpanel_token_file_modes_and_emptied_file(backend):
    backend.add_account("alice")
    backend.add_cpanel_token("alice", "site")
    uapi(UapiCall("alice", "Tokens", "revoke", [("name", "site")]))
    directory = os.path.join(backend.root, "var", "cpanel", "authn", "api_tokens_v2", "cpanel")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o711
    path = os.path.join(directory, "alice.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with open(path) as handle:
        assert handle.read().replace(" ", "") == '{"tokens":{}}'


def test_uapi_refusals_and_failures(backend):
    backend.add_account("alice")
    backend.add_account("carl", apitokens=False)
    no_name, no_feature, no_account, fine = uapi(
        UapiCall("alice", "Tokens", "revoke"),
        UapiCall("carl", "Tokens", "list"),
        UapiCall("zed", "Tokens", "list"),
        UapiCall("alice", "Tokens", "list"))
    assert no_name.refused and "Provide the “name” argument." in no_name.error
    assert no_feature.refused and "You do not have the feature “apitokens”." in no_feature.error
    # The WHM call itself fails for an account that does not exist: not UAPI's refusal.
    assert not no_account.refused
    assert "You do not have a user named “zed”." in no_account.error
    # One failed command (the batch's own result is then 0) leaves the others' answers.
    assert fine.ok and fine.data == []


# --- the exact shapes cPanel's code answers (the fake must not be kinder) -------------

def raw(*args):
    """whmapi1's own JSON answer (no judging): the plugin's binary, --output=json."""
    import json
    import subprocess
    out = subprocess.run([client().binary, "--output=json"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return json.loads(out.stdout.decode("utf-8"))


def test_root_listing_shows_every_acl_of_a_full_access_token(backend):
    create("root", "full")
    create("root", "one", ("acl-1", "list-accts"))
    tokens = raw("api_token_list")["data"]["tokens"]
    full, one = tokens["full"]["acls"], tokens["one"]["acls"]
    assert len(full) > 60 and {"all", "clustering", "list-accts", "kill-acct"} <= set(full)
    assert set(full.values()) == {1}
    assert set(one) == set(full)
    assert one["all"] == 0 and str(one["list-accts"]) == "1"
    assert sum(1 for value in one.values() if str(value) == "1") == 1


def test_listing_field_types(backend):
    backend.add_reseller("bob", BOB_ACLS)
    create("bob", "lister", ("acl-1", "list-accts"), ("expires_at", str(FUTURE)))
    create("bob", "ip", ("whitelist_ip-1", "192.0.2.1"))
    tokens = raw("--user=bob", "api_token_list")["data"]["tokens"]
    lister = tokens["lister"]
    # A granted ACL of a reseller's limited token is the string "1"; expires_at is the
    # digit string it was created with; an unset address list is no key at all.
    assert lister["acls"] == {"list-accts": "1", "create-acct": 0, "manage-api-tokens": 0}
    assert lister["expires_at"] == str(FUTURE)
    assert "whitelist_ips" not in lister
    assert tokens["ip"]["whitelist_ips"] == ["192.0.2.1"]
    assert tokens["ip"]["expires_at"] is None
    assert isinstance(lister["create_time"], int)


def test_an_empty_or_zero_padded_expiry_is_kept_as_given(backend):
    """Validate.pm lets "" through unchecked and "00" as 0 (no future check for 0);
    Write/whostmgr.pm makes only "0" undef: the listing shows "" and "00" as created, and
    cPanel's login check reads "00" as expired (true to Perl, 0 < time())."""
    for name, expiry in (("blank", ""), ("zeros", "00"), ("zero", "0")):
        create("root", name, ("expires_at", expiry))
    listed = raw("api_token_list")["data"]["tokens"]
    assert [listed[n]["expires_at"] for n in ("blank", "zeros", "zero")] == ["", "00", None]
    tokens = by_name(client().list_tokens("root"))
    assert tokens["blank"].expires_at is None and tokens["zero"].expires_at is None
    assert tokens["zeros"].expires_at == 0 and tokens["zeros"].is_expired(int(time.time()))
    assert all(t.expiry_damaged is None for t in tokens.values())


def test_listing_order_changes_between_processes(backend):
    for number in range(8):
        create("root", "t%d" % number)
    orders = {tuple(raw("api_token_list")["data"]["tokens"]) for _ in range(8)}
    assert len(orders) > 1


def test_user_that_is_no_reseller_lists_nothing(backend):
    backend.add_account("carol")
    answer = raw("--user=carol", "api_token_list")
    assert answer["metadata"]["result"] == 1 and answer["data"]["tokens"] == {}
    assert client().list_tokens("carol") == []


def test_uapi_list_shape(backend):
    backend.add_account("alice")
    backend.add_cpanel_token("alice", "site")
    answer = raw("uapi_cpanel", "cpanel.user=alice", "cpanel.module=Tokens",
                 "cpanel.function=list")
    uapi_answer = answer["data"]["uapi"]
    assert answer["metadata"]["result"] == 1 and uapi_answer["status"] == 1
    assert uapi_answer["metadata"] == {"transformed": 1}
    [row] = uapi_answer["data"]
    assert row["whitelist_ips"] is None and row["features"] == [] and row["name"] == "site"


def test_uapi_revoke_of_an_unknown_name_writes_the_file(backend):
    backend.add_account("alice")
    backend.add_account("nofile")
    path = os.path.join(backend.root, "var", "cpanel", "authn", "api_tokens_v2", "cpanel",
                        "nofile.json")
    [answer] = uapi(UapiCall("nofile", "Tokens", "revoke", [("name", "nope")]))
    assert answer.ok and str(answer.data) == "0"
    with open(path) as handle:
        assert handle.read().strip() == "null"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    # cPanel reads `null` as no tokens; so does the plugin (the hook's fast path).
    from tokensweeper import paths, tokenfiles
    assert tokenfiles.token_count("nofile", paths.cpanel_token_dir()) == 0


def test_batch_with_a_failed_command_fails_itself_but_answers_each(backend):
    backend.add_account("alice")
    good = UapiCall("alice", "Tokens", "list").command()
    bad = UapiCall("zed", "Tokens", "list").command()
    answer = raw("batch", "command-0=" + quote(good), "command-1=" + quote(bad))
    assert answer["metadata"]["result"] == 0
    first, second = answer["data"]["result"]
    assert first["metadata"]["result"] == 1 and second["metadata"]["result"] == 0
    assert "You do not have a user named “zed”." in second["metadata"]["reason"]


def quote(text):
    from urllib.parse import quote as url_quote
    return url_quote(text, safe="")


def test_update_replaces_the_ip_list_and_keeps_acls_and_expiry(backend):
    """What quarantine and restore rely on: whitelist_ip REPLACES the list (never merges),
    `any` clears it, the ACLs and the expiry stay as they were."""
    create("root", "ci", ("acl-1", "list-accts"), ("expires_at", str(FUTURE)),
           ("whitelist_ip-1", "10.0.0.0/24"), ("whitelist_ip-2", "198.51.100.7"))
    client().call("api_token_update", [("token_name", "ci"), ("whitelist_ip-0", "192.0.2.1")])
    token = by_name(client().list_tokens("root"))["ci"]
    assert token.whitelist_ips == ("192.0.2.1",)
    assert token.expires_at == FUTURE and not token.full_access
    assert token.acls["list-accts"] and not token.acls["create-acct"]
    client().call("api_token_update", [("token_name", "ci"), ("whitelist_ip-0", "any"),
                                       ("whitelist_ip-1", "10.9.9.9")])
    token = by_name(client().list_tokens("root"))["ci"]
    assert token.whitelist_ips == () and token.expires_at == FUTURE
    assert accounting(backend)[-1].endswith(":UPDATEAPITOKEN:root:root:not-applicable:ci")


@pytest.mark.parametrize("params, words", [
    ([("token_name", "nope"), ("whitelist_ip-0", "192.0.2.1")],
     "The API token “nope” does not exist."),
    ([("token_name", "ci"), ("expires_at", "100")], "must be a future date"),
    ([("token_name", "ci")] + [("whitelist_ip-%d" % i, "10.0.0.%d" % i) for i in range(101)],
     "above the limit of 100"),
])
def test_update_errors_change_nothing(backend, params, words):
    create("root", "ci", ("whitelist_ip-1", "10.0.0.0/24"))
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        client().call("api_token_update", params, owner="root")
    assert failed.value.reason.startswith("The system failed to update the API token: ")
    assert words in failed.value.reason
    assert by_name(client().list_tokens("root"))["ci"].whitelist_ips == ("10.0.0.0/24",)


def test_a_batch_of_updates_as_a_reseller_sets_each_list(backend):
    """Many api_token_update calls in one `batch` process run as the owner (whmapi.py's
    update_whitelists): each answered on its own, an unknown name failing alone."""
    backend.add_reseller("bob", BOB_ACLS)
    create("bob", "a", ("whitelist_ip-1", "203.0.113.5"))
    create("bob", "b")
    answers = client().update_whitelists("bob", [("a", ["192.0.2.1"]), ("gone", ["192.0.2.1"]),
                                                 ("b", ["192.0.2.1"])])
    assert answers["a"] is None and answers["b"] is None
    assert "does not exist" in answers["gone"]
    tokens = by_name(client().list_tokens("bob"))
    assert tokens["a"].whitelist_ips == ("192.0.2.1",) == tokens["b"].whitelist_ips
    answers = client().update_whitelists("bob", [("a", ["203.0.113.5"]), ("b", [])])
    assert answers == {"a": None, "b": None}
    tokens = by_name(client().list_tokens("bob"))
    assert tokens["a"].whitelist_ips == ("203.0.113.5",) and tokens["b"].whitelist_ips == ()


# --- issue 26, second pass: updates, refusals, names, address lists -------------------

def granted(token):
    return {acl for acl, value in token.acls.items() if str(value) == "1" or value is True}


def test_update_changes_only_the_fields_it_names(backend):
    create("root", "ci", ("acl-1", "list-accts"), ("whitelist_ip-1", "192.0.2.5"))
    created = by_name(client().list_tokens("root"))["ci"].create_time
    client().call("api_token_update", [("token_name", "ci"), ("acl-1", "kill-acct"),
                                       ("acl-2", "list-accts")])
    token = by_name(client().list_tokens("root"))["ci"]
    assert granted(token) == {"kill-acct", "list-accts"} and not token.full_access
    assert token.whitelist_ips == ("192.0.2.5",) and token.expires_at is None
    client().call("api_token_update", [("token_name", "ci"), ("expires_at", str(FUTURE))])
    token = by_name(client().list_tokens("root"))["ci"]
    assert token.expires_at == FUTURE and granted(token) == {"kill-acct", "list-accts"}
    client().call("api_token_update", [("token_name", "ci"), ("expires_at", "0")])
    assert by_name(client().list_tokens("root"))["ci"].expires_at is None
    client().call("api_token_update", [("token_name", "ci"), ("new_name", "ci-2"),
                                       ("whitelist_ip-0", "any")])
    tokens = by_name(client().list_tokens("root"))
    assert set(tokens) == {"ci-2"}
    renamed = tokens["ci-2"]
    assert renamed.whitelist_ips == () and renamed.create_time == created
    assert granted(renamed) == {"kill-acct", "list-accts"}
    # Each update is logged under the name it was asked for.
    assert [line.split(":", 3)[3] for line in accounting(backend)
            if "UPDATEAPITOKEN" in line] == ["UPDATEAPITOKEN:root:root:not-applicable:ci"] * 4


@pytest.mark.parametrize("params, words", [
    ([], "Specify a new name, updated ACLs, or IPs."),
    ([("new_name", "other")], "An API token with the name “other” already exists."),
    ([("new_name", "bad.name")], "“bad.name” is not a valid API token name."),
    ([("acl-1", "no-such-acl")], "Invalid or unauthorized ACL specified: no-such-acl"),
    ([("expires_at", "soon")], "“soon” is not a valid UNIX epoch timestamp."),
    ([("whitelist_ip-0", "192.0.2.1"), ("whitelist_ip-1", "bogus")],
     "Invalid IP address or CIDR range specified: bogus"),
])
def test_update_refusals_leave_the_token_as_it_was(backend, params, words):
    create("root", "ci", ("whitelist_ip-1", "203.0.113.7"))
    create("root", "other")
    before = accounting(backend)
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        client().call("api_token_update", [("token_name", "ci")] + params)
    assert failed.value.reason.startswith("The system failed to update the API token: " + words)
    tokens = by_name(client().list_tokens("root"))
    assert set(tokens) == {"ci", "other"} and tokens["ci"].whitelist_ips == ("203.0.113.7",)
    assert tokens["ci"].full_access and accounting(backend) == before


def test_a_reseller_grants_only_acls_it_has(backend):
    backend.add_reseller("bob", BOB_ACLS)
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        create("bob", "killer", ("acl-1", "kill-acct"))
    assert failed.value.reason == ("The system failed to create the API token: Invalid or "
                                   "unauthorized ACL specified: kill-acct")
    # The ACLs come back sorted, each once.
    answer = create("bob", "pair", ("acl-1", "manage-api-tokens"), ("acl-2", "list-accts"),
                    ("acl-3", "list-accts"))
    assert answer["acls"] == ["list-accts", "manage-api-tokens"]
    tokens = by_name(client().list_tokens("bob"))
    assert set(tokens) == {"pair"}
    assert granted(tokens["pair"]) == {"list-accts", "manage-api-tokens"}
    assert not tokens["pair"].full_access


def test_revoke_of_several_names_some_unknown_or_twice(backend):
    for name in ("a", "b", "c"):
        create("root", name)
    assert client().revoke_tokens("root", ["a", "ghost", "c", "a"]) == 1
    assert set(by_name(client().list_tokens("root"))) == {"b"}
    # One line per token really removed (cPanel takes the names in hash order).
    assert sorted(line.split(":", 3)[3] for line in accounting(backend)
                  if "REVOKEAPITOKEN" in line) == [
        "REVOKEAPITOKEN:root:root:not-applicable:a", "REVOKEAPITOKEN:root:root:not-applicable:c"]


def test_revoke_for_a_user_without_tokens_leaves_an_empty_file(backend):
    """cPanel opens the owner's file even when nothing is revoked: a user who had none is
    left an empty one (0 bytes, 0600), which its own reader takes as no tokens. So must
    the plugin's (the hook's fast path, owner discovery)."""
    from tokensweeper import tokenfiles

    backend.add_reseller("bob", BOB_ACLS)
    assert client().list_tokens("bob") == []
    client().revoke_tokens("bob", ["ghost"])
    path = os.path.join(backend.root, "var", "cpanel", "authn", "api_tokens_v2", "whostmgr",
                        "bob.json")
    assert os.path.getsize(path) == 0 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert client().list_tokens("bob") == []
    assert tokenfiles.token_count("bob") == 0 and not tokenfiles.may_hold_tokens("bob")
    assert tokenfiles.read_token_file("bob") == []


ACCEPTED_NAMES = ("x" * 50, "-", "_", "A-z_9", "nl\n", "y" * 50 + "\n")
REFUSED_NAMES = ("x" * 51, "\nlead", "two\n\n", "dot.name", "sp ace", "ümlaut", "a/b")


def test_token_names_cpanel_accepts_and_refuses(backend):
    """Validate.pm's Perl /^[A-Za-z0-9_-]{1,50}$/: `$` also matches before one final
    newline, so "nl\\n" (and 50 characters and a newline) is a name cPanel keeps."""
    for name in ACCEPTED_NAMES:
        assert create("root", name)["name"] == name
    for name in REFUSED_NAMES:
        with pytest.raises(whmapi.WhmapiFailed) as failed:
            create("root", name)
        assert failed.value.reason == (
            "The system failed to create the API token: “%s” is not a valid API token name. "
            "An API token name must not be longer than 50 characters and may only contain "
            "the following characters: a-z A-Z 0-9 _ -" % name)
    assert set(by_name(client().list_tokens("root"))) == set(ACCEPTED_NAMES)
    client().revoke_tokens("root", ["nl\n", "-"])
    assert set(by_name(client().list_tokens("root"))) == set(ACCEPTED_NAMES) - {"nl\n", "-"}


def test_a_cpanel_account_token_name_ending_in_a_newline_is_listed_and_revoked(backend):
    """The plugin's UAPI reading takes what cPanel's name rule lets through: one token
    named "site\\n" must not make the account's whole listing fail."""
    from tokensweeper.tokens import parse_uapi_token_list

    backend.add_account("alice")
    backend.add_cpanel_token("alice", "site")
    backend.add_cpanel_token("alice", "site\n")
    [listed] = uapi(UapiCall("alice", "Tokens", "list"))
    assert [t.name for t in parse_uapi_token_list("alice", listed.data)] == ["site", "site\n"]
    [gone] = uapi(UapiCall("alice", "Tokens", "revoke", [("name", "site\n")]))
    assert gone.ok and str(gone.data) == "1"
    [listed] = uapi(UapiCall("alice", "Tokens", "list"))
    assert [t.name for t in parse_uapi_token_list("alice", listed.data)] == ["site"]


V6_HOST = "2001:0db8:0000:0000:0000:0000:0000:0001"
V6_NET = "2001:0db8:0000:0000:0000:0000:0000:0000/32"


def test_addresses_are_normalised_ipv6_written_out_in_full(backend):
    """Write.pm's _normalize_ip_list through Net::IP: IPv4 first, by address, each once, a
    host without /32 or /128, and IPv6 in Net::IP's full form. A restore sends the listed
    texts back: they must come back the same."""
    answer = create("root", "v6", ("whitelist_ip-1", "2001:db8::1"),
                    ("whitelist_ip-2", "2001:DB8::/32"), ("whitelist_ip-3", "192.0.2.1/32"),
                    ("whitelist_ip-4", "2001:db8:0::1/128"), ("whitelist_ip-5", "10.1.0.0/16"),
                    ("whitelist_ip-6", "10.0.0.0/24"))
    normal = ["10.0.0.0/24", "10.1.0.0/16", "192.0.2.1", V6_NET, V6_HOST]
    assert answer["whitelist_ips"] == normal
    listed = by_name(client().list_tokens("root"))["v6"].whitelist_ips
    assert list(listed) == normal
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        create("root", "hostbits", ("whitelist_ip-1", "2001:db8::1/64"))
    assert failed.value.reason.endswith(
        "Invalid IP address or CIDR range specified: 2001:db8::1/64")
    assert client().update_whitelists("root", [("v6", ["192.0.2.1"])]) == {"v6": None}
    assert client().update_whitelists("root", [("v6", list(listed))]) == {"v6": None}
    assert by_name(client().list_tokens("root"))["v6"].whitelist_ips == listed


def test_a_batch_of_updates_with_a_refused_address_fails_that_one_alone(backend):
    for name in ("a", "b", "c"):
        create("root", name, ("whitelist_ip-1", "203.0.113.7"))
    answers = client().update_whitelists(
        "root", [("a", ["192.0.2.1"]), ("b", ["10.0.0.1/24"]), ("c", [])])
    assert answers["a"] is None and answers["c"] is None
    assert "Invalid IP address or CIDR range specified: 10.0.0.1/24" in answers["b"]
    tokens = by_name(client().list_tokens("root"))
    assert [tokens[n].whitelist_ips for n in "abc"] == [("192.0.2.1",), ("203.0.113.7",), ()]


def test_a_reseller_and_an_account_without_tokens_list_none(backend):
    backend.add_reseller("bob", BOB_ACLS)
    backend.add_account("alice")
    answer = raw("--user=bob", "api_token_list")
    assert answer["metadata"]["result"] == 1 and answer["data"]["tokens"] == {}
    assert client().list_tokens("bob") == []
    [listed] = uapi(UapiCall("alice", "Tokens", "list"))
    assert listed.ok and listed.data == []
    # Listing writes nothing: only a revoke leaves a file behind.
    tokens_dir = os.path.join(backend.root, "var", "cpanel", "authn", "api_tokens_v2")
    assert not os.path.exists(os.path.join(tokens_dir, "whostmgr", "bob.json"))
    assert not os.path.exists(os.path.join(tokens_dir, "cpanel", "alice.json"))


@pytest.mark.parametrize("given, words", [
    ("0.0.0.0/0", "Invalid IP address or CIDR range specified: 0.0.0.0/0"),
    ("::/0", "Invalid IP address or CIDR range specified: ::/0"),
    ("192.0.2.0/255.255.255.0",
     "Invalid IP address or CIDR range specified: 192.0.2.0/255.255.255.0"),
    ("192.0.2.1/33", "Invalid IP address or CIDR range specified: 192.0.2.1/33"),
    ("010.0.0.1", "Invalid IP address or CIDR range specified: 010.0.0.1"),
    ("", "The “whitelist_ip” arguments cannot be empty."),
])
def test_addresses_cpanel_refuses(backend, given, words):
    """What a restore could be asked to send back from a record edited by hand: cPanel
    refuses it, and nothing changes."""
    create("root", "ci", ("whitelist_ip-1", "203.0.113.7"))
    with pytest.raises(whmapi.WhmapiFailed) as failed:
        create("root", "new", ("whitelist_ip-1", given))
    assert failed.value.reason == "The system failed to create the API token: " + words
    answers = client().update_whitelists("root", [("ci", [given])])
    assert words in answers["ci"]
    assert set(by_name(client().list_tokens("root"))) == {"ci"}
    assert by_name(client().list_tokens("root"))["ci"].whitelist_ips == ("203.0.113.7",)


def test_an_ipv4_mapped_address_is_kept_as_ipv6(backend):
    answer = create("root", "mapped", ("whitelist_ip-1", "::ffff:192.0.2.1"))
    assert answer["whitelist_ips"] == ["0000:0000:0000:0000:0000:ffff:c000:0201"]


# --- the command end to end: what it does with cPanel's own answers -------------------

def tokensweeper(tmp_path, now, *args):
    """bin/tokensweeper against the backend (its environment is this test's), with its own
    state and a config that acts on both kinds, at `now`."""
    import json
    import subprocess
    import sys

    state, config = tmp_path / "state", tmp_path / "config.yaml"
    if not state.exists():
        state.mkdir(mode=0o700)
        config.write_text("kinds: [whm, cpanel]\n")
        config.chmod(0o600)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TOKENSWEEPER_STATE_DIR=str(state), TOKENSWEEPER_CONFIG=str(config),
               TOKENSWEEPER_NOW=str(now))
    run = subprocess.run([sys.executable, os.path.join(repo, "bin", "tokensweeper")]
                         + list(args) + ["--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    assert run.returncode == 0, (args, run.stdout.decode()[-2000:], run.stderr.decode())
    return json.loads(run.stdout.decode())


def test_the_command_lists_quarantines_restores_and_sweeps(backend, tmp_path):
    """The whole flow against cPanel's code: IPv6 written out in full comes back from a
    restore as it was; names ending in a newline are listed and swept, both kinds."""
    backend.add_reseller("bob", BOB_ACLS)
    backend.add_account("shop", owner="bob")
    create("root", "v6", ("whitelist_ip-1", "2001:db8::1"), ("whitelist_ip-2", "10.0.0.0/8"))
    create("bob", "nl\n")
    backend.add_cpanel_token("shop", "leak\n")
    backend.add_cpanel_token("shop", "site")
    later = int(time.time()) + 30 * 86400
    listed = tokensweeper(tmp_path, later, "list")["tokens"]
    assert {(t["kind"], t["owner"], t["name"]) for t in listed} == {
        ("whm", "root", "v6"), ("whm", "bob", "nl\n"), ("cpanel", "shop", "leak\n"),
        ("cpanel", "shop", "site")}
    own = ("10.0.0.0/8", V6_HOST)
    assert by_name(client().list_tokens("root"))["v6"].whitelist_ips == own
    done = tokensweeper(tmp_path, later, "quarantine", "--owner", "root", "--name", "v6",
                        "--older-than", "7", "--yes")
    assert [t["action"] for t in done["tokens"]] == ["quarantined"]
    assert by_name(client().list_tokens("root"))["v6"].whitelist_ips == ("192.0.2.1",)
    done = tokensweeper(tmp_path, later, "restore", "--owner", "root", "--name", "v6")
    assert [t["action"] for t in done["tokens"]] == ["restored"]
    assert by_name(client().list_tokens("root"))["v6"].whitelist_ips == own
    done = tokensweeper(tmp_path, later, "sweep", "--older-than", "7", "--owner", "bob",
                        "--kind", "whm", "--yes")
    assert [(t["name"], t["action"]) for t in done["tokens"]] == [("nl\n", "revoked")]
    done = tokensweeper(tmp_path, later, "sweep", "--older-than", "7", "--owner", "shop",
                        "--kind", "cpanel", "--yes")
    assert sorted((t["name"], t["action"]) for t in done["tokens"]) == [
        ("leak\n", "revoked"), ("site", "revoked")]
    assert client().list_tokens("bob") == []
    [answer] = uapi(UapiCall("shop", "Tokens", "list"))
    assert answer.ok and answer.data == []


def test_listresellers_names_each_reseller_once_and_never_root(backend):
    assert client().list_resellers() == []
    backend.add_reseller("bob", BOB_ACLS)
    backend.add_reseller("zoe", ("all",))
    backend.add_account("carl", owner="bob")
    assert sorted(client().list_resellers()) == ["bob", "zoe"]
