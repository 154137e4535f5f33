"""End to end: bin/tokensweeper as a separate process against the whmapi1 emulator,
with its own state directory and config, at a pinned time (TOKENSWEEPER_NOW)."""

import json
import os
import stat
import sys

import pytest

from tests.helpers import DAY, NOW, Cli, add, names_in, new_server
from tokensweeper import paths
from tokensweeper.lock import SweepLock

COMMANDS = ["list", "plan", "sweep", "revoke", "audit", "check-config"]
EXPIRED = {("root", "root-expired"), ("alice", "alice-expired"), ("alice", "alice-old"),
           ("bob", "bob-expired"), ("bob", "bob-old"), ("carol", "carol-expired"),
           ("carol", "carol-old")}
TOKEN_RECORD_KEYS = {"kind", "owner", "name", "create_time", "expires_at", "full_access",
                     "ip_limited", "action", "reason", "last_used"}
OWNERS = ("root", "alice", "bob", "carol")
BAD_CONFIG = "policy:\n  older_than_days: ninety\n"
BAD_CONFIG_PROBLEM = "policy.older_than_days: expected a whole number of days, got 'ninety'"


# cPanel's DNS cluster trust token: reverse_trust_ + a lowercase v4 UUID, ACL clustering.
TRUST_NAME = "reverse_trust_5e0c2a9b-7d41-4f3e-9a2c-6b8d1e4f0a37"


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["alice", "bob", "carol"])
    with fake.batch():
        add(fake, "root", "root-expired", age_days=400, expires_in_days=-10)
        add(fake, "root", "root-fine", age_days=10, acls={"list-accts": 1}, ips=["192.0.2.1"])
        add(fake, "root", TRUST_NAME, age_days=900, expires_in_days=-1,
            acls={"clustering": 1, "all": 0})
        add(fake, "root", "ancient", age_days=2000)
        for owner in ("alice", "bob", "carol"):
            add(fake, owner, owner + "-expired", age_days=50, expires_in_days=-2)
            add(fake, owner, owner + "-old", age_days=800, expires_in_days=-300)
            add(fake, owner, owner + "-fine", age_days=5, expires_in_days=100)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path / "run")


def present(server):
    return {(owner, name) for owner in OWNERS for name in server.token_names(owner)}


def outcome_of(document):
    return {(t["owner"], t["name"]): t["action"] for t in document["tokens"]}


# -- help and usage -------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, server, command):
    run = cli(command, "--help")
    assert run.status == 0, run
    assert run.out.startswith("usage: tokensweeper %s" % command)
    assert "--json" in run.out
    assert server.calls() == []


def test_top_level_help_lists_the_commands(cli):
    run = cli("--help")
    assert run.status == 0
    for command in COMMANDS:
        assert command in run.out


@pytest.mark.parametrize("args", [(), ("frobnicate",), ("plan", "--older-than", "ninety"),
                                  ("plan", "--expiring-within", "0"), ("list", "--owner", "Bob"),
                                  ("revoke", "--owner", "bob"), ("revoke", "--owner", "bob", "a/b"),
                                  ("list", "--owner", "bob", "--all-owners")])
def test_usage_errors_exit_2_and_touch_nothing(cli, server, args):
    run = cli(*args)
    assert run.status == 2, run
    assert run.err.strip()
    assert server.calls() == []


def test_a_days_error_says_what_was_wrong(cli):
    run = cli("plan", "--older-than", "ninety")
    assert "expected a whole number of days (1 to 36500), got 'ninety'" in run.err


# -- list and plan ----------------------------------------------------------------


def test_list_shows_every_owners_tokens(cli, server):
    run = cli("list")
    assert run.status == 0, run
    lines = run.out.splitlines()
    assert lines[0].split() == ["HOLDER", "NAME", "STATE", "KIND", "LAST_USED", "EXPIRES",
                                "AGE_DAYS", "FULL_ACCESS", "IP_LIMIT", "CREATED",
                                "CREATED_BY", "ACCOUNT_OF"]
    assert "13 tokens of 4 owners" in run.out
    trust = [line for line in lines if " %s " % TRUST_NAME in line][0]
    # STATE comes third and says which rule protects it.
    assert trust.split()[:3] == ["root", TRUST_NAME, "protected:"]
    assert "protected: DNS cluster trust token (built-in rule reverse_trust_<uuid>)" in trust
    assert "Hidden" not in run.out  # a pipe gets every column
    assert present(server) == {(o, n) for o in OWNERS for n in server.token_names(o)}


def test_list_json_names_the_rule_that_protects_a_token(cli):
    rows = {(r["owner"], r["name"]): r for r in cli("list", "--json").json()["tokens"]}
    assert rows[("root", TRUST_NAME)]["state"] == "protected"
    assert rows[("root", TRUST_NAME)]["protected_by"] == (
        "protected: DNS cluster trust token (built-in rule reverse_trust_<uuid>)")
    assert rows[("root", "root-fine")]["protected_by"] is None


def write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def test_a_token_a_connected_application_uses_is_protected_for_its_owner(cli, server):
    write_file(os.path.join(cli.cpanel_root, "root", "conn-apps.json"),
               '{"cp-cloud": {"token_name": "root-expired", "jwt": {"x": 1}}}')
    run = cli("plan", "--json", "--expired")
    assert run.status == 0, run
    decisions = {(t["owner"], t["name"]): (t["decision"], t["reason"])
                 for t in run.json()["tokens"]}
    decision, why = decisions[("root", "root-expired")]
    assert decision == "protected"
    assert why.startswith("protected: used by connected application cp-cloud")
    assert decisions[("alice", "alice-expired")][0] == "revoke"


def test_a_malformed_connected_applications_file_is_a_warning_and_keeps_that_owners_tokens(
        cli, server):
    path = os.path.join(cli.cpanel_root, "var", "cpanel", "reseller-data", "bob", "conn-apps.json")
    write_file(path, '{"cp-cloud": {"token_name": ')
    run = cli("plan", "--json", "--expired")
    assert run.status == 0, run
    document = run.json()
    (problem,) = [p for p in document["problems"] if "conn-apps.json" in p]
    assert path in problem and "every WHM API token of bob is kept" in problem
    decisions = {(t["owner"], t["name"]): t["decision"] for t in document["tokens"]}
    assert decisions[("bob", "bob-expired")] == decisions[("bob", "bob-old")] == "protected"
    assert decisions[("alice", "alice-expired")] == "revoke"
    assert "warning: the Connected Applications file %s" % path in cli("plan").err


