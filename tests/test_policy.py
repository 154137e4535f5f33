"""policy.make_plan: every selector, their combinations, protection, and reasons in words."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import DAY, NOW, utc
from tokensweeper.policy import (
    GONE,
    KEEP,
    PROTECTED,
    REVOKE,
    Protection,
    Selectors,
    confirmation_changes,
    make_plan,
    plan_for_names,
    share_cap,
    state_of,
)
from tokensweeper.tokens import Token
from tokensweeper.usage import TokenUsage, UsageFacts

FULL = {"all": True}
NARROW = {"list-accts": True, "create-acct": False}  # a listing shows the 0s too


def tok(name, owner="root", age=10, expires_in=None, acls=NARROW, ips=()):
    expires = None if expires_in is None else NOW + expires_in * DAY
    return Token(owner, name, NOW - age * DAY, expires, acls, ips)


def decisions(plan):
    return {(i.token.owner, i.token.name): i.decision for i in plan.items}


def selected(tokens, usage=None, protection=None, **selectors):
    plan = make_plan(tokens, usage, Selectors(**selectors), protection or Protection(), NOW)
    return sorted(t.name for t in plan.to_revoke())


def selected_keys(tokens, **selectors):
    plan = make_plan(tokens, None, Selectors(**selectors), Protection(), NOW)
    return {t.key() for t in plan.to_revoke()}


def reason(token, usage=None, protection=None, **selectors):
    plan = make_plan([token], usage, Selectors(**selectors), protection or Protection(), NOW)
    (item,) = plan.items
    return item.decision, item.reason


TOKENS = [
    tok("expired-full", age=400, expires_in=-30, acls=FULL),
    tok("expired-narrow-ip", age=50, expires_in=-1, ips=("192.0.2.1",)),
    tok("soon", age=20, expires_in=3),
    tok("later", age=800, expires_in=90, acls=FULL, ips=("10.0.0.0/8",)),
    tok("forever-full", age=1000, acls=FULL),
    tok("forever-new", age=2),
    tok("ci-one", owner="bob", age=100, expires_in=-5),
    tok("ci-two", owner="bob", age=5),
]


# -- each selector alone ---------------------------------------------------------


@pytest.mark.parametrize("selectors, names", [
    ({"expired": True}, ["ci-one", "expired-full", "expired-narrow-ip"]),
    ({"expiring_within_days": 7}, ["soon"]),
    ({"expiring_within_days": 90}, ["later", "soon"]),
    ({"older_than_days": 365}, ["expired-full", "forever-full", "later"]),
    ({"no_expiry": True}, ["ci-two", "forever-full", "forever-new"]),
    ({"full_access": True}, ["expired-full", "forever-full", "later"]),
    ({"no_ip_limit": True}, ["ci-one", "ci-two", "expired-full", "forever-full", "forever-new",
                             "soon"]),
    ({"every_token": True}, sorted(t.name for t in TOKENS)),
])
def test_each_selector_alone(selectors, names):
    assert selected(TOKENS, **selectors) == names


@pytest.mark.parametrize("narrowing", [
    {"names": ["ci-*"]}, {"names": ["*"]}, {"owners": ["bob"]}, {"owners": ["root", "bob"]},
    {"names": ["*"], "owners": ["bob"], "combine": "any"},
])
def test_owners_and_names_alone_select_nothing(narrowing):
    """Issue 11.1: a policy of only owners or names once revoked every token in scope."""
    plan = make_plan(TOKENS, None, Selectors(**narrowing), Protection(), NOW)
    assert plan.to_revoke() == []
    assert {i.reason for i in plan.items} == {
        "no criterion given (owners and names only narrow a selection)"}
    assert not Selectors(**narrowing).selects_anything()


def test_names_and_owners_narrow_a_criterion():
    assert selected(TOKENS, no_expiry=True, names=["ci-*"]) == ["ci-two"]
    assert selected(TOKENS, no_expiry=True, owners=["bob"]) == ["ci-two"]
    assert selected(TOKENS, every_token=True, owners=["bob"]) == ["ci-one", "ci-two"]


def test_empty_selectors_select_nothing():
    plan = make_plan(TOKENS, None, Selectors(), Protection(), NOW)
    assert plan.to_revoke() == []
    assert {i.reason for i in plan.items} == {"no selector given"}
    assert Selectors().describe() == "nothing"


def test_a_name_that_matches_nothing_selects_nothing():
    assert selected(TOKENS, every_token=True, names=["nope-*"]) == []


def test_name_globs_are_case_sensitive_like_cpanel_names():
    assert selected([tok("CI-x"), tok("ci-x")], every_token=True, names=["ci-*"]) == ["ci-x"]


# -- combinations -----------------------------------------------------------------


def test_command_line_selectors_are_and_ed():
    assert selected(TOKENS, expired=True, full_access=True) == ["expired-full"]
    assert selected(TOKENS, expired=True, owners=["bob"]) == ["ci-one"]
    assert selected(TOKENS, no_expiry=True, names=["forever-*"],
                    full_access=True) == ["forever-full"]
    assert selected(TOKENS, expired=True, no_ip_limit=True, older_than_days=365) == ["expired-full"]


def test_the_configs_policy_is_or_ed_within_names_and_owners():
    assert selected(TOKENS, expired=True, older_than_days=365, combine="any") == [
        "ci-one", "expired-full", "expired-narrow-ip", "forever-full", "later"]
    assert selected(TOKENS, expired=True, older_than_days=365, names=["forever-*"],
                    combine="any") == ["forever-full"]
    assert selected(TOKENS, expired=True, older_than_days=50, owners=["bob"],
                    combine="any") == ["ci-one"]


def test_or_ed_policy_with_no_criterion_but_names_is_not_the_whole_server():
    """policy.expired false and no days: names alone select nothing, not every match."""
    assert selected(TOKENS, names=["ci-*"], combine="any") == []
    assert selected(TOKENS, names=["*"], combine="any") == []
    assert selected(TOKENS, combine="any") == []


CRITERIA = st.fixed_dictionaries({}, optional={
    "expired": st.just(True), "expiring_within_days": st.integers(1, 400),
    "older_than_days": st.integers(1, 2000), "no_expiry": st.just(True),
    "full_access": st.just(True), "no_ip_limit": st.just(True)})
RANDOM_TOKEN = st.builds(
    tok, name=st.text("abcxyz-", min_size=1, max_size=6), owner=st.sampled_from(["root", "bob"]),
    age=st.integers(0, 3000), expires_in=st.one_of(st.none(), st.integers(-500, 500)),
    acls=st.sampled_from([FULL, NARROW]), ips=st.sampled_from([(), ("192.0.2.1",)]))


@given(st.lists(RANDOM_TOKEN, max_size=12, unique_by=lambda t: t.key()), CRITERIA)
def test_and_is_the_intersection_and_or_the_union_of_single_criteria(tokens, criteria):
    singles = [selected_keys(tokens, **{k: v}) for k, v in criteria.items()]
    both = selected_keys(tokens, **criteria)
    either = selected_keys(tokens, combine="any", **criteria)
    if singles:
        assert both == set.intersection(*singles)
        assert either == set.union(*singles)
    else:
        assert both == either == set()


def transfer(age=10, expires_in=None, owner="root"):
    """A Transfer Tool token as cPanel names it: transfer-<its creation epoch>."""
    created = NOW - age * DAY
    expires = None if expires_in is None else NOW + expires_in * DAY
    return Token(owner, "transfer-%d" % created, created, expires, FULL, ())


# cPanel's DNS cluster trust token: reverse_trust_ + a lowercase v4 UUID, ACL clustering only.
TRUST = "reverse_trust_3f2b8c1e-9d4a-4c6b-8e2f-1a2b3c4d5e6f"
CLUSTERING = {"clustering": True, "all": False, "list-accts": False}

SYSTEM_TOKENS = [tok(TRUST, age=5000, expires_in=-9, acls=CLUSTERING),
                 tok("prospamfilter", age=5000, acls=FULL), transfer(),
                 tok("WebPros_Dashboard", acls=FULL), tok("WP-Dashboard", acls=FULL)]


@given(st.lists(RANDOM_TOKEN, max_size=12, unique_by=lambda t: t.key()), CRITERIA,
       st.lists(st.sampled_from(["a*", "*-", "x?", "c"]), max_size=2))
def test_protected_tokens_are_never_revoked(tokens, criteria, globs):
    tokens = tokens + SYSTEM_TOKENS
    protection = Protection(True, globs)
    plan = make_plan(tokens, None, Selectors(combine="any", **criteria), protection, NOW)
    for item in plan.items:
        if protection.reason(item.token):
            assert item.decision in (PROTECTED, KEEP)
    assert all(protection.reason(t) is None for t in plan.to_revoke())


# -- protection -------------------------------------------------------------------


@pytest.mark.parametrize("token, why", [
    (tok(TRUST, age=900, expires_in=-100, acls=CLUSTERING),
     "protected: DNS cluster trust token (built-in rule reverse_trust_<uuid>)"),
    (tok("WebPros_Dashboard", age=900, expires_in=-100, acls=FULL),
     "protected: reserved for the WebPros dashboard (built-in rule WebPros_Dashboard)"),
    (tok("WP-Dashboard", age=900, expires_in=-100, acls=FULL),
     "protected: reserved for the WebPros dashboard (built-in rule WP-Dashboard)"),
    (tok("prospamfilter", age=900, expires_in=-100, acls=FULL),
     "protected: SpamExperts token (built-in rule prospamfilter (root))"),
])
def test_builtin_protection_names_its_rule(token, why):
    decision, text = reason(token, expired=True)
    assert decision == PROTECTED
    assert text.startswith(why)
    assert "expired on" in text  # why it would otherwise have gone
    assert reason(token, protection=Protection(builtin=False), expired=True)[0] == REVOKE


@pytest.mark.parametrize("name", ["trust", "reverse_trust", "reverse_trust_", "transfer",
                                  "transfer-", "wp-dashboard", "WebPros_Dashboard2",
                                  "my-trust-token", "ns1-trust", "x-trust",
                                  # any number is no Transfer Tool stamp: it is the creation time
                                  "transfer-999", "transfer-1790000000", "transfer-12a"])
def test_lookalike_names_are_not_protected(name):
    assert reason(tok(name, expires_in=-1), expired=True)[0] == REVOKE


RESELLERS = {"res1": ["list-accts", "create-acct"], "dnsres": ["clustering", "list-accts"],
             "bigres": ["all"]}


def test_name_shapes_protect_only_the_owners_that_can_have_them():
    protection = Protection(reseller_acls=RESELLERS)

    def protected(name, owner):
        return protection.reason(tok(name, owner=owner)) is not None

    # SpamExperts creates root's prospamfilter; a reseller's token of that name is its own.
    assert protected("prospamfilter", "root") and not protected("prospamfilter", "res1")
    # DNS cluster trust needs the clustering privilege (or all).
    def trust(owner):
        return protection.reason(tok(TRUST, owner=owner, acls=CLUSTERING)) is not None

    assert trust("dnsres") and trust("bigres")
    assert not trust("res1")
    assert not trust("former-reseller")
    # Without the resellers file nobody can tell: the token stays protected.
    assert Protection(reseller_acls=None).reason(tok(TRUST, owner="res1", acls=CLUSTERING))
    # The dashboard names are reserved for every owner.
    assert protected("WP-Dashboard", "res1") and protected("WebPros_Dashboard", "res1")


def test_the_transfer_tools_token_names_its_rule():
    # cPanel's is full access and never expires: an age rule selects it, the rule keeps it.
    decision, text = reason(transfer(age=900), older_than_days=30)
    assert decision == PROTECTED
    assert text.startswith(
        "protected: Transfer Tool token (built-in rule transfer-<creation epoch>)")
    assert reason(transfer(age=900), protection=Protection(builtin=False),
                  older_than_days=30)[0] == REVOKE


def test_a_transfer_token_is_protected_only_when_its_stamp_is_its_creation_time():
    created = NOW - 30 * DAY
    assert Protection().reason(Token("root", "transfer-%d" % (created + 60), created, None, FULL))
    assert Protection().reason(
        Token("root", "transfer-%d" % (created - 3 * DAY), created, None, FULL)) is None


def test_a_resellers_transfer_shaped_token_is_its_own_junk_not_the_transfer_tools():
    # cPanel's Transfer Tool runs `whmapi1 api_token_create token_name=transfer-<time()>`
    # as root over SSH (Preflight/RemoteRoot/Create.pm): root's, full access, no expiry.
    # A reseller naming its own tokens transfer-<now> must not keep them from every sweep.
    protection = Protection(reseller_acls=RESELLERS)
    created = NOW - 30 * DAY
    name = "transfer-%d" % created
    assert protection.reason(Token("root", name, created, None, FULL))
    for owner in ("res1", "bigres", "dnsres"):
        assert protection.reason(Token(owner, name, created, None, {"list-accts": True})) is None
        assert protection.reason(Token(owner, name, created, None, FULL)) is None
    # root's own limited or expiring token of that shape is no Transfer Tool token either
    assert protection.reason(Token("root", name, created, None, NARROW)) is None
    assert protection.reason(Token("root", name, created, NOW + DAY, FULL)) is None


def test_a_token_a_connected_application_uses_is_protected_for_that_owner_only():
    protection = Protection(connected={"res1": {"cloud-link": "cp-cloud"}})
    text = protection.reason(tok("cloud-link", owner="res1"))
    assert text == ("protected: used by connected application cp-cloud "
                    "(/var/cpanel/reseller-data/res1/conn-apps.json)")
    assert protection.reason(tok("cloud-link", owner="root")) is None
    assert protection.reason(tok("cloud-link", owner="res2")) is None
    assert Protection(connected={"root": {"x": "app"}}).reason(tok("x")).endswith(
        "(/root/conn-apps.json)")


def test_an_unreadable_connected_applications_file_keeps_all_of_that_owners_tokens():
    protection = Protection(unreadable={"res1": "/x/conn-apps.json cannot be used (bad)"},
                            problems=["warning about res1"])
    assert protection.reason(tok("anything", owner="res1")) == (
        "protected: may be used by a connected application: /x/conn-apps.json cannot be used "
        "(bad)")
    assert protection.reason(tok("anything", owner="res2")) is None
    plan = plan_for_names([tok("anything", owner="res1")], {("res1", "anything")}, protection,
                          NOW)
    assert plan.problems == ["warning about res1"]


def test_on_an_accounts_own_event_a_name_does_not_shield_its_tokens():
    protection = Protection(names=["keep-*"], connected={"res1": {"cloud": "cp-cloud"}},
                            reseller_acls={"res1": ["all"]}).for_account_event()
    tokens = [tok(n, owner="res1") for n in ("WP-Dashboard", "accesshash-%d" % (NOW - 10 * DAY),
                                               "cloud", "keep-me", "plain")]
    tokens[1] = Token("res1", tokens[1].name, NOW - 10 * DAY, None, FULL, ())
    plan = make_plan(tokens, None, Selectors(every_token=True, owners=["res1"]), protection, NOW)
    assert decisions(plan) == {
        ("res1", "WP-Dashboard"): REVOKE, ("res1", "accesshash-%d" % (NOW - 10 * DAY)): REVOKE,
        ("res1", "cloud"): REVOKE, ("res1", "keep-me"): PROTECTED, ("res1", "plain"): REVOKE}
    assert "looked like a system token (reserved for the WebPros dashboard (built-in rule " \
        "WP-Dashboard))" in plan.reason_of(tokens[0])
    assert "looked like a system token (used by connected application cp-cloud" in \
        plan.reason_of(tokens[2])
    assert "looked like" not in plan.reason_of(tokens[4])
    assert plan.reason_of(tokens[3]).startswith("protected: matches protect.names 'keep-*'")


def test_the_admins_own_names_shield_even_a_system_looking_name_on_an_event():
    protection = Protection(names=["WP-*"]).for_account_event()
    assert protection.reason(tok("WP-Dashboard", owner="res1")) == (
        "protected: matches protect.names 'WP-*'")


def test_configured_protection_adds_to_the_builtin_names():
    protection = Protection(True, ["backup-*", "monitoring"])
    tokens = [tok(n, expires_in=-1) for n in ("backup-jet", "monitoring", "monitoring2",
                                                "WP-Dashboard", "tmp")]
    plan = make_plan(tokens, None, Selectors(expired=True), protection, NOW)
    assert decisions(plan) == {("root", "backup-jet"): PROTECTED, ("root", "monitoring"): PROTECTED,
                               ("root", "monitoring2"): REVOKE, ("root", "WP-Dashboard"): PROTECTED,
                               ("root", "tmp"): REVOKE}
    assert plan.reason_of(tokens[0]).startswith("protected: matches protect.names 'backup-*'")


def test_configured_protection_without_builtin():
    protection = Protection(False, ["keep-*"])
    assert selected([tok("WP-Dashboard", expires_in=-1), tok("keep-me", expires_in=-1)],
                    protection=protection, expired=True) == ["WP-Dashboard"]


def test_protected_but_unselected_tokens_are_simply_kept():
    decision, text = reason(tok("WP-Dashboard"), expired=True)
    assert decision == KEEP and text == "never expires"


# -- the cap: owners are independent ----------------------------------------------------


def owners_tokens(counts):
    return [tok("t%d" % i, owner=owner) for owner, count in counts.items() for i in range(count)]


def test_one_owner_over_the_cap_is_refused_and_the_others_are_admitted():
    share = share_cap(owners_tokens({"root": 3, "res2": 51, "res1": 4}), 50)
    assert share.refused == {"res2": 51} and share.deferred == {}
    assert sorted({t.owner for t in share.admitted}) == ["res1", "root"]
    assert len(share.admitted) == 7


def test_owners_that_no_longer_fit_are_deferred_smallest_first_after_root():
    share = share_cap(owners_tokens({"root": 20, "big": 25, "small": 10, "mid": 15}), 50)
    # root (20), then small (10) and mid (15): 45; big (25) would make 70.
    assert share.deferred == {"big": 25} and share.refused == {}
    assert sorted({t.owner for t in share.admitted}) == ["mid", "root", "small"]


def test_a_reseller_cannot_keep_another_owner_deferred_forever():
    # mallory re-creates 29 short-lived tokens every day: fewer than victim's 30 stale ones,
    # so "fewest first" alone would admit mallory's and defer victim's every night.
    # An owner over the cap with even older tokens is refused, and takes no one's turn.
    victim = [tok("old-%d" % i, owner="victim", age=400) for i in range(30)]
    refused = [tok("ancient-%d" % i, owner="hoarder", age=900) for i in range(60)]
    for night in range(3):
        junk = [tok("junk-%d-%d" % (night, i), owner="mallory", age=0) for i in range(29)]
        share = share_cap(victim + junk + refused, 50)
        assert share.refused == {"hoarder": 60}
        victim = [t for t in victim if t not in share.admitted]
        if not victim:
            break
    assert victim == [] and night == 0


def test_the_owner_that_waited_longest_goes_right_after_root():
    tokens = owners_tokens({"root": 5, "small": 10}) + [
        tok("t%d" % i, owner="patient", age=900) for i in range(40)]
    share = share_cap(tokens, 50)
    assert share.deferred == {"small": 10}
    assert sorted({t.owner for t in share.admitted}) == ["patient", "root"]


def test_a_cap_of_zero_admits_nothing():
    share = share_cap(owners_tokens({"root": 1, "res1": 2}), 0)
    assert share.admitted == [] and share.refused == {"root": 1, "res1": 2}


@given(st.dictionaries(st.sampled_from(["root", "a", "b", "c", "d", "e"]), st.integers(1, 40),
                       max_size=6), st.integers(0, 60))
def test_the_cap_holds_for_the_whole_run_and_refuses_only_owners_over_it(counts, cap):
    share = share_cap(owners_tokens(counts), cap)
    admitted = {}
    for token in share.admitted:
        admitted[token.owner] = admitted.get(token.owner, 0) + 1
    assert sum(admitted.values()) <= cap
    assert set(admitted) | set(share.refused) | set(share.deferred) == set(counts)
    assert all(counts[owner] > cap for owner in share.refused)
    assert all(counts[owner] <= cap for owner in share.deferred)
    assert all(admitted[owner] == counts[owner] for owner in admitted)  # whole owners only
    # A deferred owner never has fewer candidates than an admitted reseller (all these
    # tokens have the same age: no owner has waited longer than another).
    for owner in share.deferred:
        assert all(counts[owner] >= counts[other] for other in admitted if other != "root")
    if "root" in counts and counts["root"] <= cap:
        assert "root" in admitted


# -- reasons an administrator can read -------------------------------------------


def test_expired_reason_gives_the_date_and_days_ago():
    token = Token("root", "old", utc(2025, 1, 1), utc(2026, 1, 2))
    assert reason(token, expired=True) == (REVOKE, "expired on 2026-01-02, 329 days ago")


def test_one_day_is_singular():
    assert reason(tok("t", expires_in=-1), expired=True)[1].endswith(", 1 day ago")


def test_expiring_within_reasons():
    assert reason(tok("t", expires_in=3), expiring_within_days=7) == (
        REVOKE, "expires on 2026-11-30, in 3 days")
    assert reason(tok("t", expires_in=30), expiring_within_days=7) == (
        KEEP, "expires on 2026-12-27, in 30 days")
    assert reason(tok("t"), expiring_within_days=7) == (KEEP, "never expires")
    assert reason(tok("t", expires_in=-2), expiring_within_days=7) == (
        KEEP, "already expired on 2026-11-25")


def test_older_than_reason_and_its_boundary():
    assert reason(tok("t", age=400), older_than_days=365) == (
        REVOKE, "older than 365 days (created 2025-10-23, 400 days ago)")  # the rule first
    assert reason(tok("t", age=365), older_than_days=365)[0] == KEEP  # not older: exactly as old
    assert reason(tok("t", age=366), older_than_days=365)[0] == REVOKE


def test_other_reasons():
    assert reason(tok("t"), no_expiry=True) == (REVOKE, "never expires")
    assert reason(tok("t", expires_in=5), no_expiry=True) == (KEEP, "expires on 2026-12-02")
    assert reason(tok("t", acls=FULL), full_access=True) == (REVOKE, "full access")
    assert reason(tok("t"), full_access=True) == (KEEP, "limited ACLs")
    assert reason(tok("t"), no_ip_limit=True) == (REVOKE, "no IP limit")
    assert reason(tok("t", ips=("192.0.2.1", "10.0.0.0/8")), no_ip_limit=True) == (
        KEEP, "limited to 192.0.2.1, 10.0.0.0/8")
    assert reason(tok("t", owner="bob"), no_expiry=True, owners=["carol"]) == (
        KEEP, "owner bob not selected")
    assert reason(tok("t"), no_expiry=True, names=["ci-*"]) == (KEEP, "name matches none of ci-*")


def test_and_ed_reasons_say_every_criterion_that_held_or_failed():
    token = tok("ci-x", age=400, expires_in=-30, acls=FULL)
    decision, text = reason(token, expired=True, full_access=True, names=["ci-*"])
    assert decision == REVOKE
    assert text == "expired on 2026-10-28, 30 days ago; full access; name matches 'ci-*'"
    decision, text = reason(tok("ci-y", expires_in=-30), expired=True, full_access=True)
    assert decision == KEEP and text == "limited ACLs"


# -- unused_for needs evidence ------------------------------------------------------


def test_unused_for_without_usage_data_selects_nothing():
    token = tok("t", age=900)
    assert reason(token, usage=None, unused_for_days=90) == (
        KEEP, "unused: unknown (no usage data)")
    decision, text = reason(token, usage=UsageFacts.empty(), unused_for_days=90)
    assert decision == KEEP and "no usage data" in text


def test_unused_for_with_evidence():
    facts = UsageFacts(tokens={("root", "used"): TokenUsage(NOW - 5 * DAY, "10.0.0.1", 3),
                               ("root", "stale"): TokenUsage(NOW - 200 * DAY, "10.0.0.2", 1)},
                       oldest=NOW - 400 * DAY, newest=NOW)
    tokens = [tok("used", age=900), tok("stale", age=900), tok("never", age=300),
              tok("young", age=10)]
    plan = make_plan(tokens, facts, Selectors(unused_for_days=90), Protection(), NOW)
    assert decisions(plan) == {("root", "used"): KEEP, ("root", "stale"): REVOKE,
                               ("root", "never"): REVOKE, ("root", "young"): KEEP}
    assert plan.reason_of(tokens[1]).startswith("unused: last used 2026-05-11")
    assert plan.reason_of(tokens[2]) == "unused: never used"


def test_unused_for_beyond_the_logs_reach_selects_nothing():
    facts = UsageFacts(tokens={}, oldest=NOW - 30 * DAY, newest=NOW)
    decision, text = reason(tok("t", age=900), usage=facts, unused_for_days=90)
    assert decision == KEEP and "only covers 30 days" in text


# -- the plan ------------------------------------------------------------------------


def test_plan_groups_and_counts():
    plan = make_plan(TOKENS + [tok("WP-Dashboard", expires_in=-1)], None, Selectors(expired=True),
                     Protection(), NOW)
    assert plan.counts() == {REVOKE: 3, PROTECTED: 1, KEEP: 5, GONE: 0}
    assert sorted(plan.by_owner()) == ["bob", "root"]
    assert len(plan.items) == len(TOKENS) + 1


def test_selectors_record_only_what_is_set():
    assert Selectors(expired=True, names=["ci-*"]).to_dict() == {"expired": True, "names": ["ci-*"]}
    assert Selectors(expired=True, older_than_days=9, combine="any").to_dict() == {
        "expired": True, "older_than_days": 9, "combine": "any"}
    assert Selectors(expired=True, older_than_days=9, combine="any").describe() == (
        "expired or older_than_days=9")
    with pytest.raises(ValueError):
        Selectors(combine="sometimes")


def test_plan_for_names_by_hand():
    listed = [tok("a", acls=FULL), tok("WP-Dashboard"), tok("c")]
    plan = plan_for_names(listed, {("root", "a"), ("root", "WP-Dashboard"), ("root", "gone")},
                          Protection(), NOW)
    assert decisions(plan) == {("root", "a"): REVOKE, ("root", "WP-Dashboard"): PROTECTED,
                               ("root", "gone"): GONE}
    assert [t.name for t in plan.to_revoke()] == ["a"]


def test_state_of_a_token():
    protection = Protection()
    plan = make_plan([tok("x", expires_in=-1), tok("WP-Dashboard", expires_in=-1),
                      tok("old", age=900), tok("soon", expires_in=2), tok("fine", expires_in=200)],
                     None,
                     Selectors(older_than_days=365), protection, NOW)
    states = {i.token.name: state_of(i, protection, NOW)[0] for i in plan.items}
    assert states == {"x": "expired", "WP-Dashboard": "protected", "old": "stale",
                      "soon": "expiring", "fine": "active"}


# -- confirmation binds identity (issue 11.3) ----------------------------------------------


def test_identity_binds_creation_time_and_every_listed_fact():
    token = tok("ci", age=10, expires_in=5)
    assert token.identity().startswith("root:ci:%d:" % token.create_time)
    assert tok("ci", age=11, expires_in=5).identity() != token.identity()
    assert tok("ci", age=10, expires_in=6).identity() != token.identity()
    assert tok("ci", age=10, expires_in=5, acls=FULL).identity() != token.identity()
    assert tok("ci", age=10, expires_in=5, ips=("192.0.2.1",)).identity() != token.identity()
    assert tok("ci", age=10, expires_in=5).identity() == token.identity()


def test_confirmation_changes_name_what_differs():
    old = [tok("a", expires_in=-1), tok("b", expires_in=-1), tok("c", expires_in=-1),
           tok("d", expires_in=-1)]
    confirmed = [t.identity() for t in old]
    now = [tok("a", expires_in=-1),  # the same
           tok("b", age=0, expires_in=-1),  # re-created
           tok("c", expires_in=30),  # renewed: no longer expired
           tok("e", expires_in=-1)]  # new; d is gone
    plan = make_plan(now, None, Selectors(expired=True), Protection(), NOW)
    changes = confirmation_changes(confirmed, plan)
    assert changes == [
        "root/b was re-created under the same name (the token listed now was created "
        "2026-11-27)",
        "root/c was changed (expiry, ACLs or IP limit)",
        "root/d is no longer listed (revoked or removed meanwhile)",
        "root/e is newly selected: expired on 2026-11-26, 1 day ago",
    ]
    same = make_plan(old, None, Selectors(expired=True), Protection(), NOW)
    assert confirmation_changes(confirmed, same) == []
