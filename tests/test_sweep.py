"""sweep.build_plan + execute against the whmapi1 emulator: verification, per-owner
failures, preview, the cap, the audit log as the gate, the lock, and the call floor."""

import json
import math
import os
import stat

import pytest

from tests.helpers import NOW, add, names_in, new_server
from tokensweeper import audit
from tokensweeper.lock import LockBusy, SweepLock
from tokensweeper.policy import Protection, Selectors
from tokensweeper.sweep import (
    ALREADY_GONE,
    ENFORCE,
    FAILED,
    KEPT_PROTECTED,
    PREVIEW,
    REVOKED,
    UNVERIFIED,
    WOULD_REVOKE,
    build_plan,
    execute,
    record_snapshot,
)
from tokensweeper.whmapi import Client

TOKEN_RECORD_KEYS = {"kind", "owner", "name", "create_time", "expires_at", "full_access",
                     "ip_limited", "action", "reason"}


@pytest.fixture
def server(tmp_path, monkeypatch):
    fake = new_server(tmp_path / "fake", resellers=["alice", "bob", "carol"])
    fake.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "cpanel"))
    add(fake, "root", "root-expired", age_days=400, expires_in_days=-10)
    add(fake, "root", "root-fine", age_days=10)
    add(fake, "root", "WP-Dashboard", age_days=900, expires_in_days=-1)
    for owner in ("alice", "bob", "carol"):
        add(fake, owner, "%s-expired" % owner, age_days=50, expires_in_days=-2)
        add(fake, owner, "%s-expired-2" % owner, age_days=60, expires_in_days=-3)
        add(fake, owner, "%s-fine" % owner, age_days=5, expires_in_days=100)
    return fake


@pytest.fixture
def lock(tmp_path):
    with SweepLock(str(tmp_path / "state" / "sweep.lock")) as held:
        yield held


def expired_plan(client, **kwargs):
    return build_plan(client, Selectors(expired=True), Protection(), None, NOW, **kwargs)


def sweep(server, lock, mode=ENFORCE, client=None, **kwargs):
    client = client or Client()
    plan = expired_plan(client)
    return execute(plan, client, lock, "cli:root", mode, NOW, **kwargs)


def fates(result):
    return {(o.token.owner, o.token.name): o.action for o in result.outcomes}


def audit_records():
    return audit.read()[0]


EXPIRED = {("root", "root-expired"), ("alice", "alice-expired"), ("alice", "alice-expired-2"),
           ("bob", "bob-expired"), ("bob", "bob-expired-2"), ("carol", "carol-expired"),
           ("carol", "carol-expired-2")}


def remaining(server):
    return {(owner, name) for owner in ("root", "alice", "bob", "carol")
            for name in server.token_names(owner)}


# -- the normal run ------------------------------------------------------------


def test_a_sweep_revokes_the_selected_tokens_and_keeps_the_protected(server, lock):
    result = sweep(server, lock)
    expected = dict.fromkeys(EXPIRED, REVOKED)
    expected[("root", "WP-Dashboard")] = KEPT_PROTECTED
    assert fates(result) == expected
    assert remaining(server) & EXPIRED == set()
    assert ("root", "WP-Dashboard") in remaining(server)
    assert result.exit_code() == 0 and result.ok
    assert len(server.accounting_lines()) == len(EXPIRED)


def test_the_audit_log_holds_intent_then_outcome(server, lock):
    result = sweep(server, lock)
    intent, outcome = audit_records()
    assert (intent["event"], outcome["event"]) == ("intent", "outcome")
    assert intent["run_id"] == outcome["run_id"] == result.run_id
    assert intent["actor"] == "cli:root" and intent["mode"] == "enforce"
    assert intent["selectors"] == {"expired": True}
    assert {(t["owner"], t["name"]) for t in intent["tokens"]} == EXPIRED
    assert {t["action"] for t in intent["tokens"]} == {"revoke"}
    assert {(t["owner"], t["name"]): t["action"] for t in outcome["tokens"]} == fates(result)
    for record in (intent, outcome):
        assert record["time"].endswith("Z") and record["epoch"] >= NOW
        for token in record["tokens"]:
            assert set(token) == TOKEN_RECORD_KEYS  # facts only: no ACL map, no IPs, no secret
    bob = [t for t in outcome["tokens"] if t["name"] == "bob-expired"][0]
    assert bob["reason"] == "expired on 2026-11-25, 2 days ago"
    assert stat.S_IMODE(os.stat(audit_path()).st_mode) == 0o600


