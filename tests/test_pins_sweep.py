"""Pins on sweep.py found by mutation testing (`make mutate`): what the audit
log says about each run (the selectors that narrowed it, every token's reason),
a refusal that cannot be recorded, and results a front end reports."""

import os

import pytest

from tests.helpers import DAY, NOW, add, new_server
from tests.kinds_support import BOTH, build_server, cpmove_stamp, expired_plan, fates
from tokensweeper import audit
from tokensweeper.lock import SweepLock
from tokensweeper.policy import PROTECTED, REVOKE, Protection, Selectors, plan_for_names
from tokensweeper.sweep import (
    ALREADY_GONE,
    DEFERRED,
    ENFORCE,
    FAILED,
    KEPT_PROTECTED,
    PREVIEW,
    REFUSED,
    REVOKED,
    UNVERIFIED,
    WOULD_REVOKE,
    Outcome,
    Result,
    build_plan,
    execute,
    record_snapshot,
)
from tokensweeper.tokens import WHM, Token
from tokensweeper.usage import TokenUsage, UsageFacts
from tokensweeper.whmapi import Client, WhmapiFailed

# cPanel's DNS cluster trust token: reverse_trust_ + a lowercase v4 UUID, ACL clustering.
TRUST_NAME = "reverse_trust_5e0c2a9b-7d41-4f3e-9a2c-6b8d1e4f0a37"


@pytest.fixture
def server(tmp_path, monkeypatch):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    fake.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "cpanel"))
    add(fake, "root", "root-expired", age_days=400, expires_in_days=-10)
    add(fake, "root", TRUST_NAME, age_days=900, expires_in_days=-1,
        acls={"clustering": 1, "all": 0})
    add(fake, "bob", "ci-old", age_days=50, expires_in_days=-2)
    add(fake, "bob", "ci-new", age_days=5)
    return fake


@pytest.fixture
def lock(tmp_path):
    with SweepLock(str(tmp_path / "state" / "sweep.lock")) as held:
        yield held


def run(lock, selectors, mode=ENFORCE, clock=lambda: NOW + 7, **kwargs):
    client = Client()
    plan = build_plan(client, selectors, Protection(), None, NOW)
    return execute(plan, client, lock, "cli:root", mode, NOW, clock=clock, **kwargs)


def records():
    return audit.read()[0]


def by_name(record):
    return {t["name"]: t for t in record["tokens"]}


def test_the_records_say_which_owners_and_names_narrowed_the_run(server, lock):
    run(lock, Selectors(expired=True, owners=["bob"], names=["ci-*"]))
    intent, outcome = records()
    for record in (intent, outcome):
        assert record["selectors"] == {"expired": True, "owners": ["bob"], "names": ["ci-*"]}
        assert record["actor"] == "cli:root" and record["mode"] == "enforce"
        assert record["owner_errors"] == {} and record["refused"] is None
    assert by_name(intent)["ci-old"]["reason"] == (
        "expired on 2026-11-25, 2 days ago; name matches 'ci-*'"
    )
    assert by_name(outcome)["ci-old"]["action"] == REVOKED
    assert by_name(outcome)["ci-old"]["reason"] == by_name(intent)["ci-old"]["reason"]


def test_a_preview_records_the_reason_of_every_would_revoke_and_kept_token(server, lock):
    result = run(lock, Selectors(expired=True), mode=PREVIEW)
    (record,) = records()
    assert record["event"] == "preview" and record["mode"] == "preview"
    assert record["run_id"] == result.run_id is not None
    tokens = by_name(record)
    assert tokens["ci-old"]["action"] == WOULD_REVOKE
    assert tokens["ci-old"]["reason"] == "expired on 2026-11-25, 2 days ago"
    assert tokens[TRUST_NAME]["action"] == KEPT_PROTECTED
    assert tokens[TRUST_NAME]["reason"] == (
        "protected: DNS cluster trust token (built-in rule reverse_trust_<uuid>) "
        "(selected: expired on 2026-11-26, 1 day ago)"
    )
    assert "ci-new" not in tokens
    assert server.calls("api_token_revoke") == []


