"""Pins on policy/ found by mutation testing (`make mutate`): the words of
reasons and descriptions an admin reads, hand-picked plans, the overview's
states, and what a Plan carries to the audit log."""

import pytest

from tests.helpers import DAY, NOW
from tests.kinds_support import EveryTokenUnused, cp, cpmove_stamp
from tests.kinds_support import stamp as iso_stamp
from tokensweeper.policy import (
    GONE,
    KEEP,
    PROTECTED,
    REVOKE,
    Plan,
    PlanItem,
    Protection,
    Selectors,
    confirmation_changes,
    day,
    identity_key,
    make_plan,
    plan_for_names,
    share_cap,
    state_of,
)
from tokensweeper.tokens import CPANEL, Token
from tokensweeper.usage import TokenUsage, UsageFacts

TRUST = "protected: DNS cluster trust token (built-in rule reverse_trust_<uuid>)"
# cPanel's shape: reverse_trust_ + a lowercase v4 UUID, ACL clustering only.
TRUST_NAME = "reverse_trust_0c8e4f2a-1b3d-4e5f-a6b7-c8d9e0f1a2b3"
CLUSTERING = {"clustering": True, "all": False, "list-accts": False}


def tok(name, owner="root", age=10, expires_in=None, acls=None, ips=()):
    expires = None if expires_in is None else NOW + expires_in * DAY
    if acls is None:
        acls = CLUSTERING if name == TRUST_NAME else {"list-accts": True, "create-acct": False}
    return Token(owner, name, NOW - age * DAY, expires, acls, ips)


def only(tokens, **selectors):
    plan = make_plan(tokens, None, Selectors(**selectors), Protection(), NOW)
    return [(i.decision, i.reason) for i in plan.items]


# -- reasons ------------------------------------------------------------------------