def test_a_pinned_clock_dates_every_record_of_the_run(server, lock, monkeypatch):
    # One clock for every front end (TOKENSWEEPER_NOW): the outcome of a pinned run is
    # dated at the pinned time too, not at the machine's time.
    monkeypatch.setenv("TOKENSWEEPER_NOW", str(NOW))
    result = sweep(server, lock)
    intent, outcome = audit_records()
    assert intent["epoch"] == outcome["epoch"] == result.finished == NOW


def audit_path():
    return os.path.join(os.environ["TOKENSWEEPER_STATE_DIR"], "audit.log")


def test_the_call_count_is_the_floor(server, lock):
    """One listresellers; per owner one list; per swept owner one list right before the
    revoke (issue 11.5: already-gone is told from revoked), ceil(k/B) revokes, one list."""
    server.add_reseller("dave")  # an owner with no tokens: listed once, nothing else
    client = Client(batch_size=1)  # alice/bob/carol have 2 expired each: 2 revokes each
    plan = expired_plan(client)
    execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    owners = ["root", "alice", "bob", "carol", "dave"]
    swept = {"root": 1, "alice": 2, "bob": 2, "carol": 2}
    assert len(server.calls("listresellers")) == 1
    lists = server.calls("api_token_list")
    assert sorted(c["owner"] for c in lists) == sorted(owners + 2 * list(swept))
    revokes = server.calls("api_token_revoke")
    for owner, k in swept.items():
        assert len([c for c in revokes if c["owner"] == owner]) == math.ceil(k / 1)
    floor = 1 + len(owners) + sum(1 + math.ceil(k / 1) + 1 for k in swept.values())
    assert len(server.calls()) == floor


def test_default_batch_revokes_each_owner_in_one_call(server, lock):
    sweep(server, lock)
    revokes = server.calls("api_token_revoke")
    assert sorted(c["owner"] for c in revokes) == ["alice", "bob", "carol", "root"]
    assert sorted(n for c in revokes for n in names_in(c)) == sorted(n for _, n in EXPIRED)


def test_nothing_selected_makes_no_revoke_call(server, lock):
    client = Client()
    plan = build_plan(client, Selectors(every_token=True, names=["no-such-*"]), Protection(), None,
                      NOW)
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    assert result.outcomes == [] and server.calls("api_token_revoke") == []
    assert [r["event"] for r in audit_records()] == ["outcome"]


def test_only_the_given_owners_are_listed(server, lock):
    client = Client()
    plan = expired_plan(client, owners=["bob"])
    assert {t.owner for t in plan.to_revoke()} == {"bob"}
    assert server.calls("listresellers") == []
    assert [c["owner"] for c in server.calls("api_token_list")] == ["bob"]


@pytest.mark.parametrize("parallel", [1, 4])
def test_parallel_owners_do_not_change_the_result(server, lock, parallel):
    client = Client()
    plan = build_plan(client, Selectors(expired=True), Protection(), None, NOW, parallel=parallel)
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW, parallel=parallel)
    assert {k for k, v in fates(result).items() if v == REVOKED} == EXPIRED


# -- verification -----------------------------------------------------------------


def test_a_token_the_server_keeps_is_failed(server, lock):
    server.add_fault("keep_token", function="api_token_revoke", owner="bob", name="bob-expired")
    result = sweep(server, lock)
    outcome = [o for o in result.outcomes if o.token.name == "bob-expired"][0]
    assert outcome.action == FAILED
    assert outcome.reason == "whmapi1 answered OK but the token is still listed"
    assert fates(result)[("bob", "bob-expired-2")] == REVOKED
    assert result.failed_count == 1 and result.exit_code() == 3
    assert "bob-expired" in server.token_names("bob")


def test_a_failed_revoke_for_one_owner_does_not_stop_the_others(server, lock):
    server.add_fault("fail", function="api_token_revoke", owner="bob")
    result = sweep(server, lock)
    assert fates(result)[("bob", "bob-expired")] == FAILED
    assert fates(result)[("bob", "bob-expired-2")] == FAILED
    bob = [o for o in result.outcomes if o.token.owner == "bob"][0]
    assert "failed to lock the file" in bob.reason
    for owner in ("root", "alice", "carol"):
        assert not any(n.endswith("expired") for n in server.token_names(owner))
    assert result.exit_code() == 3
    outcome = audit_records()[-1]
    assert {(t["owner"], t["name"]): t["action"] for t in outcome["tokens"]} == fates(result)


