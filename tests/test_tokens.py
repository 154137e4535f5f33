"""tokens.parse_token_list over every quirk of api_token_list (cpanel-facts.md §1),
as property tests, plus the derived facts a policy relies on."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tokensweeper.tokens import DAY, Token, TokenDataError, parse_token_list

NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
NAME = st.text(alphabet=NAME_CHARS, min_size=1, max_size=50)
OWNER = st.sampled_from(["root", "bob", "reseller_2"])
EPOCH = st.integers(min_value=0, max_value=2 ** 33)
ACL_NAME = st.sampled_from(["all", "list-accts", "create-acct", "suspend-acct", "clustering"])
GRANTED = st.sampled_from([0, 1, "0", "1", True, False])
IP = st.sampled_from(["192.0.2.1", "192.0.2.8/29", "2001:db8::/32", "10.0.0.0/8"])
KNOWN = {"name", "create_time", "expires_at", "acls", "whitelist_ips"}
EXTRA = st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN),
                        st.one_of(st.none(), st.integers(), st.text(max_size=8),
                                  st.lists(st.integers(), max_size=3)), max_size=3)
ABSENT = object()


@st.composite
def raw_entry(draw, name):
    """(entry as cPanel might send it, what it must parse to)."""
    created = draw(EPOCH)
    expires = draw(st.one_of(st.none(), EPOCH))
    acls = draw(st.dictionaries(ACL_NAME, GRANTED, max_size=5))
    ips = draw(st.one_of(st.just(ABSENT), st.none(), st.lists(IP, max_size=4)))
    entry = {"name": name,
             "create_time": draw(st.sampled_from([created, str(created)])),
             "expires_at": (expires if expires is None
                            else draw(st.sampled_from([expires, str(expires)]))),
             "acls": acls}
    if ips is not ABSENT:
        entry["whitelist_ips"] = ips
    entry.update(draw(EXTRA))
    # 0 is cPanel's "never expires", like null.
    expected = {"name": name, "create_time": created, "expires_at": expires or None,
                "acls": {k: v in (1, "1", True) for k, v in acls.items()},
                "whitelist_ips": tuple(ips or ()) if ips is not ABSENT else ()}
    return entry, expected


@st.composite
def token_lists(draw):
    names = draw(st.lists(NAME, unique=True, max_size=6))
    pairs = [draw(raw_entry(name)) for name in names]
    return {"tokens": {e["name"]: e for e, _ in pairs}}, [x for _, x in pairs]


@given(OWNER, token_lists())
def test_every_quirk_parses_to_one_shape(owner, case):
    data, expected = case
    tokens = parse_token_list(owner, data)
    assert [t.name for t in tokens] == sorted(x["name"] for x in expected)
    by_name = {x["name"]: x for x in expected}
    for token in tokens:
        want = by_name[token.name]
        assert token.owner == owner
        assert token.create_time == want["create_time"] and type(token.create_time) is int
        assert token.expires_at == want["expires_at"]
        assert token.acls == want["acls"]
        assert all(type(v) is bool for v in token.acls.values())
        assert token.whitelist_ips == want["whitelist_ips"]
        # Root needs `all`; a reseller's listing grants every key it lists (issue 25).
        granted = want["acls"]
        assert token.full_access == (bool(granted.get("all")) or (
            owner != "root" and bool(granted) and all(granted.values())))
        assert token.ip_limited == bool(want["whitelist_ips"])


@given(OWNER, NAME, EPOCH, EPOCH)
def test_derived_facts_follow_the_clock(owner, name, created, now):
    token = Token(owner, name, created, expires_at=None)
    assert not token.is_expired(now) and token.expires_in_days(now) is None
    assert token.age_days(now) == max(0, (now - created) // DAY)


@given(EPOCH, EPOCH)
def test_expired_means_expiry_not_after_now(expires, now):
    token = Token("root", "t", 0, expires_at=expires)
    assert token.is_expired(now) == (expires <= now)
    if expires < now:
        assert token.expires_in_days(now) < 0
    if expires >= now:
        assert token.expires_in_days(now) >= 0


def test_the_documented_example():
    data = {"tokens": {
        "my-controller-token": {"acls": {"create-acct": 0, "list-accts": 1, "suspend-acct": 1},
                                "create_time": 1483625276, "expires_at": 1609372800,
                                "name": "my-controller-token",
                                "whitelist_ips": ["192.0.2.1", "192.0.2.8/29"]},
        "my-read-only-token": {"acls": {"create-acct": 0, "list-accts": 1},
                               "create_time": 1490882281, "expires_at": None,
                               "name": "my-read-only-token", "whitelist_ips": None}}}
    controller, read_only = parse_token_list("root", data)
    assert controller.to_dict() == {"owner": "root", "name": "my-controller-token",
                                    "create_time": 1483625276, "expires_at": 1609372800,
                                    "full_access": False, "ip_limited": True, "kind": "whm"}
    assert controller.is_expired(1609372800) and not controller.is_expired(1609372799)
    assert read_only.expires_at is None and not read_only.ip_limited


@pytest.mark.parametrize("data", [{}, {"tokens": {}}, {"tokens": []}, {"tokens": None}])
def test_a_user_without_tokens(data):
    assert parse_token_list("bob", data) == []


# -- malformed entries: an error naming owner and token, never a crash ---------

GOOD = {"name": "ci-deploy", "create_time": 1700000000, "expires_at": None,
        "acls": {"all": 1}, "whitelist_ips": None}

BAD_FIELDS = [
    ("create_time", None), ("create_time", "yesterday"), ("create_time", True),
    ("create_time", [1700000000]), ("create_time", 1.5), ("create_time", "-5"),
    ("acls", "all"), ("acls", 7), ("acls", {"all": 2}), ("acls", {"all": "yes"}),
    ("acls", {"all": None}), ("acls", {"all": 0.5}), ("acls", [1, 2]),
    ("whitelist_ips", 5), ("whitelist_ips", [1]), ("whitelist_ips", {"ip": "192.0.2.1"}),
    ("name", "someone-else"),
]


@pytest.mark.parametrize("field, value", BAD_FIELDS)
def test_a_malformed_field_names_owner_and_token(field, value):
    entry = dict(GOOD)
    entry[field] = value
    with pytest.raises(TokenDataError) as raised:
        parse_token_list("bob", {"tokens": {"ci-deploy": entry}})
    message = str(raised.value)
    assert "bob" in message and "ci-deploy" in message


def test_a_missing_create_time_names_owner_and_token():
    entry = dict(GOOD)
    del entry["create_time"]
    with pytest.raises(TokenDataError, match="ci-deploy.*bob.*create_time"):
        parse_token_list("bob", {"tokens": {"ci-deploy": entry}})


@given(OWNER, NAME, st.one_of(st.none(), st.integers(), st.text(max_size=5),
                              st.lists(st.integers(), max_size=2)))
def test_an_entry_that_is_not_an_object_is_an_error(owner, name, junk):
    with pytest.raises(TokenDataError) as raised:
        parse_token_list(owner, {"tokens": {name: junk}})
    assert owner in str(raised.value) and name in str(raised.value)


@given(OWNER, st.one_of(st.integers(), st.text(min_size=1, max_size=5),
                        st.lists(st.integers(), min_size=1, max_size=2)))
def test_a_tokens_field_of_the_wrong_kind_names_the_owner(owner, junk):
    assume(junk != [])
    with pytest.raises(TokenDataError) as raised:
        parse_token_list(owner, {"tokens": junk})
    assert owner in str(raised.value)


@pytest.mark.parametrize("data", [None, [], "tokens", 3])
def test_data_that_is_not_an_object_names_the_owner(data):
    with pytest.raises(TokenDataError, match="bob"):
        parse_token_list("bob", data)


def test_one_bad_token_among_good_ones_is_still_an_error():
    """A listing that cannot be trusted as a whole must not be half-used (an expiry that
    is no time is the one exception: that token is marked damaged and protected)."""
    bad = dict(GOOD, name="broken", create_time="never")
    with pytest.raises(TokenDataError, match="broken"):
        parse_token_list("root", {"tokens": {"ci-deploy": dict(GOOD), "broken": bad}})


def test_full_access_of_a_reseller_token_is_judged_from_its_listing():
    from tokensweeper.tokens import has_full_access

    own = ("list-accts", "create-acct")
    assert has_full_access({"list-accts": True, "create-acct": True}, own, "res1")
    assert not has_full_access({"list-accts": True, "create-acct": False}, own, "res1")
    # cPanel drops the ACLs of disabled dynamic components from a reseller's listing
    # (get_filtered_reseller_privs): every listed ACL granted is full access, even when
    # the resellers file names one more.
    assert has_full_access({"list-accts": True}, own, "res1")
    assert has_full_access({"list-accts": True}, None, "res1")
    # A reseller with `all` lists `all` like root does.
    assert has_full_access({"all": True}, ("all", "list-accts"), "res1")
    # Root needs `all`, whatever else its listing grants.
    assert has_full_access({"all": True}, None, "root")
    assert not has_full_access({"list-accts": True}, None, "root")
    assert has_full_access({"all": True}) and not has_full_access({"list-accts": True})
    # An empty map is no full access.
    assert not has_full_access({}, (), "res1")
    token = parse_token_list("res1", {"tokens": {"t": {
        "name": "t", "create_time": 1, "acls": {"list-accts": 1, "create-acct": 1}}}}, own)[0]
    assert token.full_access and token.access_words == "full access (owner's privileges)"
    assert token.to_dict()["full_access"] is True