def test_records_carry_the_finish_time_from_the_clock(server, lock):
    result = run(lock, Selectors(expired=True), clock=lambda: NOW + 7.9)
    intent, outcome = records()
    assert result.started == NOW and result.finished == NOW + 7
    assert outcome["epoch"] == NOW + 7 and outcome["time"] == audit.iso(NOW + 7)
    assert intent["run_id"] == outcome["run_id"] == result.run_id
    assert result.run_id.startswith("20261127T120000Z-")


def test_a_refusal_that_cannot_be_recorded_is_an_error_not_a_silent_refusal(server, lock):
    os.makedirs(os.path.join(os.environ["TOKENSWEEPER_STATE_DIR"], "audit.log"))
    with pytest.raises(audit.AuditError):
        run(lock, Selectors(expired=True), cap=0)
    assert server.calls("api_token_revoke") == []


def test_nothing_to_revoke_still_records_an_outcome(server, lock):
    result = run(lock, Selectors(names=["no-such-*"]))
    (record,) = records()
    assert record["event"] == "outcome" and record["tokens"] == []
    assert result.exit_code() == 0 and result.ok


def test_a_snapshot_record_keeps_the_note_as_every_tokens_reason(server, lock):
    tokens = Client().list_tokens("bob")
    run_id = record_snapshot(tokens, "hook:Accounts::Remove", NOW, "account removed")
    (record,) = records()
    assert run_id is not None and record["run_id"] == run_id
    assert record["note"] == "account removed"
    assert (record["actor"], record["mode"], record["epoch"]) == (
        "hook:Accounts::Remove", "snapshot", NOW)
    assert record["time"] == "2026-11-27T12:00:00Z"
    assert record["selectors"] == {} and record["owner_errors"] == {}
    assert record["refused"] is None
    assert {t["name"]: (t["action"], t["reason"]) for t in record["tokens"]} == {
        "ci-new": ("snapshot", "account removed"),
        "ci-old": ("snapshot", "account removed"),
    }


# -- Result, as the front ends read it -------------------------------------------------


def result_with(*actions, **attrs):
    result = Result("r", "cli:root", ENFORCE, NOW, {})
    for i, action in enumerate(actions):
        result.outcomes.append(Outcome(Token("bob", "t%d" % i, 1), action, "why"))
    for key, value in attrs.items():
        setattr(result, key, value)
    return result


def test_exit_codes():
    assert result_with(REVOKED).exit_code() == 0
    assert result_with(REVOKED, FAILED).exit_code() == 3
    assert result_with(owner_errors={"bob": "down"}).exit_code() == 3
    assert result_with(FAILED, refused="cap").exit_code() == 1
    assert result_with(FAILED, audit_error="disk").exit_code() == 1


@pytest.mark.parametrize(
    "result, ok",
    [
        (result_with(REVOKED, KEPT_PROTECTED), True),
        (result_with(FAILED), False),
        (result_with(owner_errors={"bob": "down"}), False),
        (result_with(refused="cap"), False),
        (result_with(audit_error="disk"), False),
    ],
)
def test_ok_only_without_failures_errors_refusal_or_audit_error(result, ok):
    assert result.ok is ok


def test_counts_cover_every_action():
    result = result_with(REVOKED, REVOKED, FAILED)
    counts = result.counts()
    assert (counts["revoked"], counts["failed"], counts["already-gone"]) == (2, 1, 0)
    assert set(counts) >= {"revoked", "already-gone", "failed", "unverified", "kept-protected",
                           "would-revoke"}
    assert result.failed_count == 1


def test_to_dict_reports_last_use_and_every_field():
    result = result_with(REVOKED)
    result.last_used = {("bob", "t0"): "never used"}
    document = result.to_dict()
    assert document["tokens"][0]["last_used"] == "never used"
    assert document["tokens"][0]["reason"] == "why"
    assert (document["run_id"], document["owner_errors"], document["refused"],
            document["audit_error"], document["selectors"]) == ("r", {}, None, None, {})
    assert document["finished"] == document["started"] == "2026-11-27T12:00:00Z"


def test_a_fresh_result_reports_without_any_last_use_recorded():
    document = result_with(REVOKED).to_dict()
    assert "last_used" not in document["tokens"][0]
    assert set(document) >= {
        "actor", "audit_error", "counts", "finished", "mode", "owner_errors", "refused",
        "run_id", "selectors", "started", "tokens"}