@pytest.mark.parametrize("kind", ["garbage", "exit"])
def test_a_revoke_that_worked_but_answered_badly_is_verified_as_revoked(server, lock, kind):
    """whmapi1 removed the tokens and then printed junk or died: the listing decides."""
    server.add_fault(kind, function="api_token_revoke", owner="alice", when="after")
    result = sweep(server, lock)
    assert fates(result)[("alice", "alice-expired")] == REVOKED
    assert result.exit_code() == 0


def test_a_revoke_that_hung_is_killed_and_verified(server, lock):
    server.add_fault("hang", function="api_token_revoke", owner="carol")
    result = sweep(server, lock, client=Client(timeout=0.5))
    carol = [o for o in result.outcomes if o.token.owner == "carol" and o.action != KEPT_PROTECTED]
    assert {o.action for o in carol} == {FAILED}
    assert "no answer after 0.5 seconds" in carol[0].reason
    assert fates(result)[("alice", "alice-expired")] == REVOKED
    assert result.exit_code() == 3


def test_a_verification_that_cannot_list_is_unverified_never_a_guess(server, lock):
    """Issue 11.4: revoked, then the verifying listing failed: nobody knows. Not "still
    valid", not "revoked": unverified, with the command that tells, and a failed run."""
    # The plan's listing and the one right before the revoke work; the verifying one fails.
    server.add_fault("fail", function="api_token_list", owner="alice", after=2)
    result = sweep(server, lock)
    alice = [o for o in result.outcomes if o.token.owner == "alice"]
    assert {o.action for o in alice} == {UNVERIFIED}
    assert "could not verify" in alice[0].reason
    assert "check with `tokensweeper list --owner alice`" in alice[0].reason
    assert server.token_names("alice") == {"alice-fine"}  # they did go
    assert result.exit_code() == 3 and result.counts()[UNVERIFIED] == 2
    (outcome,) = [r for r in audit_records() if r["event"] == "outcome"]
    assert {t["action"] for t in outcome["tokens"] if t["owner"] == "alice"} == {"unverified"}


def test_a_listing_failing_right_before_the_revoke_revokes_nothing_of_that_owner(server, lock):
    server.add_fault("fail", function="api_token_list", owner="alice", after=1)
    result = sweep(server, lock)
    alice = [o for o in result.outcomes if o.token.owner == "alice"]
    assert {o.action for o in alice} == {FAILED}
    assert alice[0].reason.startswith("not revoked: the tokens of alice could not be listed")
    assert not [c for c in server.calls("api_token_revoke") if c["owner"] == "alice"]
    assert fates(result)[("bob", "bob-expired")] == REVOKED


def test_a_token_removed_by_someone_else_during_the_run_is_already_gone(server, lock):
    """Issue 11.5: it was recorded as revoked by us."""
    client = Client()
    plan = expired_plan(client)
    server.remove_token("bob", "bob-expired")  # WHM's own page, after our plan
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    outcome = [o for o in result.outcomes if o.token.key() == ("bob", "bob-expired")][0]
    assert outcome.action == ALREADY_GONE
    assert outcome.reason == "no longer listed right before the revoke (removed by someone else)"
    assert fates(result)[("bob", "bob-expired-2")] == REVOKED
    (bob_revoke,) = [c for c in server.calls("api_token_revoke") if c["owner"] == "bob"]
    assert names_in(bob_revoke) == ["bob-expired-2"]
    assert result.exit_code() == 0


def test_a_token_re_created_under_the_same_name_during_the_run_is_not_revoked(server, lock):
    client = Client()
    plan = expired_plan(client)
    server.remove_token("carol", "carol-expired")
    server.add_token("carol", "carol-expired", NOW - 60)  # a new token, a minute old
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    outcome = [o for o in result.outcomes if o.token.key() == ("carol", "carol-expired")][0]
    assert outcome.action == ALREADY_GONE and "re-created" in outcome.reason
    assert "carol-expired" in server.token_names("carol")
    assert fates(result)[("carol", "carol-expired-2")] == REVOKED


