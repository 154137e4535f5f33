"""Pins on tokens.py found by mutation testing (`make mutate`): the shapes of
api_token_list that the property tests never drew, and the exact words an admin
reads when cPanel sends something we cannot trust."""

import pytest

from tokensweeper.tokens import (
    CPANEL,
    DAY,
    WHM,
    Token,
    TokenDataError,
    holder_of,
    parse_token_list,
    parse_uapi_token_list,
    split_holder,
)

NOW = 1_800_000_000


def one(entry, owner="root", key="t1"):
    [token] = parse_token_list(owner, {"tokens": {key: entry}})
    return token


def refusal(entry, owner="bob", key="t1"):
    with pytest.raises(TokenDataError) as caught:
        parse_token_list(owner, {"tokens": {key: entry}})
    return str(caught.value)


# -- whitelist_ips --------------------------------------------------------------


def test_a_single_address_string_is_an_ip_limit_not_no_limit():
    # Read as "no limit", --no-ip-limit would revoke a token that IS limited.
    token = one({"create_time": 1, "whitelist_ips": "192.0.2.1"})
    assert token.whitelist_ips == ("192.0.2.1",)
    assert token.ip_limited


def test_a_single_cidr_string_is_an_ip_limit():
    assert one({"create_time": 1, "whitelist_ips": "192.0.2.8/29"}).whitelist_ips == (
        "192.0.2.8/29",
    )


@pytest.mark.parametrize("value", ["any", "", None, []])
def test_any_empty_or_null_whitelist_means_no_ip_limit(value):
    # `whitelist_ip=any` is how cPanel clears the list (cpanel-facts.md §1).
    token = one({"create_time": 1, "whitelist_ips": value})
    assert token.whitelist_ips == ()
    assert not token.ip_limited


def test_a_whitelist_of_numbers_is_refused_with_its_value():
    assert refusal({"create_time": 1, "whitelist_ips": [1]}) == (
        "token 't1' of bob: whitelist_ips is [1], expected a list of addresses"
    )


# -- acls -----------------------------------------------------------------------


def test_the_list_form_of_acls_grants_each_named_acl():
    token = one({"create_time": 1, "acls": ["all", "list-accts"]})
    assert token.acls == {"all": True, "list-accts": True}
    assert token.full_access


def test_a_list_of_acls_without_all_is_not_full_access():
    token = one({"create_time": 1, "acls": ["list-accts"]})
    assert token.acls == {"list-accts": True}
    assert not token.full_access


def test_an_empty_acl_list_grants_nothing():
    assert one({"create_time": 1, "acls": []}).acls == {}


def test_an_acl_list_holding_non_names_is_refused():
    assert refusal({"create_time": 1, "acls": ["all", 1]}) == (
        "token 't1' of bob: acls list holds non-names"
    )


def test_acls_of_the_wrong_kind_are_refused_naming_the_kind():
    assert refusal({"create_time": 1, "acls": "all"}) == (
        "token 't1' of bob: acls is str, not an object"
    )


def test_an_acl_value_that_is_not_0_or_1_names_the_acl_and_value():
    assert refusal({"create_time": 1, "acls": {"all": 2}}) == (
        "token 't1' of bob: ACL 'all' is 2, expected 0 or 1"
    )


# -- epochs ---------------------------------------------------------------------


def test_float_epochs_with_no_fraction_are_whole_seconds():
    token = one({"create_time": 1700000000.0, "expires_at": 1800000000.0})
    assert token.create_time == 1700000000
    assert token.expires_at == 1800000000
    assert type(token.create_time) is int and type(token.expires_at) is int


def test_a_fractional_epoch_is_refused_naming_the_field():
    assert refusal({"create_time": 1.5}) == (
        "token 't1' of bob: create_time is not a Unix time: 1.5"
    )


def test_a_boolean_epoch_is_refused_naming_the_field():
    assert refusal({"create_time": True}) == "token 't1' of bob: create_time is a boolean"