# -- verification, against a client that answers from memory (fast, exact) -------------


class MemoryClient(object):
    """Answers each api_token_list with the next of `listings` (the last one repeats),
    or raises `list_error`; a revoke does nothing but may raise `revoke_error`."""

    def __init__(self, *listings, revoke_error=None):
        self.listings = list(listings) or [{"tokens": {}}]
        self.revoke_error = revoke_error

    def revoke_tokens(self, owner, names):
        if self.revoke_error:
            raise self.revoke_error
        return 1

    def call(self, function, params=None, owner="root"):
        assert function == "api_token_list"
        answer = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def enforce_by_hand(lock, client, tokens, wanted, parallel=4):
    plan = plan_for_names(tokens, wanted, Protection(), NOW)
    return execute(plan, client, lock, "web:root", ENFORCE, NOW, parallel=parallel,
                   clock=lambda: NOW)


BOB_T = Token("bob", "t", NOW - 10)
LISTED = {"tokens": {"t": {"name": "t", "create_time": NOW - 10}}}
GONE_NOW = {"tokens": {}}
LOCKED = WhmapiFailed("api_token_revoke", "bob", "locked")


def reasons(result):
    return {o.token.name: (o.action, o.reason) for o in result.outcomes}


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))


def test_a_token_gone_before_the_run_is_recorded_as_already_gone(state_dir, lock):
    client = MemoryClient(LISTED, GONE_NOW)
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t"), ("bob", "gone")})
    assert reasons(result) == {
        "t": (REVOKED, "chosen by hand"),
        "gone": (ALREADY_GONE, "no longer listed"),
    }
    (intent, outcome) = records()
    assert by_name(outcome)["gone"]["action"] == ALREADY_GONE
    assert by_name(outcome)["gone"]["reason"] == "no longer listed"


def test_a_listing_without_tokens_after_a_failed_revoke_says_both(state_dir, lock):
    client = MemoryClient(LISTED, {}, revoke_error=LOCKED)
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")})
    assert reasons(result) == {
        "t": (UNVERIFIED, "could not verify (whmapi1 api_token_list as bob: the answer has no "
                          "token list); check with `tokensweeper list --owner bob`; the revoke "
                          "call failed: whmapi1 api_token_revoke as bob: locked")
    }


def test_a_verifying_listing_that_cannot_be_parsed_names_the_owner(state_dir, lock):
    client = MemoryClient(LISTED, {"tokens": {"t": {"name": "t"}}})
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")})
    assert reasons(result) == {
        "t": (UNVERIFIED, "could not verify (token 't' of bob: create_time is missing); "
                          "check with `tokensweeper list --owner bob`")}


def test_a_revoke_error_with_the_token_still_listed_gives_the_error(state_dir, lock):
    client = MemoryClient(LISTED, revoke_error=LOCKED)
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")}, parallel=1)
    assert reasons(result) == {"t": (FAILED, "whmapi1 api_token_revoke as bob: locked")}


def test_execute_without_the_lock_says_why(tmp_path):
    plan = plan_for_names([BOB_T], {("bob", "t")}, Protection(), NOW)
    with pytest.raises(RuntimeError) as caught:
        execute(plan, MemoryClient(), SweepLock(str(tmp_path / "l")), "cli:root", ENFORCE, NOW)
    assert str(caught.value) == "execute() needs the sweep lock held"


def test_a_refusal_says_how_many_and_what_to_do(server, lock):
    result = run(lock, Selectors(expired=True), cap=1)
    assert result.refused == (
        "over the cap: max_revoke_per_run is 1; deferred bob (1 tokens); their tokens were not "
        "revoked"
    )


def test_the_plan_and_records_carry_last_use_and_problems(server, lock):
    facts = UsageFacts(tokens={("bob", "ci-old"): TokenUsage(NOW - 40 * DAY, "10.0.0.9", 2)},
                       oldest=NOW - 400 * DAY, newest=NOW)
    client = Client()
    plan = build_plan(client, Selectors(expired=True, owners=["bob"]), Protection(), facts, NOW)
    assert plan.problems == [] and plan.owner_errors == {}
    assert plan.last_used[("bob", "ci-old")] == "2026-10-18 12:00 UTC from 10.0.0.9"
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    intent, outcome = records()
    for record in (intent, outcome):
        assert by_name(record)["ci-old"]["last_used"] == "2026-10-18 12:00 UTC from 10.0.0.9"
    assert result.to_dict()["tokens"][0]["last_used"] == "2026-10-18 12:00 UTC from 10.0.0.9"


