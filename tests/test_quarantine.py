"""Quarantine and restore of WHM tokens (issue 28): the timeline end to end through
bin/tokensweeper against the whmapi1 emulator at pinned times, and the ways it must not
break (a token re-created while quarantined, a run killed between its record and its call,
a reseller's own token that looks quarantined, an audit log edited by hand)."""

import json
import os

import pytest

from tests.helpers import DAY, LIMITED, NOW, Cli, add, new_server
from tokensweeper import audit, quarantine
from tokensweeper.lock import SweepLock
from tokensweeper.whmapi import Client

BOB_IPS = ["10.0.0.0/24", "198.51.100.7"]
CONFIG = """mode: enforce
policy:
  expired: false
  older_than_days: 365
  quarantine_days: 7
"""


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    with fake.batch():
        add(fake, "root", "old-ci", age_days=400)
        add(fake, "bob", "deploy", age_days=500, expires_in_days=300, acls=LIMITED,
            ips=BOB_IPS)
        add(fake, "root", "fresh", age_days=5)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    runner = Cli(server, tmp_path / "run")
    runner.config(CONFIG)
    return runner


def at(cli, server, when):
    cli.now = when
    server.set_now(when)


def token(server, owner, name):
    return server.tokens(owner)[name]


def ips(server, owner, name):
    return token(server, owner, name).get("whitelist_ips")


def listed(cli, *args):
    run = cli("list", "--state", "quarantined", "--json", *args)
    assert run.status == 0, run
    return {(t["owner"], t["name"]): t for t in run.json()["tokens"]}


def test_quarantine_restore_requarantine_revoke_timeline(cli, server):
    deploy_before = dict(token(server, "bob", "deploy"))
    # Day 0: the scheduled run quarantines instead of revoking.
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert ips(server, "root", "old-ci") == [quarantine.MARKER]
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    assert ips(server, "root", "fresh") is None
    assert server.calls("api_token_revoke") == []
    shown = listed(cli)
    assert set(shown) == {("root", "old-ci"), ("bob", "deploy")}
    assert shown[("bob", "deploy")]["own_ip_list"] == ", ".join(BOB_IPS)
    assert shown[("bob", "deploy")]["revoke_on"] == "2026-12-04"
    run_id = shown[("root", "old-ci")]["quarantine_run"]

    # Day 1: restored, one by name, one by its run: the very lists come back.
    at(cli, server, NOW + DAY)
    run = cli("restore", "--owner", "bob", "--name", "deploy")
    assert run.status == 0, run
    assert ips(server, "bob", "deploy") == BOB_IPS
    after = token(server, "bob", "deploy")
    assert (after["acls"], after["expires_at"], after["create_time"]) == (
        deploy_before["acls"], deploy_before["expires_at"], deploy_before["create_time"])
    run = cli("restore", "--run", run_id, "--json")
    assert run.status == 0, run
    assert [t["action"] for t in run.json()["tokens"]] == ["restored"]
    assert ips(server, "root", "old-ci") is None  # no limit again, as it was
    assert listed(cli) == {}

    # Day 2: still selected, quarantined again; day 5: still in quarantine, nothing revoked.
    at(cli, server, NOW + 2 * DAY)
    assert cli("sweep", "--scheduled").status == 0
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    at(cli, server, NOW + 5 * DAY)
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert server.calls("api_token_revoke") == []
    assert listed(cli)[("bob", "deploy")]["revoke_on"] == "2026-12-06"

    # Day 9: seven days in quarantine: the normal verified revoke.
    at(cli, server, NOW + 9 * DAY)
    run = cli("sweep", "--scheduled", "--json")
    assert run.status == 0, run
    outcomes = {(t["owner"], t["name"]): t["action"] for t in run.json()["tokens"]}
    assert outcomes == {("root", "old-ci"): "revoked", ("bob", "deploy"): "revoked"}
    assert server.token_names("bob") == set() and server.token_names("root") == {"fresh"}
    assert listed(cli) == {}
    # The audit log holds each original list, written before the call that changed it.
    records = cli.audit_records()
    intents = [r for r in records if r.get("operation") == "quarantine"
               and r["event"] == "intent"]
    assert len(intents) == 2
    assert {t["name"]: t["original_whitelist_ips"] for t in intents[0]["tokens"]} == {
        "old-ci": [], "deploy": BOB_IPS}


def test_quarantine_is_off_by_default(cli, server):
    cli.config(CONFIG.replace("  quarantine_days: 7\n", ""))
    assert cli("sweep", "--scheduled").status == 0
    assert server.token_names("root") == {"fresh"}
    assert server.calls("api_token_update") == []


def test_preview_mode_quarantines_nothing(cli, server):
    cli.config(CONFIG.replace("mode: enforce", "mode: preview"))
    assert cli("sweep", "--scheduled").status == 0
    assert ips(server, "bob", "deploy") == BOB_IPS
    assert server.calls("batch") == [] and server.calls("api_token_revoke") == []
    previews = [r for r in cli.audit_records() if r.get("operation") == "quarantine"]
    assert [t["action"] for r in previews for t in r["tokens"]] == ["would-quarantine"] * 2