# What cPanel's own login check (`$expires_at && $expires_at < time()`) makes of each
# value: Perl's false values never expire; any other digit string is its number.
EXPIRIES = [
    (None, None), ("", None), (0, None), (0.0, None), ("0", None),
    ("00", 0), ("0001800000000", 1800000000), ("1800000000", 1800000000),
    (1800000000, 1800000000), (1800000000.0, 1800000000),
    ("67767976233521999", 67767976233521999),
]


@pytest.mark.parametrize("listed, expires_at", EXPIRIES)
def test_an_expiry_is_read_as_cpanel_reads_it(listed, expires_at):
    token = one({"create_time": 1, "expires_at": listed})
    assert token.expires_at == expires_at and type(token.expires_at) is type(expires_at)
    assert token.expiry_damaged is None and "expiry_damaged" not in token.to_dict()
    assert token.is_expired(NOW) == (expires_at is not None and expires_at <= NOW)


DAMAGED = [("soon", '"soon"'), (True, "true"), (False, "false"), (-5, "-5"), ("-5", '"-5"'),
           ("1.5", '"1.5"'), (1.5, "1.5"), (" 12", '" 12"'), ("\u0661", '"\\u0661"'),
           ([1], "[1]"), ({"at": 1}, '{"at": 1}'), (67767976233522000, "67767976233522000"),
           ("9" * 100, '"%s' % ("9" * 79))]


@pytest.mark.parametrize("listed, shown", DAMAGED)
def test_an_expiry_that_is_no_time_marks_that_token_alone(listed, shown):
    tokens = parse_token_list("bob", {"tokens": {
        "odd": {"create_time": 1, "expires_at": listed},
        "ok": {"create_time": 1, "expires_at": "00"}}})
    odd, ok = tokens
    assert (odd.expires_at, odd.expiry_damaged) == (None, shown)
    assert odd.to_dict()["expiry_damaged"] == shown and not odd.is_expired(NOW)
    assert ok.expires_at == 0 and ok.expiry_damaged is None
    # What a confirmation binds changes with the damaged value, and only then.
    same = Token("bob", "odd", 1, expiry_damaged=shown)
    assert same.identity() == odd.identity() != Token("bob", "odd", 1).identity()
    assert Token("bob", "odd", 1, expiry_damaged='"later"').identity() != odd.identity()


def test_a_cpanel_accounts_damaged_expiry_marks_that_token_alone():
    odd, ok = parse_uapi_token_list("acct", [
        {"name": "odd", "create_time": 1, "expires_at": "never", "has_full_access": 1},
        {"name": "ok", "create_time": 1, "expires_at": "", "has_full_access": 1}])
    assert odd.expiry_damaged == '"never"' and odd.expires_at is None
    assert ok.expiry_damaged is None and ok.expires_at is None


def test_a_missing_create_time_says_so():
    assert refusal({"expires_at": 5}) == "token 't1' of bob: create_time is missing"


# -- names and entries ----------------------------------------------------------


def test_an_entry_without_a_name_field_takes_its_key():
    token = one({"create_time": 1}, key="deploy")
    assert token.name == "deploy"
    assert token.key() == ("root", "deploy")


def test_a_name_field_that_disagrees_with_its_key_is_refused():
    assert refusal({"name": "other", "create_time": 1}) == (
        "token 't1' of bob: its name field says 'other'"
    )


def test_an_entry_that_is_not_an_object_names_its_kind():
    assert refusal(None) == "token 't1' of bob: expected an object, got null"
    assert refusal([1]) == "token 't1' of bob: expected an object, got list"


def test_listing_errors_name_the_owner_and_the_kind():
    with pytest.raises(TokenDataError) as caught:
        parse_token_list("bob", None)
    assert str(caught.value) == "api_token_list for bob: expected an object, got null"
    with pytest.raises(TokenDataError) as caught:
        parse_token_list("bob", ["t1"])
    assert str(caught.value) == "api_token_list for bob: expected an object, got list"
    with pytest.raises(TokenDataError) as caught:
        parse_token_list("bob", {"tokens": "x"})
    assert str(caught.value) == "api_token_list for bob: 'tokens' is str, not an object"