def test_a_token_changed_during_the_run_is_not_revoked(server, lock):
    client = Client()
    plan = expired_plan(client)
    old = server.tokens("root")["root-expired"]
    server.remove_token("root", "root-expired")
    server.add_token("root", "root-expired", old["create_time"], expires_at=NOW + 90 * 86400)
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    assert fates(result)[("root", "root-expired")] == FAILED
    assert "root-expired" in server.token_names("root")
    assert not [c for c in server.calls("api_token_revoke") if c["owner"] == "root"]


@pytest.mark.parametrize("kind", ["no_data", "null_data"])
def test_a_verifying_listing_without_tokens_proves_nothing(server, lock, kind):
    """An answer with no token list must not pass for 'every token went'."""
    server.add_fault("keep_token", function="api_token_revoke", owner="alice", name="alice-expired")
    server.add_fault(kind, function="api_token_list", owner="alice", after=2)
    result = sweep(server, lock)
    alice = [o for o in result.outcomes if o.token.owner == "alice"]
    assert {o.action for o in alice} == {UNVERIFIED}
    assert "no token list" in alice[0].reason
    assert result.exit_code() == 3


def test_a_verifying_listing_of_no_tokens_is_proof(server, lock):
    """An empty token list after the revoke is a real answer: everything went."""
    client = Client()
    plan = build_plan(client, Selectors(every_token=True, names=["alice-*"]), Protection(), None,
                      NOW, owners=["alice"])
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    assert server.token_names("alice") == set()
    assert set(fates(result).values()) == {REVOKED} and len(result.outcomes) == 3


def test_a_listing_failure_while_planning_is_an_owner_error(server, lock):
    server.add_fault("fail", function="api_token_list", owner="bob", reason="The user is locked.")
    result = sweep(server, lock)
    assert "bob" in result.owner_errors and "The user is locked." in result.owner_errors["bob"]
    assert not any(o.token.owner == "bob" for o in result.outcomes)
    assert server.token_names("bob") >= {"bob-expired", "bob-expired-2"}
    assert fates(result)[("alice", "alice-expired")] == REVOKED
    assert fates(result)[("carol", "carol-expired")] == REVOKED
    assert result.exit_code() == 3
    assert "bob" in audit_records()[-1]["owner_errors"]


def test_a_token_already_gone_before_the_revoke_is_not_failed(server, lock):
    client = Client()
    plan = expired_plan(client)
    server.remove_token("alice", "alice-expired")  # an admin was quicker
    result = execute(plan, client, lock, "cli:root", ENFORCE, NOW)
    assert fates(result)[("alice", "alice-expired")] in (REVOKED, ALREADY_GONE)
    assert result.exit_code() == 0


# -- preview, the cap, the audit gate ---------------------------------------------


def test_preview_revokes_nothing_and_records_what_it_would_do(server, lock):
    before = remaining(server)
    result = sweep(server, lock, mode=PREVIEW)
    assert remaining(server) == before
    assert server.calls("api_token_revoke") == []
    assert {k for k, v in fates(result).items() if v == WOULD_REVOKE} == EXPIRED
    (record,) = audit_records()
    assert record["event"] == "preview" and record["mode"] == "preview"
    would = {(t["owner"], t["name"]) for t in record["tokens"] if t["action"] == WOULD_REVOKE}
    assert would == EXPIRED


def test_one_owner_over_the_cap_is_refused_and_the_others_are_swept(server, lock):
    """A reseller keeping 51 stale tokens no longer stops the nightly sweep of everyone else."""
    server.add_reseller("res2")
    with server.batch():
        for index in range(51):
            add(server, "res2", "stale-%02d" % index, age_days=90, expires_in_days=-1)
    result = sweep(server, lock, cap=50)
    assert not (EXPIRED & remaining(server))  # root, alice, bob and carol were swept
    assert server.token_names("res2") == {"stale-%02d" % i for i in range(51)}
    assert [names_in(c) for c in server.calls("api_token_revoke") if c["owner"] == "res2"] == []
    assert result.exit_code() == 1 and "refused res2 (51 tokens)" in result.refused
    assert "more than max_revoke_per_run (50)" in result.held_back["res2"]
    record = audit_records()[-1]
    assert record["event"] == "outcome" and record["refused"] == result.refused
    refused = [t for t in record["tokens"] if t["action"] == "refused"]
    assert sorted(t["name"] for t in refused) == ["stale-%02d" % i for i in range(51)]
    assert all(t["reason"].startswith("over the cap: res2 has 51 tokens") for t in refused)