def test_one_batch_process_per_owner(cli, server):
    with server.batch():
        for i in range(5):
            add(server, "bob", "ci-%d" % i, age_days=400)
    server.reset_calls()
    assert cli("quarantine", "--older-than", "365", "--yes").status == 0
    batches = server.calls("batch")
    assert sorted(call["owner"] for call in batches) == ["bob", "root"]
    assert all(ips(server, "bob", "ci-%d" % i) == [quarantine.MARKER] for i in range(5))


def test_quarantine_command_and_restore_refusals(cli, server):
    run = cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes", "--json")
    assert run.status == 0, run
    assert [t["action"] for t in run.json()["tokens"]] == ["quarantined"]
    assert ips(server, "root", "old-ci") is None  # --owner bob only
    # Quarantining again changes nothing: it is already in quarantine.
    server.reset_calls()
    run = cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes")
    assert run.status == 0, run
    assert server.calls("batch") == []
    # Re-created under the same name while quarantined (even with the marker address):
    # another token, never restored.
    server.remove_token("bob", "deploy")
    server.add_token("bob", "deploy", NOW - 10, whitelist_ips=[quarantine.MARKER])
    run = cli("restore", "--owner", "bob", "--name", "deploy")
    assert run.status == 3, run
    assert "re-created" in run.out
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]


def test_restore_refuses_a_token_whose_acls_changed(cli, server):
    assert cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes").status == 0
    tokens = server.tokens("bob")
    tokens["deploy"]["acls"] = {"list-accts": 1, "create-acct": 1}
    server.replace_tokens("bob", tokens)
    run = cli("restore", "--owner", "bob", "--name", "deploy")
    assert run.status == 3, run
    assert "ACLs or expiry changed" in run.out
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]


def test_a_token_never_quarantined_by_us_is_not_restorable(cli, server):
    # A reseller's own token limited to the documentation address, named like a marker.
    add(server, "bob", "quarantined-192_0_2_1", age_days=1, ips=[quarantine.MARKER])
    assert listed(cli) == {}
    run = cli("restore", "--owner", "bob", "--name", "quarantined-192_0_2_1")
    assert run.status == 1 and "not in quarantine" in run.err
    assert ips(server, "bob", "quarantined-192_0_2_1") == [quarantine.MARKER]


def test_restore_usage_errors(cli, server):
    for args in (("restore",), ("restore", "--owner", "bob"),
                 ("restore", "--run", "x", "--owner", "bob", "--name", "a")):
        run = cli(*args)
        assert run.status == 2, run
    assert server.calls() == []


def test_a_hand_edited_original_list_is_refused(cli, server):
    assert cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes").status == 0
    with open(cli.audit_path) as handle:
        lines = handle.read().splitlines()
    edited = []
    for line in lines:
        record = json.loads(line)
        for entry in record.get("tokens", []):
            if "original_whitelist_ips" in entry:
                entry["original_whitelist_ips"] = ["0.0.0.0/0; rm -rf /"]
        edited.append(json.dumps(record))
    with open(cli.audit_path, "w") as handle:
        handle.write("\n".join(edited) + "\n")
    run = cli("restore", "--owner", "bob", "--name", "deploy")
    assert run.status == 3, run
    assert "damaged" in run.out
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]


# -- killed between the record and the call (in process) ----------------------------


@pytest.fixture
def engine(server, tmp_path, monkeypatch):
    server.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    return Client()


class Killed(BaseException):
    """kill -9 stands in: nothing after it runs."""