# -- the value object -----------------------------------------------------------


def test_tokens_are_equal_only_with_the_same_identity_and_facts():
    a = Token("bob", "t1", 100, expires_at=200)
    assert a == Token("bob", "t1", 100, expires_at=200)
    assert a != Token("bob", "t2", 100, expires_at=200)
    assert a != Token("bob", "t1", 100, expires_at=300)
    assert a != Token("eve", "t1", 100, expires_at=200)
    assert a != ("bob", "t1")
    assert len({a, Token("bob", "t1", 100, expires_at=200), Token("bob", "t2", 1)}) == 2


def test_equal_tokens_hash_alike_whatever_the_facts():
    assert hash(Token("bob", "t1", 1)) == hash(("bob", "t1"))


def test_repr_names_owner_and_token():
    assert repr(Token("bob", "t1", 1)) == "Token('bob', 't1')"


def test_days_until_expiry_are_whole_days():
    token = Token("bob", "t1", 0, expires_at=NOW + DAY + DAY // 2)
    assert token.expires_in_days(NOW) == 1
    assert type(token.expires_in_days(NOW)) is int


def test_identity_names_owner_token_and_creation_and_digests_the_rest():
    token = Token("bob", "t1", 1700000000, expires_at=1800000000,
                  acls={"b": True, "a": False}, whitelist_ips=["192.0.2.1"])
    owner, name, created, digest = token.identity().split(":")
    assert (owner, name, created) == ("bob", "t1", "1700000000")
    assert len(digest) == 12 and int(digest, 16) >= 0
    same = Token("bob", "t1", 1700000000, expires_at=1800000000,
                 acls={"a": False, "b": True}, whitelist_ips=("192.0.2.1",))
    assert same.identity() == token.identity()
    changed = [
        Token("bob", "t1", 1700000000, 1800000001, {"b": True, "a": False}, ["192.0.2.1"]),
        Token("bob", "t1", 1700000000, 1800000000, {"b": True, "a": True}, ["192.0.2.1"]),
        Token("bob", "t1", 1700000000, 1800000000, {"b": True, "a": False}, ["192.0.2.2"]),
        Token("bob", "t1", 1700000000, None, {"b": True, "a": False}, ["192.0.2.1"]),
    ]
    digests = {t.identity().rsplit(":", 1)[1] for t in changed} | {digest}
    assert len(digests) == 5


# -- cPanel accounts' tokens (issue 15) ------------------------------------------------


def test_a_changed_feature_list_changes_the_identity():
    a = Token("shop1", "t", NOW, kind=CPANEL, full_access=False, features=["ftp"])
    b = Token("shop1", "t", NOW, kind=CPANEL, full_access=False, features=["ftp", "ssh"])
    c = Token("shop1", "t", NOW, kind=CPANEL, full_access=True)
    assert len({a.identity(), b.identity(), c.identity()}) == 3
    assert Token("bob", "t", NOW).kind == WHM


def test_uapi_list_answers_are_checked():
    with pytest.raises(TokenDataError, match="shop1"):
        parse_uapi_token_list("shop1", {"tokens": {}})
    with pytest.raises(TokenDataError, match="has_full_access"):
        parse_uapi_token_list("shop1", [{"name": "a", "create_time": 1, "features": []}])
    with pytest.raises(TokenDataError, match="listed twice"):
        parse_uapi_token_list("shop1",
                              [{"name": "a", "create_time": 1, "has_full_access": 1}] * 2)
    (token,) = parse_uapi_token_list("shop1", [{"name": "a", "create_time": "7",
                                                "expires_at": "0", "has_full_access": "1"}])
    assert (token.create_time, token.expires_at, token.full_access) == (7, None, True)


def test_holders_name_the_kind():
    assert holder_of("bob") == "bob" and holder_of("bob", CPANEL) == "bob@cpanel"
    assert split_holder("bob") == ("bob", WHM)
    assert split_holder("bob@cpanel") == ("bob", CPANEL)
    token = Token("bob", "x", 5, kind=CPANEL, account_owner="root", full_access=False,
                  features=["ssh", "ftp"])
    assert (token.holder, token.key(), token.features) == ("bob@cpanel", ("bob@cpanel", "x"),
                                                           ("ssh", "ftp"))
    assert token.usage_logged is False and Token("bob", "x", 5).usage_logged is True
    assert repr(token) == "Token('bob', 'x', kind='cpanel')"
    assert repr(Token("bob", "x", 5)) == "Token('bob', 'x')"
    assert token.to_dict() == {"owner": "bob", "name": "x", "create_time": 5,
                               "expires_at": None, "full_access": False, "ip_limited": False,
                               "kind": "cpanel", "account_owner": "root"}
    assert token.access_words == "limited features"
    assert Token("bob", "y", 5, kind=CPANEL, full_access=True).access_words == "full access"
    assert token != Token("bob", "x", 5)  # same owner and name, other kind


def test_a_uapi_record_is_read_field_by_field():
    (token,) = parse_uapi_token_list("shop", [
        {"name": "t", "create_time": 100, "expires_at": 200, "has_full_access": 0,
         "features": ["ftp"]}], "bob")
    assert (token.owner, token.kind, token.account_owner, token.create_time,
            token.expires_at, token.full_access, token.features, token.acls) == (
        "shop", CPANEL, "bob", 100, 200, False, ("ftp",), {})
    assert parse_uapi_token_list("shop", None) == []
    assert parse_uapi_token_list("shop", []) == []
    for record, words in (
            ("x", "Tokens::list for shop: a record is str, not an object"),
            ({"name": "bad name", "create_time": 1}, "a record has no valid name: 'bad name'"),
            ({"name": "t", "has_full_access": 1}, "token 't' of shop: create_time is missing"),
            ({"name": "t", "create_time": 1, "has_full_access": 1, "features": "ftp"},
             "token 't' of shop: features is 'ftp', expected a list of names"),
            ({"name": "t", "create_time": 1, "has_full_access": [1]},
             "token 't' of shop: has_full_access is [1], expected 0 or 1")):
        with pytest.raises(TokenDataError) as caught:
            parse_uapi_token_list("shop", [record])
        assert words in str(caught.value)


def test_a_uapi_name_is_read_by_cpanels_own_rule():
    """Perl's /^[A-Za-z0-9_-]{1,50}$/ (tests/contract): one final newline is a name cPanel
    keeps; two, a leading one, or 51 characters are not."""
    names = ["x" * 50, "y" * 50 + "\n", "nl\n", "-"]
    listed = parse_uapi_token_list("shop", [
        {"name": name, "create_time": 1, "has_full_access": 1} for name in names])
    assert [t.name for t in listed] == sorted(names)
    for name in ("x" * 51, "two\n\n", "\nlead", "", "a.b", "nl\r"):
        with pytest.raises(TokenDataError, match="a record has no valid name"):
            parse_uapi_token_list("shop", [{"name": name, "create_time": 1,
                                            "has_full_access": 1}])


def test_full_access_is_read_from_the_listing_alone():
    """Issue 25: root needs `all`; a reseller's listing grants every key it shows."""
    from tokensweeper.tokens import has_full_access

    assert has_full_access({"all": True}, None, "root")
    assert has_full_access({"all": True, "x": False}, ("x",), "bob")
    assert not has_full_access({"x": True}, None, "root")
    assert not has_full_access({"x": True}, ("x",), "root")
    assert has_full_access({"x": True}, None, "bob")
    assert has_full_access({"x": True, "y": True}, ("x", "y", "z"), "bob")
    assert not has_full_access({"x": True, "y": False}, ("x",), "bob")
    assert not has_full_access({}, ("x",), "bob") and not has_full_access({}, None, "bob")
    assert has_full_access({"x": True}, ("x",)) and not has_full_access({"x": True})
    assert Token("bob", "t", 1, acls={"x": True}).full_access
    assert not Token("root", "t", 1, acls={"x": True}).full_access