def test_a_bad_policy_across_the_server_still_revokes_no_more_than_the_cap(server, lock):
    result = sweep(server, lock, cap=3)
    # root first (1), then the smallest owners while they fit: alice (2). bob and carol wait.
    assert fates(result)[("root", "root-expired")] == REVOKED
    assert {k for k, v in fates(result).items() if v == REVOKED} == {
        ("root", "root-expired"), ("alice", "alice-expired"), ("alice", "alice-expired-2")}
    assert {k for k, v in fates(result).items() if v == "deferred"} == {
        ("bob", "bob-expired"), ("bob", "bob-expired-2"), ("carol", "carol-expired"),
        ("carol", "carol-expired-2")}
    assert "over the run's cap" in result.held_back["bob"]
    assert result.exit_code() == 1
    # The next run takes the owners that waited.
    assert set(fates(sweep(server, lock, cap=3)).values()) >= {REVOKED}
    assert {("bob", "bob-expired"), ("bob", "bob-expired-2")}.isdisjoint(remaining(server))


def test_when_every_owner_is_over_the_cap_the_run_is_refused_with_its_candidates(server, lock):
    result = sweep(server, lock, cap=0)
    assert server.calls("api_token_revoke") == [] and EXPIRED <= remaining(server)
    (record,) = audit_records()
    assert record["event"] == "refused" and record["refused"] == result.refused
    assert {(t["owner"], t["name"]) for t in record["tokens"] if t["action"] == "refused"} == (
        EXPIRED)
    assert "over the cap" in record["refused"]


def test_a_preview_over_the_cap_says_so(server, lock):
    result = sweep(server, lock, mode=PREVIEW, cap=1)
    assert "over the cap" in result.refused and "would not be revoked" in result.refused
    (record,) = audit_records()
    assert record["event"] == "preview" and "over the cap" in record["refused"]
    held = [t for t in record["tokens"] if t["action"] in ("refused", "deferred")]
    assert {(t["owner"], t["name"]) for t in held} == EXPIRED - {("root", "root-expired")}
    assert all("would be" in t["reason"] for t in held)


def test_at_the_cap_the_run_goes_ahead(server, lock):
    result = sweep(server, lock, cap=len(EXPIRED))
    assert result.refused is None and not (EXPIRED & remaining(server))


def test_an_unwritable_audit_log_means_nothing_is_revoked(server, lock):
    os.makedirs(audit_path())  # a directory where the log should be: every write fails
    with pytest.raises(audit.AuditError) as raised:
        sweep(server, lock)
    assert audit_path() in str(raised.value)
    assert server.calls("api_token_revoke") == []
    assert EXPIRED <= remaining(server)


def test_an_unwritable_audit_log_stops_a_preview_too(server, lock):
    os.makedirs(audit_path())
    with pytest.raises(audit.AuditError):
        sweep(server, lock, mode=PREVIEW)


def test_an_outcome_that_cannot_be_recorded_is_a_runtime_failure(server, lock, monkeypatch):
    """The tokens went (the intent is on disk), but the outcome record failed: say so loudly."""
    real_write = audit.write

    def write(record, path=None):
        if record["event"] == "outcome":
            raise audit.AuditError("cannot write the audit log: No space left on device")
        return real_write(record, path)

    monkeypatch.setattr(audit, "write", write)
    result = sweep(server, lock)
    assert not (EXPIRED & remaining(server))
    assert "No space left" in result.audit_error
    assert result.exit_code() == 1 and not result.ok
    assert [r["event"] for r in audit_records()] == ["intent"]


def test_execute_refuses_to_run_without_the_lock(server, tmp_path):
    client = Client()
    with pytest.raises(RuntimeError):
        execute(expired_plan(client), client, SweepLock(str(tmp_path / "l")), "cli:root",
                ENFORCE, NOW)
    assert server.calls("api_token_revoke") == []


def test_result_to_dict_is_json(server, lock):
    document = json.loads(json.dumps(sweep(server, lock).to_dict()))
    assert document["counts"][REVOKED] == len(EXPIRED)
    assert document["mode"] == "enforce" and document["actor"] == "cli:root"
    assert document["started"] == "2026-11-27T12:00:00Z"
    assert all(set(t) == TOKEN_RECORD_KEYS for t in document["tokens"])