def test_a_snapshot_run_id_carries_its_time(server, lock):
    run_id = record_snapshot([], "hook:Accounts::Remove", NOW, "account removed")
    assert run_id.startswith("20261127T120000Z-")


def listed_as(**fields):
    entry = {"name": "t", "create_time": NOW - 10}
    entry.update(fields)
    return {"tokens": {"t": entry}}


def test_a_token_re_created_before_the_revoke_is_left_alone_and_says_when(state_dir, lock):
    client = MemoryClient(listed_as(create_time=NOW - 5))
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")})
    assert reasons(result) == {"t": (
        ALREADY_GONE, "re-created under the same name since it was planned (the token listed "
                      "now was created 2026-11-27T11:59:55Z); the new token was not revoked")}


def test_a_token_changed_before_the_revoke_is_not_revoked(state_dir, lock):
    client = MemoryClient(listed_as(whitelist_ips=["192.0.2.1"]))
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")})
    assert reasons(result) == {"t": (
        FAILED, "changed since it was planned (expiry, ACLs or IP limit): not revoked; "
                "plan again")}


def test_a_listing_that_fails_before_the_revoke_revokes_nothing(state_dir, lock):
    client = MemoryClient(WhmapiFailed("api_token_list", "bob", "locked"))
    client.revoke_tokens = None  # any revoke call would fail the test
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")})
    assert reasons(result) == {"t": (
        FAILED, "not revoked: the tokens of bob could not be listed right before revoking "
                "(whmapi1 api_token_list as bob: locked)")}


def test_a_token_of_the_same_name_re_created_after_the_revoke_means_ours_went(state_dir, lock):
    client = MemoryClient(LISTED, listed_as(create_time=NOW - 1))
    result = enforce_by_hand(lock, client, [BOB_T], {("bob", "t")})
    assert reasons(result) == {"t": (REVOKED, "chosen by hand")}


def test_outcomes_keep_the_plans_order_within_an_owner(state_dir, lock):
    tokens = [Token("bob", name, NOW - 10) for name in ("c", "a", "b")]
    listing = {"tokens": {t.name: {"name": t.name, "create_time": NOW - 10} for t in tokens}}
    client = MemoryClient(listing, {"tokens": {"a": listing["tokens"]["a"]}})
    result = enforce_by_hand(lock, client, tokens, {("bob", "a"), ("bob", "b"), ("bob", "c")})
    assert [(o.token.name, o.action) for o in result.outcomes] == [
        ("a", FAILED), ("b", REVOKED), ("c", REVOKED)]


# -- the per-owner cap, the page's confirmation id, problems and addresses in the records ----
# (added after the #12/#14/#19 merges gave sweep.py these)


def test_an_owner_over_the_cap_is_refused_with_its_command_and_the_run_says_whom(server, lock):
    result = run(lock, Selectors(expired=True), cap=0)
    bob_why = ("over the cap: bob has 1 tokens to revoke, more than max_revoke_per_run (0); "
               "none of them were revoked: a person must revoke them "
               "(tokensweeper sweep --owner bob)")
    assert result.held_back["bob"] == bob_why
    assert result.refused == ("over the cap: max_revoke_per_run is 0; refused bob (1 tokens); "
                              "refused root (1 tokens); their tokens were not revoked")
    assert [(o.token.name, o.action, o.reason) for o in result.outcomes
            if o.token.owner == "bob"] == [("ci-old", REFUSED, bob_why)]
    (record,) = records()
    assert record["event"] == "refused" and record["refused"] == result.refused
    assert result.to_dict()["held_back"] == result.held_back
    assert result.exit_code() == 1