def test_list_json_and_one_owner(cli):
    run = cli("list", "--owner", "bob", "--json")
    assert run.status == 0, run
    document = run.json()
    rows = {row["name"]: row for row in document["tokens"]}
    assert sorted(rows) == ["bob-expired", "bob-fine", "bob-old"]
    assert rows["bob-expired"]["state"] == "expired" and rows["bob-fine"]["state"] == "active"
    assert rows["bob-expired"]["expires"] == "2026-11-25"
    assert document["owner_errors"] == {}


def test_plan_uses_the_config_policy_and_changes_nothing(cli, server):
    before = present(server)
    run = cli("plan")
    assert run.status == 0, run
    assert "Selected by: expired" in run.out
    assert "7 tokens of 4 owners would be revoked, 1 token kept as protected" in run.out
    assert "expired on 2026-11-25, 2 days ago" in run.out
    # ACTION says "protected"; the reason beside it does not say it again (issue 30.7).
    trust = [line for line in run.out.splitlines() if line.startswith("root ") and
             " protected " in line][0]
    assert "  DNS cluster trust token" in trust and "protected: DNS" not in run.out
    assert present(server) == before
    assert server.calls("api_token_revoke") == []
    assert cli.audit_records() == []


def plan_selection(cli, *args):
    run = cli("plan", "--json", *args)
    assert run.status == 0, run
    document = run.json()
    return {(t["owner"], t["name"]) for t in document["tokens"] if t["decision"] == "revoke"}


@pytest.mark.parametrize("args, expected", [
    (("--expired",), EXPIRED),
    (("--expired", "--owner", "bob"), {("bob", "bob-expired"), ("bob", "bob-old")}),
    (("--expired", "--owner", "bob", "--owner", "carol"),
     {("bob", "bob-expired"), ("bob", "bob-old"), ("carol", "carol-expired"),
      ("carol", "carol-old")}),
    (("--expired", "--older-than", "365"),
     {("root", "root-expired"), ("alice", "alice-old"), ("bob", "bob-old"),
      ("carol", "carol-old")}),
    (("--expired", "--name", "*-old"),
     {("alice", "alice-old"), ("bob", "bob-old"), ("carol", "carol-old")}),
    # --name and --owner without a criterion narrow the config's policy (expired), never
    # select every token in their scope.
    (("--name", "*-old"), {("alice", "alice-old"), ("bob", "bob-old"), ("carol", "carol-old")}),
    (("--name", "*-fine", "--name", "ancient"), set()),
    (("--owner", "bob"), {("bob", "bob-expired"), ("bob", "bob-old")}),
    (("--expiring-within", "100", "--owner", "alice"), {("alice", "alice-fine")}),
    (("--no-expiry",), {("root", "root-fine"), ("root", "ancient")}),
    (("--no-expiry", "--full-access"), {("root", "ancient")}),
    (("--no-expiry", "--no-ip-limit"), {("root", "ancient")}),
    (("--full-access", "--older-than", "1000"), {("root", "ancient")}),
    (("--unused-for", "30",), set()),  # no api_tokens_log: no evidence, nothing selected
])
def test_selectors_and_their_combinations(cli, args, expected):
    assert plan_selection(cli, *args) == expected


def test_a_resellers_token_with_every_privilege_of_its_owner_has_full_access(cli, server):
    # A reseller's listing never shows `all`: full access is "every ACL the owner has",
    # read from cPanel's resellers file.
    server.set_reseller_acls("alice", ["list-accts", "create-acct"])
    server.set_reseller_acls("bob", ["all"])
    add(server, "alice", "alice-narrow", age_days=5, acls={"list-accts": 1})
    add(server, "alice", "alice-both", age_days=5, acls={"list-accts": 1, "create-acct": 1})
    add(server, "bob", "bob-narrow", age_days=5, acls={"list-accts": 1})
    server.write_resellers_file(cli.cpanel_root)

    selected = plan_selection(cli, "--full-access", "--owner", "alice", "--owner", "bob")

    assert selected == {("alice", "alice-expired"), ("alice", "alice-old"), ("alice", "alice-fine"),
                        ("alice", "alice-both"), ("bob", "bob-expired"), ("bob", "bob-old"),
                        ("bob", "bob-fine")}
    reasons = {(t["owner"], t["name"]): t["reason"]
               for t in cli("plan", "--json", "--full-access").json()["tokens"]}
    assert reasons[("alice", "alice-fine")] == "full access (owner's privileges)"
    assert reasons[("bob", "bob-fine")] == "full access"  # bob has `all`: a full listing
    assert reasons[("root", "ancient")] == "full access"
    listing = cli("list", "--owner", "alice")
    row = next(line for line in listing.out.splitlines() if "alice-fine" in line)
    assert "yes (owner's privileges)" in row
    assert "no" in next(line for line in listing.out.splitlines() if "alice-narrow" in line)


def test_configured_protection_is_honoured(cli):
    cli.config("protect:\n  names: ['alice-*']\n")
    run = cli("plan", "--json", "--expired")
    decisions = {(t["owner"], t["name"]): (t["decision"], t["reason"])
                 for t in run.json()["tokens"]}
    decision, why = decisions[("alice", "alice-old")]
    assert decision == "protected"
    assert why.startswith("protected: matches protect.names 'alice-*'")
    assert decisions[("root", TRUST_NAME)][0] == "protected"
    assert decisions[("bob", "bob-old")][0] == "revoke"


def test_builtin_protection_can_be_switched_off(cli):
    cli.config("protect:\n  builtin: false\n")
    assert ("root", TRUST_NAME) in plan_selection(cli, "--expired")


def test_the_config_policy_is_or_ed(cli):
    cli.config("policy:\n  expired: true\n  older_than_days: 1500\n")
    assert plan_selection(cli) == EXPIRED | {("root", "ancient")}