def test_days_ago_are_whole_days_rounded_down():
    token = Token("root", "t", NOW - 900 * DAY, NOW - DAY - DAY // 2)
    assert only([token], expired=True) == [(REVOKE, "expired on 2026-11-26, 1 day ago")]


def test_a_token_that_has_not_expired_says_when_it_will():
    assert only([tok("t", expires_in=10)], expired=True) == [(KEEP, "expires on 2026-12-07")]


def test_a_token_expiring_soon_says_when():
    assert only([tok("t", expires_in=10)], expiring_within_days=30) == [
        (REVOKE, "expires on 2026-12-07, in 10 days")]


def test_a_name_outside_the_globs_lists_every_glob():
    assert only([tok("t")], expired=True, names=["ci-*", "deploy-?"]) == [
        (KEEP, "name matches none of ci-*, deploy-?")
    ]


def test_every_missed_criterion_is_given_joined_by_semicolons():
    token = tok("t", expires_in=10)
    assert only([token], expired=True, no_expiry=True) == [
        (KEEP, "expires on 2026-12-07; expires on 2026-12-07")
    ]


def test_owners_alone_select_nothing_and_say_why():
    assert only([tok("t", owner="bob")], owners=["bob"]) == [
        (KEEP, "no criterion given (owners and names only narrow a selection)")
    ]
    assert only([tok("t")]) == [(KEEP, "no selector given")]


def test_every_token_within_the_owners_says_whose_token_it_is():
    assert only([tok("t", owner="bob"), tok("u")], every_token=True, owners=["bob"]) == [
        (REVOKE, "every token of bob"),
        (KEEP, "owner root not selected"),
    ]


def test_a_criterion_with_owners_does_not_add_the_owner_phrase():
    assert only([tok("t", owner="bob", expires_in=-2)], expired=True, owners=["bob"]) == [
        (REVOKE, "expired on 2026-11-25, 2 days ago")
    ]


def test_unused_reasons_say_whether_the_token_was_selected():
    facts = UsageFacts(
        tokens={("root", "used"): TokenUsage(NOW - 5 * DAY, "10.0.0.1", 3)},
        oldest=NOW - 400 * DAY,
        newest=NOW,
    )
    plan = make_plan(
        [tok("used", age=900), tok("idle", age=900)],
        facts,
        Selectors(unused_for_days=90),
        Protection(),
        NOW,
    )
    reasons = {i.token.name: (i.decision, i.reason) for i in plan.items}
    idle = plan.items[1].token
    assert reasons["idle"] == (REVOKE, "unused: " + facts.unused_for(idle, 90, NOW)[1])
    assert reasons["used"][0] == KEEP
    assert reasons["used"][1].startswith("not selected as unused: ")


# -- the plan carries what the audit log records --------------------------------------


def test_a_plan_keeps_its_selectors_time_and_how_each_token_reads_in_the_evidence():
    facts = UsageFacts(
        tokens={("root", "t"): TokenUsage(NOW - 5 * DAY, "10.0.0.1", 3)},
        oldest=NOW - 400 * DAY,
        newest=NOW,
    )
    selectors = Selectors(expired=True)
    token = tok("t", expires_in=-1)
    plan = make_plan([token, tok("u")], facts, selectors, Protection(), NOW)
    assert plan.selectors is selectors
    assert plan.now == NOW
    assert plan.last_used == {
        ("root", "t"): facts.describe(token, NOW),
        ("root", "u"): "never used",
    }
    assert plan.last_used_of(token) == facts.describe(token, NOW)
    assert plan.last_used_of(tok("elsewhere")) is None


def test_a_new_plan_has_no_errors_problems_or_evidence():
    plan = Plan([], Selectors(expired=True), NOW)
    assert (plan.owner_errors, plan.problems, plan.last_used) == ({}, [], {})
    # A hand-picked plan never meets make_plan: its reports still list what was not judged.
    hand = plan_for_names([tok("t")], {("root", "t")}, Protection(), NOW)
    assert (hand.unjudged, hand.evidence_problems) == ([], [])
    plan.describe_use(None)
    assert plan.last_used == {}
    assert plan.reason_of(tok("t")) == ""


def test_by_owner_groups_the_items_themselves():
    items = [PlanItem(tok("a"), KEEP, "x"), PlanItem(tok("b", owner="bob"), KEEP, "y")]
    plan = Plan(items, Selectors(), NOW)
    assert plan.by_owner() == {"root": [items[0]], "bob": [items[1]]}


def test_plan_item_repr_shows_its_three_parts():
    assert repr(PlanItem(Token("bob", "t", 1), REVOKE, "why")) == (
        "PlanItem(Token('bob', 't'), 'revoke', 'why')"
    )


# -- plans chosen by hand -------------------------------------------------------------


def test_a_plan_by_hand_gives_its_reasons_and_records_the_names_and_owners():
    listed = [tok("a"), tok(TRUST_NAME), tok("x", owner="bob")]
    wanted = {("root", "a"), ("root", TRUST_NAME), ("bob", "gone"), ("bob", "x")}
    plan = plan_for_names(listed, wanted, Protection(), NOW)
    reasons = {(i.token.owner, i.token.name): (i.decision, i.reason) for i in plan.items}
    assert reasons == {
        ("root", "a"): (REVOKE, "chosen by hand"),
        ("root", TRUST_NAME): (PROTECTED, TRUST),
        ("bob", "gone"): (GONE, "no longer listed"),
        ("bob", "x"): (REVOKE, "chosen by hand"),
    }
    gone = [i.token for i in plan.items if i.decision == GONE][0]
    assert gone.to_dict()["create_time"] == 0
    assert plan.now == NOW
    assert plan.selectors.to_dict() == {"names": ["a", "gone", TRUST_NAME, "x"],
                                        "owners": ["bob", "root"]}


# -- descriptions -----------------------------------------------------------------------


def test_describe_names_every_part():
    assert Selectors(expired=True, older_than_days=9, names=["ci-*", "x"],
                     owners=["bob", "eve"]).describe() == (
        "expired and older_than_days=9, names ci-* x, owners bob eve"
    )
    assert Selectors(names=["x"]).describe() == "names x"
    assert Selectors(owners=["bob"]).describe() == "owners bob"
    assert Selectors().describe() == "nothing"


def test_to_dict_records_owners_and_combine_only_with_several_criteria():
    assert Selectors(owners=["bob"], expired=True).to_dict() == {
        "expired": True, "owners": ["bob"]}
    assert Selectors(expired=True, no_expiry=True).to_dict() == {
        "expired": True, "no_expiry": True, "combine": "all"}


@pytest.mark.parametrize(
    "selectors, anything",
    [
        (Selectors(), False),
        (Selectors(expired=True), True),
        (Selectors(every_token=True), True),
        (Selectors(names=["x"]), False),
        (Selectors(owners=["bob"]), False),
    ],
)
def test_only_a_criterion_selects_anything(selectors, anything):
    assert selectors.selects_anything() is anything


def test_combine_must_be_all_or_any():
    with pytest.raises(ValueError) as caught:
        Selectors(combine="sometimes")
    assert str(caught.value) == "combine must be 'all' or 'any'"


def test_narrowed_gives_a_copy_limited_to_the_owners_and_names():
    base = Selectors(expired=True)
    narrowed = base.narrowed(owners=["bob"], names=["ci-*"])
    assert (narrowed.owners, narrowed.names, narrowed.expired) == (("bob",), ("ci-*",), True)
    assert (base.owners, base.names) == ((), ())
    assert base.narrowed().to_dict() == {"expired": True}


def test_protection_remembers_whether_builtin_names_apply():
    assert Protection().builtin is True
    assert Protection(builtin=False).builtin is False


# -- the overview's states --------------------------------------------------------------


def test_an_expired_token_kept_by_policy_just_says_expired():
    item = PlanItem(tok("t", expires_in=-1), KEEP, "owner root not selected")
    assert state_of(item, Protection(), NOW) == ("expired", "expired")


def test_an_expired_token_the_policy_revokes_gives_the_policys_reason():
    item = PlanItem(tok("t", expires_in=-1), REVOKE, "expired on ...")
    assert state_of(item, Protection(), NOW) == ("expired", "expired on ...")


def test_a_token_protected_by_the_plan_keeps_the_plans_reason():
    item = PlanItem(tok("t"), PROTECTED, "protected: matches protect.names 't'")
    assert state_of(item, Protection(builtin=False), NOW) == (
        "protected", "protected: matches protect.names 't'")
    item = PlanItem(tok(TRUST_NAME), KEEP, "not selected")
    assert state_of(item, Protection(), NOW) == ("protected", TRUST)


def test_expiring_soon_is_14_days_inclusive():
    at_edge = Token("root", "t", NOW - DAY, NOW + 14 * DAY)
    beyond = Token("root", "t", NOW - DAY, NOW + 14 * DAY + 1)
    assert state_of(PlanItem(at_edge, KEEP, ""), Protection(), NOW) == (
        "expiring", "expires in 14 days")
    assert state_of(PlanItem(beyond, KEEP, ""), Protection(), NOW) == ("active", "")


# -- what changed since a person confirmed ------------------------------------------------


def test_a_confirmation_without_creation_time_and_a_token_no_longer_selected():
    kept = tok("k", expires_in=-1)
    plan = make_plan([kept, tok("n", expires_in=-1, owner="bob")], None,
                     Selectors(expired=True, owners=["bob"]), Protection(), NOW)
    changes = confirmation_changes([kept.identity(), "bob:n"], plan)
    assert changes == [
        "bob/n: the confirmation did not say which token of that name it meant "
        "(no creation time)",
        "root/k is no longer selected: owner root not selected",
    ]
    assert identity_key("bob:n:5:abc") == ("bob", "n")
    assert identity_key("bob:n") == ("bob", "n")


# -- spans under a day, incident criteria, the record of addresses ------------------------
# (added after the #12/#14/#19 merges gave policy hour-level spans and incident selectors)

HOUR = 3600


def hours_tok(name, created_ago=10 * DAY, expires_in=None):
    expires = None if expires_in is None else NOW + expires_in
    return Token("root", name, NOW - created_ago, expires, {"list-accts": True})


@pytest.mark.parametrize("ago, words", [
    (DAY, "1 day ago"),
    (DAY - 1, "23 hours ago"),
    (2 * HOUR, "2 hours ago"),
    (HOUR + HOUR // 2, "1 hour ago"),
    (HOUR, "1 hour ago"),
    (HOUR - 1, "less than an hour ago"),
    (1, "less than an hour ago"),
])
def test_an_expired_token_says_how_long_ago_in_days_hours_or_less(ago, words):
    token = hours_tok("t", expires_in=-ago)
    [(decision, reason)] = only([token], expired=True)
    assert decision == REVOKE
    assert reason.endswith(", " + words), reason


@pytest.mark.parametrize("left, words", [
    (DAY, "in 1 day"),
    (5 * HOUR, "in 5 hours"),
    (HOUR, "in 1 hour"),
    (HOUR - 1, "within the hour"),
])
def test_expiring_soon_says_how_long_is_left_in_days_hours_or_within_the_hour(left, words):
    token = hours_tok("t", expires_in=left)
    assert only([token], expiring_within_days=1) == [
        (REVOKE, "expires on %s, %s" % (day(NOW + left), words))]
    item = PlanItem(token, KEEP, "")
    assert state_of(item, Protection(), NOW) == ("expiring", "expires " + words)


def test_a_young_token_says_its_age_in_hours():
    assert only([hours_tok("t", created_ago=3 * HOUR)], older_than_days=1) == [
        (KEEP, "not older than 1 day (created 2026-11-27, 3 hours ago)")]
    assert only([hours_tok("t", created_ago=DAY + 1)], older_than_days=1) == [
        (REVOKE, "older than 1 day (created 2026-11-26, 1 day ago)")]


def test_created_after_and_before_say_which_side_of_the_instant():
    cut = NOW - 2 * DAY
    at = hours_tok("at", created_ago=2 * DAY)
    older = hours_tok("older", created_ago=2 * DAY + 60)
    assert only([at, older], created_after=cut) == [
        (REVOKE, "created 2026-11-25 12:00 UTC, at or after 2026-11-25 12:00 UTC"),
        (KEEP, "created 2026-11-25 11:59 UTC, before 2026-11-25 12:00 UTC")]
    assert only([at, older], created_before=cut) == [
        (KEEP, "created 2026-11-25 12:00 UTC, at or after 2026-11-25 12:00 UTC"),
        (REVOKE, "created 2026-11-25 11:59 UTC, before 2026-11-25 12:00 UTC")]


def test_incident_criteria_are_recorded_as_times_and_networks():
    selectors = Selectors(created_after=NOW - DAY, used_after=NOW - 7 * DAY,
                          used_from=["203.0.113.0/24", "2001:db8::/32"])
    assert selectors.to_dict() == {
        "created_after": "2026-11-26T12:00:00Z",
        "used_after": "2026-11-20T12:00:00Z",
        "used_from": ["203.0.113.0/24", "2001:db8::/32"],
        "combine": "all"}
    assert selectors.describe() == (
        "created_after=2026-11-26 12:00:00 UTC and used_after=2026-11-20 12:00:00 UTC "
        "and used_from=203.0.113.0/24,2001:db8::/32")
    assert Selectors(created_before=NOW).to_dict() == {"created_before": "2026-11-27T12:00:00Z"}
    assert Selectors().used_from is None and Selectors(used_from=[]).used_from is None


def evidence(uses, addresses, oldest=NOW - 30 * DAY):
    """UsageFacts from {(owner, name): TokenUsage} and {(owner, name): (AddressUses, dropped)}."""
    return UsageFacts(uses, oldest, NOW, 0, 1, (), addresses)


def test_without_a_log_the_incident_criteria_judge_nothing_and_say_so_once_per_plan():
    tokens = [tok("a"), tok("b", owner="bob")]
    for selectors in ({"used_after": NOW - DAY}, {"used_from": ["203.0.113.0/24"]}):
        plan = make_plan(tokens, None, Selectors(**selectors), Protection(), NOW)
        assert [(i.decision, i.reason) for i in plan.items] == [
            (KEEP, "NOT JUDGED, not selected: no usage evidence (no api_tokens_log to read)")] * 2
        assert [i.token.name for i in plan.unjudged] == ["a", "b"]
        criterion = list(selectors)[0]
        assert plan.problems == plan.evidence_problems == [
            "usage evidence missing: 2 tokens could not be judged by %s and are NOT selected "
            "on that ground (the usage log cannot tell; see each token's reason): "
            "root/a, bob/b" % criterion]


def test_the_evidence_problem_names_ten_tokens_then_counts_the_rest():
    plan = make_plan([tok("t%02d" % i) for i in range(12)], None,
                     Selectors(used_after=NOW - DAY), Protection(), NOW)
    [problem] = plan.problems
    assert problem.endswith(": " + ", ".join("root/t%02d" % i for i in range(10))
                            + " and 2 more")
    for count, tail in ((10, "root/t09"), (11, "root/t09 and 1 more")):
        plan = make_plan([tok("t%02d" % i) for i in range(count)], None,
                         Selectors(used_after=NOW - DAY), Protection(), NOW)
        assert plan.problems[0].endswith(", " + tail)
    one = make_plan([tok("t")], None, Selectors(used_after=NOW - DAY, used_from=["10.0.0.0/8"]),
                    Protection(), NOW)
    assert one.problems == [
        "usage evidence missing: 1 token could not be judged by used_after and "
        "used_from and is NOT selected on that ground (the usage log cannot tell; see each "
        "token's reason): root/t"]


def test_a_use_from_the_networks_in_the_window_is_said_once_and_recorded_per_address():
    from tokensweeper.usage import AddressUse

    token = tok("leaked", age=100)
    key = ("root", "leaked")
    facts = evidence(
        {key: TokenUsage(NOW - 2 * DAY, "203.0.113.9", 3)},
        {key: ((AddressUse("203.0.113.9", NOW - 3 * DAY, NOW - 2 * DAY, 2),
                AddressUse("", None, NOW - 5 * DAY, 1)), NOW - 4 * DAY)})
    plan = make_plan([token], facts, Selectors(used_after=NOW - 7 * DAY,
                                               used_from=["203.0.113.0/24"]), Protection(), NOW)
    [item] = plan.items
    assert item.decision == REVOKE
    assert item.reason == ("used from 203.0.113.9 (2 uses, first 2026-11-24 12:00 UTC, "
                           "last 2026-11-25 12:00 UTC)")
    assert plan.seen_from_of(token) == ([
        {"ip": "203.0.113.9", "uses": 2, "first": "2026-11-24T12:00:00Z",
         "last": "2026-11-25T12:00:00Z"},
        {"ip": None, "uses": 1, "first": None, "last": "2026-11-22T12:00:00Z"}], True)
    used_only = make_plan([token], facts, Selectors(used_after=NOW - 7 * DAY), Protection(), NOW)
    assert [(i.decision, i.reason) for i in used_only.items] == [
        (REVOKE, "used 2026-11-25 12:00 UTC from 203.0.113.9")]


def test_a_plan_without_evidence_records_no_addresses():
    token = tok("t")
    plan = make_plan([token], None, Selectors(expired=True), Protection(), NOW)
    assert plan.seen_from_of(token) == ([], False)
    quiet = make_plan([token], evidence({}, {}), Selectors(expired=True), Protection(), NOW)
    assert quiet.seen_from_of(token) == ([], False)


# -- protection rules (the #12 merge): exact shapes, who may cluster, account events --------


def test_a_built_in_rule_names_itself_in_what_reports_say():
    # BUILTIN_RULES are built when policy is imported; building one here pins the builder
    # (the settings page lists the rules by label, reports say the description).
    from tokensweeper.policy.protection import BUILTIN, _builtin, _exact

    rule = _builtin("WP-Dashboard", "reserved for the WebPros dashboard", _exact("WP-Dashboard"))
    assert (rule.label, rule.source) == ("WP-Dashboard", BUILTIN)
    assert rule.describe() == "reserved for the WebPros dashboard (built-in rule WP-Dashboard)"
    assert rule.matches(tok("WP-Dashboard", owner="bob"), None) is True
    assert rule.matches(tok("WP-Dashboard-2"), None) is False
    root_only = _exact("prospamfilter", ("root",))
    assert root_only(tok("prospamfilter"), None) is True
    assert root_only(tok("prospamfilter", owner="bob"), None) is False
    assert root_only(tok("prospamfilter2"), None) is False


def test_root_may_always_cluster_a_reseller_only_with_clustering_or_all():
    protection = Protection(reseller_acls={"bob": ["list-accts"], "amy": ["clustering"],
                                           "cy": ["all"]})
    reason = TRUST
    assert protection.reason(tok(TRUST_NAME)) == reason
    assert protection.reason(tok(TRUST_NAME, owner="amy")) == reason
    assert protection.reason(tok(TRUST_NAME, owner="cy")) == reason
    assert protection.reason(tok(TRUST_NAME, owner="bob")) is None
    assert protection.reason(tok(TRUST_NAME, owner="dan")) is None  # not a reseller


def test_a_transfer_token_stamped_a_day_from_its_creation_is_still_the_tool_s():
    created = NOW - 10 * DAY
    for stamp, protected in ((created + DAY, True), (created - DAY, True),
                             (created + DAY + 1, False)):
        token = Token("root", "transfer-%d" % stamp, created, None, {"all": True})
        assert (Protection().reason(token) is not None) is protected, stamp


def test_without_built_in_rules_a_system_shaped_name_is_not_protected():
    # The owner has connected applications, so its tokens get a closer look.
    protection = Protection(builtin=False, connected={"root": {"app-token": "Backup app"}})
    assert protection.reason(tok(TRUST_NAME)) is None
    assert protection.reason(tok("app-token")) == (
        "protected: used by connected application Backup app (/root/conn-apps.json)")


def test_on_an_account_event_a_system_looking_name_is_revoked_and_said_to_look_so():
    protection = Protection(reseller_acls={"bob": ["list-accts"], "amy": ["clustering"]},
                            unreadable={"cy": "permission denied"},
                            problems=["resellers file: fine"]).for_account_event()
    assert protection.problems == ["resellers file: fine"]
    plan = make_plan([tok(TRUST_NAME, owner="amy"), tok(TRUST_NAME, owner="bob"),
                      tok("deploy", owner="cy")], None, Selectors(every_token=True), protection,
                     NOW)
    assert [(i.decision, i.reason) for i in plan.items] == [
        (REVOKE, "every token of amy; looked like a system token (DNS cluster trust token "
                 "(built-in rule reverse_trust_<uuid>)), but a name does not shield the tokens "
                 "of the account this event is about"),
        (REVOKE, "every token of bob"),  # bob cannot cluster: not even a resemblance
        (REVOKE, "every token of cy; looked like a system token (may be used by a connected "
                 "application: permission denied), but a name does not shield the tokens of "
                 "the account this event is about")]


def test_either_criterion_selects_even_when_the_evidence_cannot_judge_the_other():
    expired, fresh = tok("expired", expires_in=-1), tok("fresh", expires_in=30)
    no_log = "NOT JUDGED, not selected: no usage evidence (no api_tokens_log to read)"
    assert only([expired, fresh], expired=True, used_after=NOW - DAY, combine="any") == [
        (REVOKE, "expired on 2026-11-26, 1 day ago"), (KEEP, no_log)]
    assert only([fresh], expired=True, older_than_days=30, combine="any") == [
        (KEEP, "expires on 2026-12-27; not older than 30 days (created 2026-11-17, 10 days ago)")]
    assert only([fresh], used_after=NOW - DAY, used_from=["10.0.0.0/8"]) == [
        (KEEP, no_log + "; no usage evidence (no api_tokens_log to read)")]


# -- notices before unattended revocations (notify.notice_days) ----------------------------


def notice_plan(tokens, usage=None):
    return make_plan(tokens, usage, Selectors(expired=True), Protection(), NOW)


def test_a_stale_token_without_notice_is_held_with_the_day_it_would_be_due():
    from tokensweeper.policy import NOTICE, hold_for_notice, notice_states

    plan = notice_plan([tok("old", expires_in=-2), tok("fine", expires_in=5)])
    states = notice_states(plan, {}, 7, NOW)
    assert list(states) == [("root", "old")]
    state = states[("root", "old")]
    assert (state.sent, state.due, state.new) == (None, NOW - NOW % DAY + 7 * DAY, True)
    assert state.is_due(NOW + 30 * DAY) is False  # never due before it was sent
    held = hold_for_notice(plan, NOW)
    assert [(i.decision, i.reason) for i in held] == [
        (NOTICE, "would send a notice now; revocation due on 2026-12-04 "
                 "(selected: expired on 2026-11-25, 2 days ago)")]
    assert plan.to_revoke() == [] and plan.counts()[NOTICE] == 1
    assert plan.reason_of(held[0].token) == held[0].reason
    assert plan.notice_of(tok("fine")) is None


def test_a_notice_for_the_same_token_is_due_on_its_day_and_not_before():
    from tokensweeper.policy import NOTICE, Notice, hold_for_notice, notice_states

    old = tok("old", expires_in=-2)
    sent, due = NOW - 7 * DAY, NOW - 12 * 3600
    for now, decision in ((due - 1, NOTICE), (due, REVOKE)):
        plan = notice_plan([old])
        notice_states(plan, {old.identity(): Notice(old.identity(), sent, due)}, 7, now)
        hold_for_notice(plan, now)
        assert [i.decision for i in plan.items] == [decision]
    assert plan.items[0].reason == ("expired on 2026-11-25, 2 days ago; notice sent on "
                                    "2026-11-20, revocation due on 2026-11-27")


def test_a_recreated_or_used_token_starts_over():
    from tokensweeper.policy import Notice, notice_states

    old = tok("old", expires_in=-2)
    again = Token("root", "old", old.create_time + 1, old.expires_at, old.acls)
    notice = {old.identity(): Notice(old.identity(), NOW - 8 * DAY, NOW - DAY)}
    assert notice_states(notice_plan([again]), notice, 7, NOW)[again.key()].new is True
    # Selected as unused: a use at or after the notice ended it (issue 25: only when use
    # takes the token out of the selection).
    used_at = {("root", "old"): TokenUsage(NOW - 8 * DAY, None, 1)}
    for when, new in ((NOW - 8 * DAY, True), (NOW - 8 * DAY - 1, False)):
        used_at[("root", "old")] = TokenUsage(when, None, 1)
        facts = UsageFacts(tokens=used_at, oldest=NOW - 400 * DAY, newest=NOW)
        plan = make_plan([old], facts, Selectors(unused_for_days=7), Protection(), NOW)
        plan.to_revoke()[0]  # selected: unused for 7 days when the use is 8 days old
        assert notice_states(plan, notice, 7, NOW)[old.key()].new is new


def test_notice_state_words_and_due_day():
    from tokensweeper.policy import NoticeState, due_day

    assert NoticeState(None, NOW + DAY).describe() == (
        "would send a notice now; revocation due on 2026-11-28")
    assert NoticeState(NOW - DAY, NOW + DAY).describe() == (
        "notice sent on 2026-11-26, revocation due on 2026-11-28")
    assert due_day(NOW, 1) == NOW - 12 * 3600 + DAY
    assert due_day(NOW - 12 * 3600, 0) == NOW - 12 * 3600


# -- cPanel accounts' tokens (issue 15) ------------------------------------------------


@pytest.mark.parametrize("name,protected", [
    ("MailNodeLinkage", True),
    ("MailNodeLinkage-%s" % iso_stamp(NOW - 10 * DAY), True),
    ("cpmove_%s_0a1b2c" % cpmove_stamp(NOW - 10 * DAY), True),
    # cPanel makes every ':' of the ISO time '_' in cpmove_ names (TemporaryToken.pm)
    ("cpmove_%s_0a1b2c" % iso_stamp(NOW - 10 * DAY), False),
    ("MailNodeLinkage-%s" % iso_stamp(NOW - 40 * DAY), False),  # stamp is not its creation
    ("cpmove_%s_0a1b2c" % cpmove_stamp(NOW - 40 * DAY), False),
    ("cpmove_%s_XYZ" % cpmove_stamp(NOW - 10 * DAY), False),  # not hex
    ("cpmove_%s" % cpmove_stamp(NOW - 10 * DAY), False),
    ("MailNodeLinkage2", False),
    ("mailnodelinkage", False),
    ("MailNodeLinkage-backup", False),
    ("transfer-%d" % (NOW - 10 * DAY), False),  # a WHM shape
    ("WP-Dashboard", False),
])
def test_cpanel_protection_is_exact_shapes_only(name, protected):
    assert (Protection().reason(cp(name)) is not None) is protected


def test_a_limited_mail_node_lookalike_is_the_accounts_own():
    # cPanel makes MailNodeLinkage[-<time>] with Tokens::create_full_access and no expiry
    # (LinkedNode/Worker/WHM/Accounts.pm, Convert/Common/Mail/ToRemote.pm). An account
    # naming a limited token so keeps nothing out of sweeps.
    for name in ("MailNodeLinkage", "MailNodeLinkage-%s" % iso_stamp(NOW - 10 * DAY)):
        assert Protection().reason(cp(name)) is not None
        real = cp(name)
        limited = Token("shop1", name, real.create_time, None, kind=CPANEL, full_access=False,
                        features=["email"])
        assert Protection().reason(limited) is None, name


def test_cpanel_shapes_do_not_protect_whm_tokens():
    assert Protection().reason(Token("bob", "MailNodeLinkage", NOW)) is None
    assert Protection().reason(Token("bob", "WP-Dashboard", NOW)) is not None


def test_a_resellers_connected_apps_do_not_shield_its_cpanel_accounts_token():
    protection = Protection(connected={"bob": {"foo": "monitor"}})
    assert protection.reason(Token("bob", "foo", NOW)) is not None
    assert protection.reason(cp("foo", owner="bob")) is None


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


def test_the_cap_counts_a_resellers_two_kinds_as_two_holders():
    tokens = [Token("bob", "a", NOW - 9 * DAY), Token("bob", "b", NOW - 8 * DAY),
              cp("a", NOW - 7 * DAY, owner="bob"), cp("c", NOW - 6 * DAY, owner="bob")]
    share = share_cap(tokens, 2)
    assert share.refused == {} and share.deferred == {"bob@cpanel": 2}
    assert [t.key() for t in share.admitted] == [("bob", "a"), ("bob", "b")]


def test_a_hand_picked_cpanel_token_no_longer_listed_is_gone_with_its_kind():
    plan = plan_for_names([], {("shop@cpanel", "x")}, Protection(), NOW)
    (item,) = plan.items
    assert (item.decision, item.token.kind, item.token.owner) == (GONE, CPANEL, "shop")
    assert plan.selectors.owners == ("shop",)


def test_resellers_narrow_to_their_accounts_tokens_and_are_recorded():
    mine = Token("shop", "x", NOW - 400 * DAY, kind=CPANEL, account_owner="bob",
                 full_access=True)
    other = Token("blog", "x", NOW - 400 * DAY, kind=CPANEL, account_owner="root",
                  full_access=True)
    whm = Token("bob", "x", NOW - 400 * DAY)
    selectors = Selectors(older_than_days=30, resellers=["bob"])
    plan = make_plan([mine, other, whm], None, selectors, Protection(), NOW)
    assert [i.decision for i in plan.items] == [REVOKE, KEEP, KEEP]
    assert plan.reason_of(other) == "not a token of an account of bob"
    assert selectors.to_dict() == {"older_than_days": 30, "resellers": ["bob"]}
    assert selectors.describe() == "older_than_days=30, accounts of bob"
    alone = make_plan([mine], None, Selectors(resellers=["bob"]), Protection(), NOW)
    assert alone.reason_of(mine) == ("no criterion given (owners and names only narrow a "
                                     "selection)")


def test_a_plan_groups_by_holder():
    plan = make_plan([Token("bob", "a", NOW), cp("a", NOW, owner="bob")], None,
                     Selectors(expired=True), Protection(), NOW)
    assert sorted(plan.by_owner()) == ["bob", "bob@cpanel"]


def test_a_notice_is_never_due_sooner_than_notice_days_after_it_was_sent():
    from tokensweeper.policy import Notice, notice_states

    old = tok("old", expires_in=-2)
    sent = NOW - 3 * DAY  # 2026-11-24 12:00: due 2026-12-01 00:00 with 7 days
    period_end = NOW - NOW % DAY + 4 * DAY
    for recorded, due in ((0, period_end), (period_end - 1, period_end),
                          (period_end, period_end), (period_end + 1, period_end + 1)):
        notices = {old.identity(): Notice(old.identity(), sent, recorded)}
        state = notice_states(notice_plan([old]), notices, 7, NOW)[old.key()]
        assert (state.sent, state.due) == (sent, due)
    notices = {old.identity(): Notice(old.identity(), sent, 0)}
    assert notice_states(notice_plan([old]), notices, 2, NOW)[old.key()].due == (
        NOW - NOW % DAY - DAY)


# -- issue 25: cPanel's own shapes, exactly ----------------------------------------------

LINKED = "PARENT-DO_NOT_DELETE-node_2-k3j9x2m1qz"
FULL = {"all": True}


@pytest.mark.parametrize("owner,name,expires,acls,resellers,expected", [
    ("root", LINKED, None, FULL, {}, True),
    ("root", "PARENT-DO_NOT_DELETE--a", None, FULL, {}, True),  # cut hostname, 1 digit
    ("root", "PARENT-DO_NOT_DELETE-h-" + "a" * 20, None, FULL, {}, True),
    ("root", "PARENT-DO_NOT_DELETE-h-" + "a" * 21, None, FULL, {}, False),
    ("root", "PARENT-DO_NOT_DELETE-h-", None, FULL, {}, False),
    ("root", "PARENT-DO_NOT_DELETE-h.x-abc", None, FULL, {}, False),
    ("root", "xPARENT-DO_NOT_DELETE-h-abc", None, FULL, {}, False),
    ("root", LINKED, NOW + DAY, FULL, {}, False),
    ("root", LINKED, None, {"all": False, "x": True}, {}, False),
    ("boss", LINKED, None, FULL, {"boss": ["all"]}, True),
    ("boss", LINKED, None, FULL, {"boss": ["list-accts"]}, False),
    ("boss", LINKED, None, FULL, {}, False),  # not in the resellers file
    ("boss", LINKED, None, FULL, None, True),  # the file cannot be read
])
def test_the_linked_node_rule(owner, name, expires, acls, resellers, expected):
    token = Token(owner, name, NOW - 10 * DAY, expires, acls)
    assert (Protection(reseller_acls=resellers).reason(token) is not None) is expected


@pytest.mark.parametrize("name,created,expires,acls,expected", [
    ("accesshash-%d" % (NOW - 10 * DAY), NOW - 10 * DAY, None, FULL, True),
    ("accesshash-%d" % (NOW - 10 * DAY + DAY), NOW - 10 * DAY, None, FULL, True),  # a day
    ("accesshash-%d" % (NOW - 10 * DAY - DAY), NOW - 10 * DAY, None, FULL, True),
    ("accesshash-%d" % (NOW - 10 * DAY + DAY + 1), NOW - 10 * DAY, None, FULL, False),
    ("accesshash-%d" % (NOW - 10 * DAY - DAY - 1), NOW - 10 * DAY, None, FULL, False),
    ("accesshash-%d-ABCDEFGH" % (NOW - 10 * DAY), NOW - 10 * DAY, None, FULL, True),
    ("accesshash-%d-ABCDEFG" % (NOW - 10 * DAY), NOW - 10 * DAY, None, FULL, False),
    ("accesshash-%d-abcdefgh" % (NOW - 10 * DAY), NOW - 10 * DAY, None, FULL, False),
    ("accesshash-%d" % (NOW - 10 * DAY), NOW - 10 * DAY, NOW + DAY, FULL, False),
    ("accesshash-%d" % (NOW - 10 * DAY), NOW - 10 * DAY, None, {"all": False}, False),
    ("accesshash-", NOW - 10 * DAY, None, FULL, False),
])
def test_the_converted_access_hash_rule(name, created, expires, acls, expected):
    assert (Protection().reason(Token("root", name, created, expires, acls)) is not None) \
        is expected


@pytest.mark.parametrize("name,acls,expected", [
    (TRUST_NAME, CLUSTERING, True),
    (TRUST_NAME, {"clustering": True}, True),
    (TRUST_NAME, {"clustering": True, "all": True}, False),
    (TRUST_NAME, {"clustering": False}, False),
    (TRUST_NAME + "0", CLUSTERING, False),
    ("x" + TRUST_NAME, CLUSTERING, False),
    ("reverse_trust_0c8e4f2a-1b3d-4e5f-c6b7-c8d9e0f1a2b3", CLUSTERING, False),
    ("reverse_trust_0c8e4f2a-1b3d-4e5f-b6b7-c8d9e0f1a2b3", CLUSTERING, True),
    ("reverse_trust_0c8e4f2a-1b3d-5e5f-a6b7-c8d9e0f1a2b3", CLUSTERING, False),
    ("reverse_trust_0c8e4f2a1b3d-4e5f-a6b7-c8d9e0f1a2b3", CLUSTERING, False),
])
def test_the_trust_rule_is_the_uuid_and_the_clustering_acl_alone(name, acls, expected):
    assert (Protection().reason(tok(name, acls=acls)) is not None) is expected


@pytest.mark.parametrize("validity,full,expected", [
    (DAY, True, True), (2 * DAY, True, True), (2 * DAY + 1, True, False), (1, True, True),
    (0, True, False), (-DAY, True, False), (None, True, False), (DAY, False, False),
])
def test_the_cpmove_rule_needs_full_access_and_a_days_validity(validity, full, expected):
    created = NOW - 10 * DAY
    name = "cpmove_%s_0a1b2c" % cpmove_stamp(created)
    token = Token("shop1", name, created, None if validity is None else created + validity,
                  kind=CPANEL, full_access=full)
    assert (Protection().reason(token) is not None) is expected


# -- issue 25: a notice stands while the token stays selected ---------------------------


def _noticed(selectors, use_at, token=None, sent=NOW - 10 * DAY):
    from tokensweeper.policy import notice_ended_by_use

    token = token or Token("root", "ci", NOW - 400 * DAY, None, {"all": True})
    uses = {} if use_at is None else {(token.owner, token.name): TokenUsage(use_at, None, 1)}
    usage = UsageFacts(tokens=uses, oldest=NOW - 500 * DAY, newest=NOW)
    return notice_ended_by_use(selectors, usage, token, sent)


def test_only_a_use_that_ends_the_selection_ends_a_notice():
    sent = NOW - 10 * DAY
    unused = Selectors(unused_for_days=30)
    assert _noticed(unused, sent) is True  # at the very second counts
    assert _noticed(unused, sent - 1) is False  # before the notice
    assert _noticed(unused, None) is False
    assert _noticed(Selectors(older_than_days=30), sent + DAY) is False
    assert _noticed(Selectors(unused_for_days=30, older_than_days=30), sent + DAY) is True
    both = Selectors(unused_for_days=30, older_than_days=30, combine="any")
    assert _noticed(both, sent + DAY) is False
    # Selected by age only since after the notice: the use at the notice's time ended it.
    young = Token("root", "ci", NOW - 35 * DAY, None, {"all": True})
    assert _noticed(both, sent + DAY, token=young) is True
    # Expiring soon when noticed, but not any more at the use (already expired): ended.
    soon = Token("root", "ci", NOW - 400 * DAY, NOW - 5 * DAY, {"all": True})
    expiring = Selectors(unused_for_days=30, expiring_within_days=30, combine="any")
    assert _noticed(expiring, NOW - 2 * DAY, token=soon) is True
    assert _noticed(expiring, NOW - 6 * DAY, token=soon) is False
    cp_token = Token("root", "ci", NOW - 400 * DAY, kind=CPANEL, full_access=True)
    assert _noticed(unused, sent + DAY, token=cp_token) is False
    from tokensweeper.policy import notice_ended_by_use

    assert notice_ended_by_use(unused, None, young, sent) is False


def test_a_withheld_notice_says_why():
    from tokensweeper.policy import NoticeState

    assert NoticeState(None, NOW, withheld="the cap refuses them").describe() == (
        "no notice yet: the cap refuses them")
    assert NoticeState(None, NOW).withheld is None


def test_confirmation_changes_name_the_holder_of_a_newly_selected_token():
    cp_token = Token("bob", "foo", NOW - 10 * DAY, NOW - DAY, kind=CPANEL, full_access=True)
    plan = make_plan([cp_token], None, Selectors(expired=True), Protection(), NOW)
    assert confirmation_changes([], plan) == [
        "bob@cpanel/foo is newly selected: expired on 2026-11-26, 1 day ago"]


# -- an expiry that is no time (tokens.expiry_damaged) ---------------------------------


def test_a_damaged_expiry_shields_from_every_policy_but_not_its_accounts_event():
    odd = Token("bob", "odd", NOW - 400 * DAY, None, {"all": True}, expiry_damaged='"soon"')
    plain = Token("bob", "plain", NOW - 400 * DAY, None, {"all": True})
    why = ("protected: cPanel lists its expiry as \"soon\", which is no time: no policy "
           "judges it (check it in WHM's Manage API Tokens)")
    for protection in (Protection(), Protection(builtin=False)):
        plan = make_plan([odd, plain], None, Selectors(no_expiry=True), protection, NOW)
        assert [i.decision for i in plan.items] == [PROTECTED, REVOKE]
        assert plan.items[0].reason.startswith(why)
        assert protection.rule_for(odd).label == "damaged expiry"
    event = Protection().for_account_event()
    plan = make_plan([odd], None, Selectors(every_token=True, owners=("bob",)), event, NOW)
    assert [i.decision for i in plan.items] == [REVOKE]
    assert "looked like" not in plan.items[0].reason


# -- MailNodeLinkage: only a linked node's child account's (cpusers.child_workloads) ------


def test_a_mail_node_token_is_protected_unless_the_account_is_known_to_be_no_child():
    made = NOW - 300 * DAY
    tokens = [Token("shop", "MailNodeLinkage", made, kind=CPANEL, full_access=True),
              Token("shop", "MailNodeLinkage-" + iso_stamp(made), made, kind=CPANEL,
                    full_access=True)]
    asked = []

    def lookup(answer):
        def child_workloads(account):
            asked.append(account)
            return answer
        return child_workloads

    for answer, protected in ((True, True), (None, True), (False, False)):
        del asked[:]
        protection = Protection(child_workloads=lookup(answer))
        assert [protection.reason(t) is not None for t in tokens] == [protected] * 2
        assert [protection.reason(t) is not None for t in tokens] == [protected] * 2
        assert asked == ["shop"]  # once per account, and only for such a name
    assert all(Protection().reason(t) for t in tokens)  # not given: as unreadable
    plain = Token("shop", "deploy", made, kind=CPANEL, full_access=True)
    del asked[:]
    assert Protection(child_workloads=lookup(False)).reason(plain) is None and asked == []
    # The lookup goes with the rules to an account's own event.
    event = Protection(child_workloads=lookup(False)).for_account_event()
    assert event.resemblance(tokens[0]) is None
    assert Protection(child_workloads=lookup(True)).for_account_event().resemblance(
        tokens[0]).label == "MailNodeLinkage"