def test_a_preview_over_the_cap_says_what_would_be_held_back(server, lock):
    result = run(lock, Selectors(expired=True), mode=PREVIEW, cap=1)
    assert result.held_back == {"bob": (
        "over the run's cap: bob's 1 tokens do not fit into what is left of "
        "max_revoke_per_run (1) after the owners before it; they would be left for the next "
        "run")}
    assert result.refused == ("over the cap: max_revoke_per_run is 1; deferred bob (1 tokens); "
                              "their tokens would not be revoked")
    assert {o.token.name: o.action for o in result.outcomes} == {
        "root-expired": WOULD_REVOKE, "ci-old": DEFERRED, TRUST_NAME: KEPT_PROTECTED}
    assert [o.reason for o in result.outcomes if o.action == DEFERRED] == [
        result.held_back["bob"]]
    refused = run(lock, Selectors(expired=True), mode=PREVIEW, cap=0)
    assert refused.held_back["bob"].endswith(
        "none of them would be revoked: a person must revoke them "
        "(tokensweeper sweep --owner bob)")
    assert refused.refused.endswith("; their tokens would not be revoked")


def test_refused_and_deferred_owners_are_both_named_refused_first(server, lock):
    with server.batch():
        add(server, "bob", "ci-old-2", age_days=50, expires_in_days=-2)
    result = run(lock, Selectors(expired=True), cap=1)
    # root (1) fits; bob (2) alone exceeds the cap.
    assert result.refused == ("over the cap: max_revoke_per_run is 1; refused bob (2 tokens); "
                              "their tokens were not revoked")
    server.add_reseller("amy")
    with server.batch():
        add(server, "amy", "old", age_days=50, expires_in_days=-2)
    result = run(lock, Selectors(expired=True), cap=1)  # root went; amy (1) fits
    assert [o.action for o in result.outcomes if o.token.owner == "amy"] == [REVOKED]
    with server.batch():
        add(server, "root", "again", age_days=50, expires_in_days=-2)
        add(server, "amy", "old-2", age_days=50, expires_in_days=-2)
    result = run(lock, Selectors(expired=True), cap=1)
    assert result.refused == ("over the cap: max_revoke_per_run is 1; refused bob (2 tokens); "
                              "deferred amy (1 tokens); their tokens were not revoked")


def test_the_confirmation_id_and_the_evidence_problems_are_in_every_record(server, lock):
    client = Client()
    selectors = Selectors(expired=True, owners=["bob"])
    plan = build_plan(client, selectors, Protection(), None, NOW)
    plan.evidence_problems = ["usage evidence missing: 1 token ..."]
    result = execute(plan, client, lock, "web:root", ENFORCE, NOW, confirmation="c0ffee")
    assert result.problems == ["usage evidence missing: 1 token ..."]
    assert result.to_dict()["problems"] == result.problems
    for record in records():
        assert record["confirmation"] == "c0ffee"
        assert record["problems"] == ["usage evidence missing: 1 token ..."]
    assert [r["event"] for r in records()] == ["intent", "outcome"]


def test_records_without_a_confirmation_or_problems_do_not_carry_the_keys(server, lock):
    run(lock, Selectors(expired=True, owners=["bob"]))
    for record in records():
        assert "confirmation" not in record and "problems" not in record


def test_the_addresses_a_revoked_token_was_used_from_are_in_its_records(server, lock):
    from tokensweeper.usage import AddressUse

    key = ("bob", "ci-old")
    facts = UsageFacts(
        tokens={key: TokenUsage(NOW - 3 * DAY, "203.0.113.9", 4)},
        oldest=NOW - 400 * DAY, newest=NOW,
        addresses={key: ((AddressUse("203.0.113.9", NOW - 9 * DAY, NOW - 3 * DAY, 4),),
                         NOW - 20 * DAY)})
    client = Client()
    plan = build_plan(client, Selectors(expired=True), Protection(), facts, NOW)
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    seen = [{"ip": "203.0.113.9", "uses": 4, "first": "2026-11-18T12:00:00Z",
             "last": "2026-11-24T12:00:00Z"}]
    intent, outcome = records()
    for record in (intent, outcome):
        assert by_name(record)["ci-old"]["seen_from"] == seen
        assert by_name(record)["ci-old"]["seen_from_truncated"] is True
        assert "seen_from" not in by_name(record)["root-expired"]
    assert "seen_from" not in by_name(outcome)[TRUST_NAME]
    assert [t["seen_from"] for t in result.to_dict()["tokens"] if t["name"] == "ci-old"] == [seen]