def test_the_config_owners_restrict_the_policy(cli):
    cli.config("owners: [root, carol]\n")
    assert plan_selection(cli) == {("root", "root-expired"), ("carol", "carol-expired"),
                                   ("carol", "carol-old")}


def test_no_progress_chatter_when_stderr_is_not_a_terminal(cli):
    run = cli("plan")
    assert run.status == 0 and run.err == ""


def test_progress_goes_to_stderr_on_a_terminal(cli):
    import pty
    import subprocess
    import sys

    from tests.helpers import BIN
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen([sys.executable, BIN, "plan", "--json"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=slave, env=cli.env())
        out, _ = child.communicate(timeout=60)
        os.close(slave)
        slave = None
        chatter = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chatter += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert child.returncode == 0
    assert json.loads(out.decode())["counts"]["revoke"] == 7  # stdout stays clean JSON
    assert b"listing the tokens of 4 owners" in chatter


# -- sweep and revoke ----------------------------------------------------------------


def test_sweep_without_yes_off_a_terminal_is_refused(cli, server):
    run = cli("sweep", "--expired")
    assert run.status == 2, run
    assert "refusing to revoke without --yes" in run.err
    assert server.calls("api_token_revoke") == []
    assert EXPIRED <= present(server)
    assert [r["event"] for r in cli.audit_records()] == []


def test_sweep_yes_revokes_verifies_and_records(cli, server):
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 0, run
    assert not (EXPIRED & present(server))
    assert ("root", TRUST_NAME) in present(server)
    assert "7 revoked" in run.out and "1 kept-protected" in run.out
    intent, outcome = cli.audit_records()
    assert (intent["event"], outcome["event"]) == ("intent", "outcome")
    assert intent["actor"] == outcome["actor"] == "cli:root"
    assert {(t["owner"], t["name"]) for t in intent["tokens"]} == EXPIRED
    expected = dict.fromkeys(EXPIRED, "revoked")
    expected[("root", TRUST_NAME)] = "kept-protected"
    assert outcome_of(outcome) == expected
    for record in (intent, outcome):
        assert all(set(t) == TOKEN_RECORD_KEYS for t in record["tokens"])
    assert stat.S_IMODE(os.stat(cli.audit_path).st_mode) == 0o600


def test_sweep_json(cli):
    run = cli("sweep", "--expired", "--owner", "alice", "--yes", "--json")
    assert run.status == 0, run
    document = run.json()
    assert document["mode"] == "enforce" and document["counts"]["revoked"] == 2
    assert outcome_of(document) == {("alice", "alice-expired"): "revoked",
                                    ("alice", "alice-old"): "revoked"}


def test_sweep_with_nothing_selected(cli, server):
    run = cli("sweep", "--name", "nothing-*", "--yes")
    assert run.status == 0, run
    assert "nothing to do" in run.out
    assert server.calls("api_token_revoke") == []


def test_the_whmapi1_calls_are_the_floor(cli, server):
    """One listresellers, per owner one list, per swept owner a list right before the
    revoke, one revoke and one verifying list."""
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 0, run
    assert len(server.calls("listresellers")) == 1
    assert sorted(c["owner"] for c in server.calls("api_token_list")) == sorted(OWNERS * 3)
    assert sorted(c["owner"] for c in server.calls("api_token_revoke")) == sorted(OWNERS)
    assert len(server.calls()) == 1 + 4 + 4 + 4 + 4


def test_a_big_owner_is_revoked_in_batches_of_500(cli, server):
    names = ["bulk-%04d" % i for i in range(501)]
    server.replace_tokens("bob", {n: {"name": n, "create_time": NOW - 9 * 86400,
                                      "expires_at": NOW - 86400, "acls": {"all": 1},
                                      "whitelist_ips": None} for n in names})
    run = cli("sweep", "--expired", "--owner", "bob", "--yes", "--json")
    assert run.status == 0, run
    calls = server.calls("api_token_revoke")
    assert [len(names_in(c)) for c in calls] == [500, 1]
    assert server.token_names("bob") == set()
    assert len(server.calls("api_token_list")) == 3  # plan, right before, verify


def test_a_token_the_server_refuses_to_remove_is_failed_exit_3(cli, server):
    server.add_fault("keep_token", function="api_token_revoke", owner="carol", name="carol-old")
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 3, run
    [result_line] = [line for line in run.out.splitlines() if " carol-old " in line]
    assert "failed" in result_line and "still listed" in result_line
    outcome = outcome_of(cli.audit_records()[-1])
    assert outcome[("carol", "carol-old")] == "failed"
    assert outcome[("carol", "carol-expired")] == "revoked"


def test_whmapi1_failing_for_the_second_of_three_owners(cli, server):
    server.add_fault("exit", function="api_token_revoke", owner="bob", status=1,
                     message="Cpanel::Exception: bob's token store is locked")
    run = cli("sweep", "--expired", "--yes", "--json")
    assert run.status == 3, run
    document = run.json()
    fates = outcome_of(document)
    assert fates[("bob", "bob-expired")] == fates[("bob", "bob-old")] == "failed"
    for owner in ("alice", "carol"):
        assert fates[(owner, owner + "-expired")] == fates[(owner, owner + "-old")] == "revoked"
    assert not any(n.endswith(("-expired", "-old")) for o in ("alice", "carol")
                   for n in server.token_names(o))
    assert {"bob-expired", "bob-old"} <= server.token_names("bob")
    assert outcome_of(cli.audit_records()[-1]) == fates


def test_listing_failing_for_the_second_of_three_owners(cli, server):
    server.add_fault("fail", function="api_token_list", owner="bob", times=1,
                     reason="The user “bob” is locked.")
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 3, run
    assert "could not list the tokens of bob" in run.err
    assert "FAILED for bob" in run.out
    assert {"bob-expired", "bob-old"} <= server.token_names("bob")
    assert not ({("alice", "alice-old"), ("carol", "carol-old")} & present(server))
    assert "bob" in cli.audit_records()[-1]["owner_errors"]


def test_revoke_by_name(cli, server):
    run = cli("revoke", "--owner", "bob", "bob-fine", "no-such-token", "--yes", "--json")
    assert run.status == 0, run
    assert outcome_of(run.json()) == {("bob", "bob-fine"): "revoked",
                                      ("bob", "no-such-token"): "already-gone"}
    assert server.token_names("bob") == {"bob-expired", "bob-old"}
    assert server.calls("listresellers") == []


def test_revoke_of_names_already_gone_calls_no_revoke(cli, server):
    run = cli("revoke", "--owner", "alice", "vanished", "--yes")
    assert run.status == 0, run
    assert "already-gone" in run.out
    assert server.calls("api_token_revoke") == []


def test_revoke_keeps_protected_names_even_when_asked(cli, server):
    run = cli("revoke", "--owner", "root", TRUST_NAME, "root-fine", "--yes", "--json")
    assert run.status == 0, run
    assert outcome_of(run.json()) == {("root", TRUST_NAME): "kept-protected",
                                      ("root", "root-fine"): "revoked"}
    assert TRUST_NAME in server.token_names("root")


def test_revoke_without_yes_off_a_terminal_is_refused(cli, server):
    run = cli("revoke", "--owner", "bob", "bob-fine")
    assert run.status == 2 and "--yes" in run.err
    assert "bob-fine" in server.token_names("bob")


def run_on_a_terminal(cli, answer, *args):
    """Run with stdin on a pseudo-terminal and type `answer`."""
    import pty
    master, slave = pty.openpty()
    try:
        child = cli.start(*args, stdin=slave)
        os.write(master, (answer + "\n").encode())
        out, err = child.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return child.returncode, out.decode(), err.decode()


def test_on_a_terminal_the_prompt_states_the_count_and_no_keeps_everything(cli, server):
    status, out, _ = run_on_a_terminal(cli, "no", "sweep", "--expired")
    assert status == 0
    assert "Revoke 7 tokens of 4 owners? Type yes to go on:" in out
    assert "Revocation cannot be undone" in out.split("Revoke 7 tokens")[0]
    assert "Nothing was revoked." in out
    assert EXPIRED <= present(server) and server.calls("api_token_revoke") == []


def test_on_a_terminal_yes_goes_ahead(cli, server):
    status, out, _ = run_on_a_terminal(cli, "yes", "sweep", "--expired", "--owner", "bob")
    assert status == 0, out
    assert "Revoke 2 tokens of 1 owner?" in out
    assert server.token_names("bob") == {"bob-fine"}


def on_a_terminal_with_a_change(cli, args, change, answers):
    """Run args on a terminal; at the first question make `change`, then answer each of
    `answers` to the questions in turn. Returns (status, stdout, stderr)."""
    import pty
    master, slave = pty.openpty()
    try:
        child = cli.start(*args, stdin=slave)
        seen = b""
        for number, answer in enumerate(answers):
            while seen.count(b"Type yes to go on") <= number:
                chunk = os.read(child.stdout.fileno(), 4096)
                assert chunk, seen
                seen += chunk
            if number == 0:
                change()
            os.write(master, answer + b"\n")
        out, err = child.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return child.returncode, (seen + out).decode(), err.decode()


def test_a_plan_that_changed_while_the_person_decided_revokes_nothing(cli, server):
    """The prompt is answered without the lock held; the plan made under the lock must match,
    or nothing is revoked and the new plan is asked about."""
    status, out, err = on_a_terminal_with_a_change(
        cli, ("sweep", "--expired", "--owner", "bob"),
        lambda: server.remove_token("bob", "bob-old"),  # an admin revokes it in WHM meanwhile
        [b"yes", b"no"])
    assert status == 0
    assert "changed while you were deciding; nothing was revoked" in err
    assert "bob/bob-old is no longer listed" in err
    assert "Revoke 1 token of 1 owner?" in out and "Nothing was revoked." in out
    assert server.calls("api_token_revoke") == []
    assert "bob-expired" in server.token_names("bob")


def recreate(server, owner, name):
    server.remove_token(owner, name)
    server.add_token(owner, name, NOW - 60)  # a new token, a minute old, never expires


def test_a_token_re_created_while_the_person_decided_is_not_revoked(cli, server):
    """Issue 11.3: confirmation binds owner, name and creation time, not the name alone.
    The new bob-expired never expires, so the new plan leaves it out."""
    status, out, err = on_a_terminal_with_a_change(
        cli, ("sweep", "--expired", "--owner", "bob"),
        lambda: recreate(server, "bob", "bob-expired"), [b"yes", b"yes"])
    assert status == 0, err
    assert "bob/bob-expired was re-created under the same name" in err
    assert "Revoke 1 token of 1 owner?" in out
    assert server.token_names("bob") == {"bob-expired", "bob-fine"}  # the new token stays
    (revoke,) = server.calls("api_token_revoke")
    assert names_in(revoke) == ["bob-old"]
    assert [r["event"] for r in cli.audit_records()] == ["intent", "outcome"]


def test_a_name_revoked_by_hand_and_re_created_meanwhile_is_asked_about_again(cli, server):
    status, out, err = on_a_terminal_with_a_change(
        cli, ("revoke", "--owner", "bob", "bob-expired", "bob-old"),
        lambda: recreate(server, "bob", "bob-expired"), [b"yes", b"no"])
    assert status == 0, err
    assert "bob/bob-expired was re-created under the same name" in err
    assert out.count("Revoke 2 tokens of 1 owner?") == 2 and "Nothing was revoked." in out
    assert server.calls("api_token_revoke") == []


def test_scheduled_takes_no_selectors(cli, server):
    run = cli("sweep", "--scheduled", "--expired")
    assert run.status == 2 and "takes no selectors" in run.err
    assert server.calls() == []


# -- the lock ---------------------------------------------------------------------------


def test_a_second_sweep_fails_at_once_naming_the_holder(cli, server, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", cli.state_dir)
    with SweepLock(paths.lock_file()):
        run = cli("sweep", "--expired", "--yes")
        revoke = cli("revoke", "--owner", "bob", "bob-fine", "--yes")
    assert run.status == 1 and revoke.status == 1, run
    assert "another sweep is running (process %d holds" % os.getpid() in run.err
    assert server.calls() == []
    assert EXPIRED <= present(server)


def test_two_sweeps_at_once_never_revoke_a_token_twice(cli, server):
    server.add_fault("latency", function="api_token_list", seconds=0.05)
    children = [cli.start("sweep", "--expired", "--yes", "--json") for _ in range(2)]
    results = [(c.wait(timeout=120), c.stdout.read(), c.stderr.read()) for c in children]
    for child in children:
        child.stdout.close()
        child.stderr.close()
    statuses = sorted(status for status, _, _ in results)
    assert statuses in ([0, 0], [0, 1]), results
    revoked = [n for c in server.calls("api_token_revoke") for n in names_in(c)]
    assert len(revoked) == len(set(revoked))
    assert len(server.accounting_lines()) == len(EXPIRED)
    assert not (EXPIRED & present(server))


def test_parallel_owners_1_lists_one_owner_at_a_time(cli, server):
    cli.config("parallel_owners: 1\n")
    server.add_fault("latency", function="api_token_list", seconds=0.02)
    assert cli("plan").status == 0
    spans = sorted((c["start"], c["start"] + c["duration"]) for c in server.calls("api_token_list"))
    assert len(spans) == 4
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end  # each listing began after the previous one ended


# -- scheduled runs -------------------------------------------------------------------------


def test_scheduled_enforce_revokes_and_reports(cli, server):
    cli.config("mode: enforce\n")
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    assert "revoked" in run.out
    assert not (EXPIRED & present(server))
    assert {r["actor"] for r in cli.audit_records()} == {"cron"}


def test_scheduled_preview_revokes_nothing_silently_and_records_it(cli, server):
    run = cli("sweep", "--scheduled")  # mode defaults to preview
    assert run.status == 0, run
    assert run.out == "" and run.err == ""
    assert server.calls("api_token_revoke") == [] and EXPIRED <= present(server)
    (record,) = cli.audit_records()
    assert record["event"] == "preview" and record["actor"] == "cron"
    assert {(t["owner"], t["name"]) for t in record["tokens"]
            if t["action"] == "would-revoke"} == EXPIRED


def test_scheduled_json_reports_the_run(cli, server):
    cli.config("mode: enforce\n")
    run = cli("sweep", "--scheduled", "--json")
    assert run.status == 0, run
    document = run.json()
    assert document["actor"] == "cron" and document["counts"]["revoked"] == len(EXPIRED)


def test_scheduled_run_with_nothing_to_do_prints_nothing(cli, server):
    cli.config("mode: enforce\npolicy:\n  names: ['nothing-*']\n")
    run = cli("sweep", "--scheduled")
    assert (run.status, run.out, run.err) == (0, "", "")
    assert server.calls("api_token_revoke") == []


@pytest.mark.parametrize("config", [
    "policy: {expired: false}\nowners: [bob]\n",
    "policy: {expired: false, names: ['*']}\n",
    "policy: {expired: false, names: ['bob-*']}\nowners: [bob, carol]\n",
])
def test_owners_and_names_alone_revoke_nothing_on_schedule(cli, server, config):
    """Issue 11.1: this once revoked every token of bob ("owned by bob")."""
    cli.config("mode: enforce\n" + config)
    before = present(server)
    run = cli("sweep", "--scheduled")
    assert (run.status, run.out) == (0, ""), run
    assert server.calls("api_token_revoke") == [] and present(server) == before
    plan = cli("plan", "--json", "--owner", "bob", "--name", "*").json()
    assert plan["counts"]["revoke"] == 0
    assert cli("sweep", "--yes", "--owner", "bob").status == 0
    assert present(server) == before


def test_a_scheduled_run_with_unverified_tokens_is_not_silent(cli, server):
    cli.config("mode: enforce\nowners: [bob]\n")  # nothing is verified revoked
    server.add_fault("fail", function="api_token_list", owner="bob", after=2)
    run = cli("sweep", "--scheduled")
    assert run.status == 3, run
    assert "unverified" in run.out and "tokensweeper list --owner bob" in run.out


def test_scheduled_run_refuses_only_the_owners_over_the_cap(cli, server):
    cli.config("mode: enforce\nmax_revoke_per_run: 1\n")
    run = cli("sweep", "--scheduled")
    assert run.status == 1, run  # cron sees a run that did not do its job
    assert "REFUSED" in run.out and "more than max_revoke_per_run (1)" in run.out
    assert ("root", "root-expired") not in present(server)  # root's one token went
    assert EXPIRED - {("root", "root-expired")} <= present(server)
    outcome = cli.audit_records()[-1]
    assert outcome["event"] == "outcome" and "refused alice (2 tokens)" in outcome["refused"]
    assert {(t["owner"], t["name"]) for t in outcome["tokens"] if t["action"] == "refused"} == (
        EXPIRED - {("root", "root-expired")})
    # The audit command shows both what went and what the cap held back.
    row = cli("audit").out.splitlines()[1]  # one row per run (issue 14.10)
    assert "6 refused, 1 revoked; over the cap: max_revoke_per_run is 1" in row


def test_a_scheduled_preview_over_the_cap_says_so(cli, server):
    cli.config("mode: preview\nmax_revoke_per_run: 1\n")
    run = cli("sweep", "--scheduled")
    assert run.status == 1, run
    assert "over the cap" in run.out
    assert server.calls("api_token_revoke") == [] and EXPIRED <= present(server)
    (record,) = cli.audit_records()
    assert record["event"] == "preview" and "over the cap" in record["refused"]
    assert {t["action"] for t in record["tokens"]} >= {"would-revoke", "refused"}


def test_the_cap_does_not_bind_a_person(cli, server):
    cli.config("mode: enforce\nmax_revoke_per_run: 1\n")
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 0, run
    assert not (EXPIRED & present(server))


def test_a_person_revokes_even_when_mode_is_preview(cli, server):
    cli.config("mode: preview\n")
    assert cli("sweep", "--expired", "--yes").status == 0
    assert not (EXPIRED & present(server))


# -- configuration errors ----------------------------------------------------------------------


def test_check_config_ok_and_defaults(cli):
    run = cli("check-config")
    assert run.status == 0, run
    assert run.out.startswith("OK: defaults (no file at %s)" % cli.config_path)
    cli.config("mode: enforce\n")
    document = cli("check-config", "--json").json()
    assert document["ok"] is True and document["config"]["mode"] == "enforce"


def test_check_config_names_every_problem_and_exits_2(cli):
    cli.config(BAD_CONFIG + "mode: sometimes\n")
    run = cli("check-config")
    assert run.status == 2, run
    assert BAD_CONFIG_PROBLEM in run.err
    assert "mode: expected one of preview, enforce, got 'sometimes'" in run.err
    document = cli("check-config", "--json").json()
    assert document["ok"] is False and len(document["problems"]) == 2


def test_check_config_warns_when_the_policy_selects_nothing(cli):
    cli.config("policy:\n  expired: false\n")
    run = cli("check-config")
    assert run.status == 0 and "warning: the policy selects nothing" in run.out


@pytest.mark.parametrize("args", [("list",), ("plan",), ("sweep", "--expired", "--yes"),
                                  ("sweep", "--scheduled"),
                                  ("revoke", "--owner", "bob", "bob-fine", "--yes")])
def test_no_command_acts_on_a_bad_config(cli, server, args):
    cli.config(BAD_CONFIG + "mode: enforce\n")
    run = cli(*args)
    assert run.status == 2, run
    assert BAD_CONFIG_PROBLEM in run.err and "check-config" in run.err
    assert server.calls() == []
    assert len(present(server)) == 13
    assert cli.audit_records() == []


# -- runtime failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("pinned", ["99999999999999999999", "1e9"])
def test_an_unusable_tokensweeper_now_is_a_usage_error_not_a_traceback(cli, server, pinned):
    run = cli("plan", TOKENSWEEPER_NOW=pinned)
    assert run.status == 2, run
    assert "TOKENSWEEPER_NOW" in run.err and "Traceback" not in run.err
    assert server.calls() == []


def test_a_missing_whmapi1_is_exit_1_naming_the_variable(cli, tmp_path):
    run = cli("list", TOKENSWEEPER_WHMAPI1=str(tmp_path / "no-whmapi1"))
    assert run.status == 1, run
    assert "TOKENSWEEPER_WHMAPI1" in run.err and "no-whmapi1" in run.err
    assert "Traceback" not in run.err


def test_an_unwritable_audit_log_means_nothing_is_revoked(cli, server):
    os.makedirs(cli.audit_path)  # a directory where the log should be: no write can succeed
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 1, run
    assert "cannot write the audit log" in run.err and "Traceback" not in run.err
    assert server.calls("api_token_revoke") == []
    assert EXPIRED <= present(server)


def test_an_unusable_state_directory_is_a_one_line_error(cli, server, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = cli("sweep", "--expired", "--yes", TOKENSWEEPER_STATE_DIR=str(blocker / "state"))
    assert run.status == 1, run
    assert "Traceback" not in run.err and str(blocker) in run.err
    assert server.calls("api_token_revoke") == []


def test_an_unreadable_audit_log_is_a_one_line_error(cli):
    os.makedirs(cli.audit_path)
    run = cli("audit")
    assert run.status == 1, run
    assert "Traceback" not in run.err and cli.audit_path in run.err


# -- audit ---------------------------------------------------------------------------------


def test_audit_shows_what_happened_one_row_per_run(cli):
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    cli("sweep", "--expired", "--owner", "carol", "--yes")
    run = cli("audit")
    assert run.status == 0, run
    lines = run.out.splitlines()
    assert lines[0].split() == ["STARTED", "RUN", "ACTOR", "MODE", "EVENT", "TOKENS"]
    rows = lines[1:3]
    assert [row.split()[2:5] for row in rows] == [["cli:root", "enforce", "outcome"]] * 2
    assert all(row.endswith("2 revoked") for row in rows)
    assert "2 runs. `tokensweeper audit --run ID` shows one run's tokens." in run.out
    document = cli("audit", "--json").json()
    assert [r["event"] for r in document["records"]] == ["intent", "outcome"] * 2
    assert document["damaged_lines"] == 0


def test_audit_survives_a_truncated_last_line(cli):
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    cli("sweep", "--expired", "--owner", "carol", "--yes")
    with open(cli.audit_path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.truncate(size - 40)  # a crash in the middle of the last record
    run = cli("audit", "--json")
    assert run.status == 0, run
    document = run.json()
    assert [r["event"] for r in document["records"]] == ["intent", "outcome", "intent"]
    assert document["damaged_lines"] == 1
    assert "skipped 1 line" in run.err
    table = cli("audit")
    assert table.status == 0
    assert [line for line in table.out.splitlines() if "INTERRUPTED" in line]
    assert "2 runs." in table.out


def test_audit_flags_an_interrupted_run_and_shows_one_run(cli):
    """Issue 11.6: the page flagged an intent without outcome; the command did not."""
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    cli("sweep", "--expired", "--owner", "carol", "--yes")
    with open(cli.audit_path, "rb") as handle:
        lines = handle.readlines()
    with open(cli.audit_path, "wb") as handle:
        handle.writelines(lines[:-1])  # killed before carol's outcome was written
    interrupted = json.loads(lines[-2])["run_id"]
    finished = json.loads(lines[0])["run_id"]
    run = cli("audit")
    assert run.status == 0, run
    assert "warning: run %s recorded its intent to revoke but no outcome" % interrupted in run.err
    (row,) = [r for r in run.out.splitlines() if interrupted in r]
    assert "INTERRUPTED (no outcome)" in row
    assert not [r for r in run.out.splitlines() if finished in r and "INTERRUPTED" in r]
    assert cli("audit", "--json").json()["interrupted_runs"] == [interrupted]

    one = cli("audit", "--run", interrupted)
    assert one.status == 0, one
    assert "INTERRUPTED" in one.out
    assert "carol-expired" in one.out and "carol-old" in one.out and "bob-" not in one.out
    document = cli("audit", "--run", finished, "--json").json()
    assert document["interrupted"] is False
    assert [r["event"] for r in document["records"]] == ["intent", "outcome"]
    assert {(t["name"], t["action"]) for t in document["tokens"]} == {
        ("bob-expired", "revoked"), ("bob-old", "revoked")}
    missing = cli("audit", "--run", "20990101T000000Z-abcdef")
    assert missing.status == 1 and "no run 20990101T000000Z-abcdef" in missing.err
    empty = cli("audit", "--run", "")  # a scripted `--run "$ID"` with ID unset: no listing
    assert empty.status == 1 and "no run" in empty.err and finished not in empty.out


def test_audit_since(cli):
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    assert len(cli("audit", "--json", "--since", "2026-11-01").json()["records"]) == 2
    assert cli("audit", "--json", "--since", "2099-01-01").json()["records"] == []
    bad = cli("audit", "--since", "last tuesday")
    assert bad.status == 2 and "--since" in bad.err


def test_audit_since_reads_past_a_hand_edited_record_whose_time_is_not_a_number(cli):
    """A line that is a JSON object but not one the plugin wrote (an epoch of "soon", null,
    Infinity) must not stop the admin from reading the rest: it counts as having no time."""
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    with open(cli.audit_path, "a") as handle:
        for epoch in ('"soon"', "null", "Infinity", "true"):
            handle.write('{"event":"note","run_id":"edited","epoch":%s}\n' % epoch)
    run = cli("audit", "--json", "--since", "2026-11-01")
    assert run.status == 0, run
    assert [r["event"] for r in run.json()["records"]] == ["intent", "outcome"]
    assert cli("audit").status == 0

def test_audit_of_no_log_is_empty(cli):
    run = cli("audit", "--json")
    assert run.status == 0
    assert run.json() == {"records": [], "damaged_lines": 0, "interrupted_runs": [],
                          "queued_events": []}


@pytest.mark.parametrize("args", [("list",), ("plan",), ("sweep", "--expired", "--yes"),
                                  ("revoke", "--owner", "bob", "bob-fine", "--yes"), ("audit",),
                                  ("check-config",)])
def test_json_everywhere(cli, args):
    run = cli(*(args + ("--json",)))
    assert run.status == 0, run
    assert isinstance(run.json(), dict)


# -- last-used evidence in plans and the audit log ----------------------------------------


def write_tokens_log(cli, *lines):
    logs = os.path.join(cli.cpanel_root, "usr", "local", "cpanel", "logs")
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, "api_tokens_log"), "w") as handle:
        handle.writelines(line + "\n" for line in lines)


def log_line(when, user, token, ip="198.51.100.9"):
    return ("[%s +0000] info [whostmgrd] Host: ['%s'] HTTP Status: ['200'], User: ['%s'], "
            "Token Name: ['%s'], Request: ['GET /json-api/listaccts HTTP/1.1']" % (
                when, ip, user, token))


def test_plan_and_audit_say_when_each_token_was_last_used(cli, server):
    write_tokens_log(cli, log_line("2026-09-01 08:00:00", "alice", "alice-fine"),
                     log_line("2026-11-20 10:01:00", "bob", "bob-expired"))
    plan = cli("plan", "--expired", "--json").json()
    used = {(t["owner"], t["name"]): t["last_used"] for t in plan["tokens"]}
    assert used[("bob", "bob-expired")] == "2026-11-20 10:01 UTC from 198.51.100.9"
    assert used[("carol", "carol-expired")] == "never used"  # created after the evidence began
    assert used[("carol", "carol-old")] == "not seen since 2026-09-01"
    table = cli("plan", "--expired")
    assert "LAST_USED" in table.out and "not seen since 2026-09-01" in table.out
    cli("sweep", "--expired", "--owner", "bob", "--yes")
    intent, outcome = cli.audit_records()
    for record in (intent, outcome):
        used = {t["name"]: t["last_used"] for t in record["tokens"]}
        assert used["bob-expired"] == "2026-11-20 10:01 UTC from 198.51.100.9"


def test_list_shows_every_owner_even_when_sweeps_are_limited_to_some(cli, server):
    cli.config("owners: [bob]\n")
    listed = cli("list", "--json").json()["tokens"]
    assert {t["owner"] for t in listed} == set(OWNERS)
    planned = cli("plan", "--json").json()
    revoke = {(t["owner"], t["name"]) for t in planned["tokens"] if t["decision"] == "revoke"}
    assert revoke == {("bob", "bob-expired"), ("bob", "bob-old")}


def test_json_output_never_mixes_with_a_question(cli, server):
    run = cli("sweep", "--expired", "--json")
    assert run.status == 2 and "add --yes" in run.err and run.out == ""
    assert server.calls() == []


def test_cpanels_curly_quotes_survive_an_ascii_only_terminal(cli, server):
    """Cron runs Python 3.6 in the C locale: stdout is ASCII there."""
    server.add_fault("fail", function="api_token_revoke", owner="bob",
                     reason="The system failed to revoke the API token: “locked”.")
    run = cli("sweep", "--expired", "--owner", "bob", "--yes", PYTHONIOENCODING="ascii")
    assert run.status == 3, run
    assert "Traceback" not in run.err
    assert "\\u201clocked\\u201d" in run.out and "failed" in run.out


def test_a_former_reseller_with_tokens_on_disk_is_a_warning_not_a_failure(cli, server):
    """Reseller privileges removed: the token file stays, whmapi1 --user refuses the user."""
    server.add_reseller("gone")
    server.add_token("gone", "gone-old", NOW - 400 * DAY, expires_at=NOW - DAY)
    server.write_token_files(cli.cpanel_root)
    server.remove_reseller("gone")
    resellers = os.path.join(cli.cpanel_root, "var", "cpanel", "resellers")
    with open(resellers, "w") as handle:
        handle.write("alice:all\nbob:all\ncarol:all\n")
    run = cli("plan", "--expired", "--json")
    assert run.status == 0, run
    assert any("gone has WHM API tokens on disk but is not a reseller" in p
               for p in run.json()["problems"])
    assert "warning: gone has WHM API tokens on disk" in run.err
    cli.config("mode: enforce\n")
    scheduled = cli("sweep", "--scheduled")
    assert scheduled.status == 0 and "gone" not in scheduled.err + scheduled.out


def test_a_former_reseller_whose_last_token_was_revoked_is_no_owner(cli, server):
    """cPanel keeps the emptied token file as {"tokens":{}}: no warning, no whmapi1 call."""
    server.add_reseller("gone")
    server.add_token("gone", "gone-old", NOW - 400 * DAY, expires_at=NOW - DAY)
    server.write_token_files(cli.cpanel_root)
    server.remove_token("gone", "gone-old")
    server.remove_reseller("gone")
    resellers = os.path.join(cli.cpanel_root, "var", "cpanel", "resellers")
    with open(resellers, "w") as handle:
        handle.write("alice:all\nbob:all\ncarol:all\n")
    server.reset_calls()
    run = cli("plan", "--expired", "--json")
    assert run.status == 0, run
    assert run.json()["problems"] == [] and "gone" not in run.err
    assert "gone" not in {c["owner"] for c in server.calls()}


def test_a_reseller_whose_listing_fails_is_still_an_error(cli, server):
    server.add_fault("fail", function="api_token_list", owner="bob", reason="locked")
    server.write_token_files(cli.cpanel_root)  # bob has a file, but no resellers file says more
    run = cli("plan", "--expired", "--json")
    assert run.status == 3 and "bob" in run.json()["owner_errors"]


# -- issue 14.10: the command line for a person at a terminal ------------------------------


def test_list_fits_a_narrow_terminal_and_says_how_to_see_every_column(cli):
    run = cli("list", COLUMNS="80")
    assert run.status == 0, run
    table_lines = run.out.split("\n\n")[0].splitlines()
    assert max(len(line) for line in table_lines) <= 80
    assert table_lines[0].split()[:3] == ["HOLDER", "NAME", "STATE"]
    assert "CREATED" not in table_lines[0]
    hint = [" ".join(run.out.split("\nHidden: ")[1].splitlines())]  # wrapped to 80 too
    assert max(len(line) for line in run.out.splitlines()) <= 80
    assert hint and "created" in hint[0] and "to fit 80 columns" in hint[0]
    assert "tokensweeper list --wide" in hint[0] and "states cut short" in hint[0]
    # The 50-character name is wrapped inside its column, whole over two lines.
    at = [n for n, line in enumerate(table_lines) if " reverse_trust_" in line][0]
    trust, rest = table_lines[at], table_lines[at + 1]
    assert rest.startswith(" ") and (trust.split()[1] + rest.split()[0]) == TRUST_NAME
    assert "protected: DNS cl..." in trust
    wide = cli("list", "--wide", COLUMNS="80")
    assert "CREATED" in wide.out.splitlines()[0] and "Hidden" not in wide.out


def test_list_by_state(cli):
    run = cli("list", "--state", "expired", "--json")
    assert run.status == 0, run
    names = {(t["owner"], t["name"]) for t in run.json()["tokens"]}
    assert names == EXPIRED
    both = cli("list", "--state", "expired", "--state", "protected")
    assert both.status == 0, both
    assert TRUST_NAME in both.out and "bob-fine" not in both.out
    assert "8 tokens of 4 owners in state expired or protected (of 13 tokens listed)" in both.out
    bad = cli("list", "--state", "stail")
    assert bad.status == 2 and "invalid choice: 'stail'" in bad.err


@pytest.mark.parametrize("command", [None] + COMMANDS + ["incident-report"])
def test_help_has_examples_and_exit_codes(cli, command):
    run = cli(*([command, "--help"] if command else ["--help"]))
    assert run.status == 0, run
    assert "examples:\n  tokensweeper " in run.out
    assert "exit status:\n  0  done" in run.out and "\n  3  finished, but" in run.out


def test_revoke_for_someone_who_owns_no_tokens_is_a_usage_error(cli, server):
    server.add_account("nobody")
    run = cli("revoke", "--owner", "nobody", "deploy", "--yes")
    assert run.status == 2, run
    assert "nobody is not root or a reseller" in run.err
    assert server.calls("api_token_revoke") == [] and cli.audit_records() == []
    unknown = cli("revoke", "--owner", "ghost", "deploy", "--yes")
    assert unknown.status == 2 and "ghost is not root or a reseller" in unknown.err


@pytest.mark.skipif(sys.version_info < (3, 7),
                    reason="the demo is a development tool (ThreadingHTTPServer, Python 3.7+)")
def test_the_demo_prints_everything_the_command_line_needs(tmp_path):
    """A shell with only what the running demo prints (and a PATH) lists the demo's tokens."""
    import shlex
    import subprocess
    import sys

    from tests.helpers import REPO
    demo = os.path.join(REPO, "tools", "demo_server.py")
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin"}
    server = subprocess.Popen([sys.executable, demo, "--setup", str(tmp_path), "--port", "0"],
                              stdout=subprocess.PIPE, env=env, universal_newlines=True)
    try:
        printed = []
        for line in server.stdout:
            printed.append(line.strip())
            if line.strip().startswith("# then"):
                break
    finally:
        server.terminate()
        server.wait(timeout=10)
    exports = dict(shlex.split(line[len("export "):])[0].split("=", 1)
                   for line in printed if line.startswith("export "))
    assert "TOKENSWEEPER_FAKE_STATE" in exports and "TOKENSWEEPER_STATE_DIR" in exports
    env.update(exports)
    listed = subprocess.run([sys.executable, os.path.join(REPO, "bin", "tokensweeper"), "list",
                             "--json"], env=env, stdout=subprocess.PIPE, check=True)
    assert {token["owner"] for token in json.loads(listed.stdout.decode())["tokens"]} >= {"root"}


@pytest.mark.parametrize("glob", ["root-expired\n", "root-expired ", "ö*", "x" * 101, "root-[",
                                  "a/b", ""])
def test_a_name_pattern_that_can_match_no_token_name_is_a_usage_error(cli, glob):
    """--name takes what protect.names and policy.names take (token-name characters and
    * ? [...], at most 100): a stray newline, space or letter no token name can hold is
    refused naming the value, never a silent "0 tokens" (nor a sweep that does nothing)."""
    for command in ("plan", "sweep"):
        run = cli(command, "--expired", "--name", glob, "--yes")
        assert run.status == 2, run
        assert "--name" in run.err and "not a token name pattern" in run.err, run
        assert "Traceback" not in run.err
    assert cli("plan", "--expired", "--name", "root-exp*").status == 0