def test_killed_after_the_record_before_the_call(engine, server, tmp_path, monkeypatch):
    from tokensweeper.sources import whm

    deploy = {t.name: t for t in engine.list_tokens("bob")}["deploy"]

    def killed(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(whm, "update_ips", killed)
    with SweepLock(str(tmp_path / "lock")) as lock:
        with pytest.raises(Killed):
            quarantine.quarantine(engine, [deploy], lock, "root", "enforce", NOW)
    monkeypatch.undo()
    server.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    held = quarantine.read_held()
    assert list(held) == [("bob", "deploy", deploy.create_time)]
    # The call never ran: the listing says it is not quarantined, and nothing is restored.
    assert quarantine.in_quarantine(engine.list_tokens("bob"), held) == {}
    # The next run quarantines it, recording the same original list.
    with SweepLock(str(tmp_path / "lock")) as lock:
        report = quarantine.quarantine(engine, [deploy], lock, "root", "enforce", NOW)
    assert [o.action for o in report.outcomes] == ["quarantined"]
    entry = quarantine.read_held()[("bob", "deploy", deploy.create_time)]
    assert entry.originals == tuple(BOB_IPS) and entry.confirmed


def test_killed_after_the_call_before_the_outcome(engine, server, tmp_path, monkeypatch):
    deploy = {t.name: t for t in engine.list_tokens("bob")}["deploy"]
    real_write = audit.write

    def write(record, path=None):
        if record.get("event") == "outcome":
            raise Killed()
        return real_write(record, path)

    monkeypatch.setattr(audit, "write", write)
    with SweepLock(str(tmp_path / "lock")) as lock:
        with pytest.raises(Killed):
            quarantine.quarantine(engine, [deploy], lock, "root", "enforce", NOW)
    monkeypatch.setattr(audit, "write", real_write)
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    held = quarantine.read_held()
    # Unconfirmed, but the listing shows it quarantined: restorable from the intent record.
    assert len(quarantine.in_quarantine(engine.list_tokens("bob"), held)) == 1
    with SweepLock(str(tmp_path / "lock")) as lock:
        report = quarantine.restore(engine, list(held.values()), lock, "root", NOW + 60)
    assert [o.action for o in report.outcomes] == ["restored"]
    assert ips(server, "bob", "deploy") == BOB_IPS


def test_update_refused_by_cpanel_is_a_failure_not_a_quarantine(engine, server, tmp_path):
    deploy = {t.name: t for t in engine.list_tokens("bob")}["deploy"]
    server.add_fault("fail", function="api_token_update", reason="disk full")
    with SweepLock(str(tmp_path / "lock")) as lock:
        report = quarantine.quarantine(engine, [deploy], lock, "root", "enforce", NOW)
    assert [o.action for o in report.outcomes] == ["failed"]
    assert report.exit_code() == 3
    assert ips(server, "bob", "deploy") == BOB_IPS
    assert quarantine.read_held() == {}


def test_the_cap_bounds_the_unattended_quarantine(cli, server):
    cli.config(CONFIG + "max_revoke_per_run: 1\n")
    run = cli("sweep", "--scheduled")
    assert run.status == 1, run  # one owner deferred, as a capped sweep says
    assert ips(server, "root", "old-ci") == [quarantine.MARKER]  # root first
    assert ips(server, "bob", "deploy") == BOB_IPS
    assert "deferred" in run.out
    at(cli, server, NOW + DAY)
    assert cli("sweep", "--scheduled").status == 0
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]


def test_cpanel_account_tokens_are_revoked_not_quarantined(cli, server):
    server.add_account("shop", owner="bob")
    server.add_cpanel_token("shop", "site", NOW - 400 * DAY)
    server.write_token_files(cli.cpanel_root)
    cli.config(CONFIG + "kinds: [whm, cpanel]\n")
    run = cli("sweep", "--scheduled", "--json")
    assert run.status == 0, run
    assert server.cpanel_token_names("shop") == set()
    assert ips(server, "bob", "deploy") == [quarantine.MARKER]
    run = cli("quarantine", "--kind", "cpanel", "--older-than", "1", "--yes")
    assert run.status == 0 and "Nothing to quarantine" in run.out


def test_the_hooks_sweep_quarantines_too(tmp_path, monkeypatch):
    from tests.test_hook import Hook
    from tokensweeper import hookqueue

    hook = Hook(tmp_path)
    hook.reseller("res1", [("res1-old", 400, None), ("res1-new", 1, None)])
    hook.config(CONFIG + "events: {suspend: sweep}\n")
    for key, value in hook.env().items():
        monkeypatch.setenv(key, value)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "sweep", "res1", NOW)
    messages = []
    lock = hookqueue.worker_lock().acquire()
    assert hookqueue.work(lock, lambda: NOW, settle_for=(0.0, 0.0), log=messages.append) == 0
    assert hook.server.token_names("res1") == {"res1-old", "res1-new"}
    assert hook.server.tokens("res1")["res1-old"]["whitelist_ips"] == [quarantine.MARKER]
    assert hook.server.tokens("res1")["res1-new"].get("whitelist_ips") is None
    assert any("quarantined" in message for message in messages), messages


def test_a_listing_never_depends_on_the_audit_log_until_a_token_carries_the_marker(
        cli, server):
    assert cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes").status == 0
    os.chmod(cli.audit_path, 0o666)  # not root's alone: never trusted
    run = cli("list", "--owner", "root")
    assert run.status == 0, run  # root has no token in quarantine: no need to read it
    run = cli("list", "--owner", "bob")
    assert run.status != 0 and "audit.log" in run.err  # said, never silently ignored
    run = cli("restore", "--owner", "bob", "--name", "deploy")
    assert run.status != 0 and ips(server, "bob", "deploy") == [quarantine.MARKER]


def test_two_runs_at_once_one_waits_for_nothing(cli, server):
    with SweepLock(os.path.join(cli.state_dir, "sweep.lock")):
        run = cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes")
        assert run.status == 1 and "running" in run.err, run
        run = cli("restore", "--owner", "bob", "--name", "deploy")
        assert run.status == 1, run
    assert server.calls("batch") == []