def test_an_address_list_that_is_complete_is_not_marked_truncated():
    token = Token("bob", "t", NOW - 10)
    seen = [{"ip": "10.0.0.1", "uses": 1, "first": None, "last": "2026-11-27T11:00:00Z"}]
    record = Outcome(token, REVOKED, "r").to_dict(None, (seen, False))
    assert record["seen_from"] == seen and "seen_from_truncated" not in record
    assert "seen_from" not in Outcome(token, REVOKED, "r").to_dict(None, ([], True))


def test_a_token_held_for_its_notice_is_recorded_and_never_sent(server, lock):
    from tokensweeper.policy import hold_for_notice, notice_states

    client = Client()
    plan = build_plan(client, Selectors(expired=True, owners=["bob"]), Protection(), None, NOW)
    notice_states(plan, {}, 7, NOW)
    hold_for_notice(plan, NOW)
    result = execute(plan, client, lock, "cron", ENFORCE, NOW, clock=lambda: NOW + 7, cap=5)
    assert [(o.token.name, o.action) for o in result.outcomes] == [("ci-old", "notice-period")]
    assert result.outcomes[0].reason.startswith(
        "would send a notice now; revocation due on 2026-12-04 (selected: expired on ")
    assert result.counts()["notice-period"] == 1 and result.exit_code() == 0
    assert server.calls("api_token_revoke") == []
    (outcome,) = records()
    assert outcome["event"] == "outcome"
    assert by_name(outcome)["ci-old"]["action"] == "notice-period"


# -- cPanel accounts' tokens (issue 15) ------------------------------------------------




@pytest.fixture
def cpanel_root(tmp_path):
    return tmp_path / "cpanel"


@pytest.fixture
def kserver(tmp_path, monkeypatch, cpanel_root):
    return build_server(tmp_path, monkeypatch, cpanel_root)


@pytest.fixture
def klock(tmp_path):
    with SweepLock(str(tmp_path / "state" / "sweep.lock")) as held:
        yield held


def test_revoking_bobs_cpanel_foo_leaves_bobs_whm_foo(kserver, klock):
    plan = expired_plan()
    tokens = [i.token for i in plan.items if i.token.owner == "bob" and i.token.name == "foo"]
    assert sorted(t.key() for t in tokens) == [("bob", "foo"), ("bob@cpanel", "foo")]
    assert len({t.identity() for t in tokens}) == 2
    chosen = plan_for_names([i.token for i in plan.items], {("bob@cpanel", "foo")},
                            Protection(), NOW)
    result = execute(chosen, Client(), klock, "cli:root", ENFORCE, NOW)
    assert fates(result) == {("bob@cpanel", "foo"): REVOKED}
    assert kserver.token_names("bob") == {"foo"}
    assert kserver.cpanel_token_names("bob") == set()


def test_a_sweep_of_both_kinds_revokes_each_with_its_own_calls(kserver, klock):
    kserver.reset_calls()
    result = execute(expired_plan(), Client(), klock, "cli:root", ENFORCE, NOW)
    assert fates(result) == {
        ("bob", "foo"): REVOKED,
        ("bob@cpanel", "foo"): REVOKED,
        ("shop1@cpanel", "deploy"): REVOKED,
        ("shop2@cpanel", "old-ci"): REVOKED,
        ("blog@cpanel", "MailNodeLinkage"): KEPT_PROTECTED,
        ("blog@cpanel", "cpmove_%s_3fa9c2" % cpmove_stamp(NOW - 20 * DAY)): KEPT_PROTECTED,
    }
    assert kserver.cpanel_token_names("shop1") == {"fine"}
    # cPanel: list (1 batch), list before revoking (1), revoke 3 names (1), verify (1).
    assert len(kserver.calls("batch")) == 4
    revoke_batch = [c for c in kserver.calls("batch") if "revoke" in " ".join(c["argv"])]
    assert len(revoke_batch) == 1
    (_, outcome) = audit.read()[0][-2:]
    kinds = {(t["kind"], t["owner"], t["name"]): t.get("account_owner")
             for t in outcome["tokens"]}
    assert kinds[("cpanel", "shop2", "old-ci")] == "bob"
    assert kinds[("whm", "bob", "foo")] is None