def test_a_snapshot_records_names_never_secrets(server, lock):
    tokens = Client().list_tokens("bob")
    run_id = record_snapshot(tokens, "hook:Accounts::Remove", NOW, "account removed")
    (record,) = audit_records()
    assert record["run_id"] == run_id and record["event"] == "snapshot"
    assert sorted(t["name"] for t in record["tokens"]) == [
        "bob-expired", "bob-expired-2", "bob-fine"]
    assert all(set(t) == TOKEN_RECORD_KEYS for t in record["tokens"])


# -- the lock ------------------------------------------------------------------------


def test_a_second_sweep_fails_at_once_naming_the_holder(tmp_path):
    path = str(tmp_path / "state" / "sweep.lock")
    with SweepLock(path):
        with pytest.raises(LockBusy) as raised:
            SweepLock(path).acquire()
    assert raised.value.holder == str(os.getpid())
    assert "process %d" % os.getpid() in str(raised.value)
    with SweepLock(path) as again:  # released: the next run gets it
        assert again.held


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path):
    path = tmp_path / "sweep.lock"
    path.write_text("999999")
    with SweepLock(str(path)) as held:
        assert held.held
        assert path.read_text() == str(os.getpid())


# -- execute_many: several runs, one round of whmapi1 work (the hook's queue) ------------


def test_execute_many_records_each_run_apart_and_lists_and_revokes_once_per_owner(server,
                                                                                  lock):
    from tokensweeper.policy import make_plan
    from tokensweeper.sweep import Part, execute_many

    client = Client()
    plan = expired_plan(client, owners=["alice", "bob"])
    by_owner = {owner: [i.token for i in plan.items if i.token.owner == owner]
                for owner in ("alice", "bob")}
    everything = make_plan(by_owner["bob"], None, Selectors(every_token=True), Protection(), NOW)
    parts = [Part(make_plan(by_owner["alice"], None, Selectors(expired=True), Protection(), NOW),
                  "hook:Accounts::suspendacct", cap=1),
             Part(everything, "hook:Accounts::Remove"),
             Part(make_plan(by_owner["bob"], None, Selectors(expired=True), Protection(), NOW),
                  "hook:Passwd::ChangePasswd")]
    server.reset_calls()

    alice, bob_all, bob_expired = execute_many(parts, client, lock, ENFORCE, NOW, parallel=1)

    # alice's two expired tokens exceed her run's cap: refused, never listed again.
    assert set(fates(alice).values()) == {"refused"}
    assert fates(bob_all) == {("bob", "bob-expired"): REVOKED, ("bob", "bob-expired-2"): REVOKED,
                              ("bob", "bob-fine"): REVOKED}
    # The token both runs revoke was revoked once; each run records its fate and reason.
    assert fates(bob_expired) == {("bob", "bob-expired"): REVOKED,
                                  ("bob", "bob-expired-2"): REVOKED}
    reasons = {o.token.name: o.reason for o in bob_expired.outcomes}
    assert reasons["bob-expired"].startswith("expired on ")
    assert {o.token.name: o.reason for o in bob_all.outcomes}["bob-expired"].startswith(
        "every token of bob")
    assert [(c["function"], c["owner"]) for c in server.calls()] == [
        ("api_token_list", "bob"), ("api_token_revoke", "bob"), ("api_token_list", "bob")]
    assert server.token_names("bob") == set()
    assert server.token_names("alice") == {"alice-expired", "alice-expired-2",
                                           "alice-fine"}
    records = audit_records()
    assert [(r["event"], r["actor"]) for r in records] == [
        ("refused", "hook:Accounts::suspendacct"), ("intent", "hook:Accounts::Remove"),
        ("intent", "hook:Passwd::ChangePasswd"), ("outcome", "hook:Accounts::Remove"),
        ("outcome", "hook:Passwd::ChangePasswd")]
    assert len({r["run_id"] for r in records}) == 3


def test_execute_many_needs_the_lock(server, tmp_path):
    from tokensweeper.sweep import Part, execute_many

    client = Client()
    unheld = SweepLock(str(tmp_path / "state" / "other.lock"))
    with pytest.raises(RuntimeError):
        execute_many([Part(expired_plan(client), "cli:root")], client, unheld, ENFORCE, NOW)
    assert audit_records() == []