def test_revoke_says_ok_but_the_token_stays_is_a_failure(kserver, klock):
    kserver.add_fault("keep_token", owner="shop1", name="deploy")
    result = execute(expired_plan(kinds=("cpanel",)), Client(), klock, "cli:root", ENFORCE, NOW)
    outcome = next(o for o in result.outcomes if o.token.name == "deploy")
    assert (outcome.action, outcome.reason) == (FAILED, "whmapi1 answered OK but the token "
                                                        "is still listed")
    assert result.exit_code() == 3


def test_a_failed_verifying_listing_is_unverified_and_says_how_to_check(kserver, klock):
    plan = expired_plan(kinds=("cpanel",))
    # planning listed once; the revoke lists again, revokes, and this verifying batch fails
    kserver.add_fault("exit", function="batch", after=2, message="Segmentation fault")
    result = execute(plan, Client(), klock, "cli:root", ENFORCE, NOW)
    outcome = next(o for o in result.outcomes if o.token.name == "deploy")
    assert outcome.action == UNVERIFIED
    assert outcome.reason.endswith(
        "check with `tokensweeper list --kind cpanel --owner shop1`")
    assert kserver.cpanel_token_names("shop1") == {"fine"}  # it did go: nobody claims it


def test_a_token_recreated_under_the_same_name_is_not_revoked(kserver, klock):
    plan = expired_plan(kinds=("cpanel",))
    kserver.remove_cpanel_token("shop1", "deploy")
    kserver.add_cpanel_token("shop1", "deploy", NOW - 60)
    result = execute(plan, Client(), klock, "cli:root", ENFORCE, NOW)
    assert fates(result)[("shop1@cpanel", "deploy")] == ALREADY_GONE
    assert "deploy" in kserver.cpanel_token_names("shop1")


def test_the_cap_counts_each_holder_apart(kserver, klock):
    result = execute(expired_plan(), Client(), klock, "cron", ENFORCE, NOW, cap=2)
    assert result.held_back and result.exit_code() == 1
    held = {o.token.holder for o in result.outcomes if o.action == DEFERRED}
    revoked = {o.token.holder for o in result.outcomes if o.action == REVOKED}
    assert len(revoked) == 2 and held and not held & revoked
    assert all("@cpanel" in h or h == "bob" for h in held)


def test_a_preview_revokes_nothing_of_either_kind(kserver, klock):
    result = execute(expired_plan(), Client(), klock, "cli:root", PREVIEW, NOW)
    assert fates(result)[("shop1@cpanel", "deploy")] == WOULD_REVOKE
    assert kserver.cpanel_token_names("shop1") == {"deploy", "fine"}


def test_reseller_selects_the_tokens_of_its_accounts_only(kserver):
    plan = build_plan(Client(), Selectors(expired=True, resellers=["bob"]), Protection(), None,
                      NOW, kinds=BOTH, resellers=["bob"])
    assert {i.token.key() for i in plan.items if i.decision == REVOKE} == {
        ("shop1@cpanel", "deploy"), ("shop2@cpanel", "old-ci")}
    assert not [i for i in plan.items if i.token.kind == WHM]


def test_kinds_default_to_whm_only(kserver):
    plan = build_plan(Client(), Selectors(expired=True), Protection(), None, NOW)
    assert {i.token.kind for i in plan.items} == {WHM}
    assert {i.decision for i in plan.items if i.token.kind == WHM} >= {REVOKE}
    assert PROTECTED not in {i.decision for i in plan.items}


def test_the_evidence_a_run_reads_follows_its_criteria(monkeypatch):
    """Issue 25: the hook reads the usage log exactly when a criterion depends on use."""
    from tokensweeper import sweep as sweep_module
    from tokensweeper import usage

    loaded = []
    monkeypatch.setattr(usage, "load_usage", lambda: loaded.append(1) or "evidence")
    assert sweep_module.evidence_for(Selectors(expired=True, older_than_days=9)) is None
    assert loaded == []
    for name, value in (("unused_for_days", 30), ("used_after", NOW),
                        ("used_from", ("10.0.0.0/8",))):
        assert sweep_module.evidence_for(Selectors(**{name: value})) == "evidence"
    assert len(loaded) == 3
