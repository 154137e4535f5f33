"""The account-event hook, run as cPanel runs it: the real hooks/tokensweeper-hook
script in its own process, one compact JSON event on stdin, against the fake
whmapi1. stdout is compared byte for byte: cPanel decides on its first word.

Runs on every Python of the matrix (3.6 syntax).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.fakes.fakeserver import FakeServer
from tests.helpers import DAY, NOW

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK = os.path.join(REPO, "hooks", "tokensweeper-hook")
FAKE_TOOLS = os.path.join(REPO, "tests", "fakes", "cpanel-root", "usr", "local", "cpanel", "bin")
PASSWORD = "Zq8!hunter2-SECRET-x7"

ENFORCE_SWEEP = "mode: enforce\n"
PREVIEW = "mode: preview\n"

# Engine modules the fast path must not load (the config parser, the templates,
# anything that starts whmapi1).
HEAVY = ("yaml", "jinja2", "tokensweeper.config", "tokensweeper.whmapi", "tokensweeper.sweep")

RUNPY_WRAPPER = """
import json, runpy, sys
out, script = sys.argv[1], sys.argv[2]
sys.argv = [script]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit:
    pass
with open(out, "w") as handle:
    json.dump(sorted(sys.modules), handle)
"""


# -- cPanel-shaped payloads (cpanel-facts.md §3): compact, no newline, numbers as strings --


def compact(document):
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def event(category, name, stage, data):
    return compact({
        "context": {"category": category, "event": name, "stage": stage, "point": "main"},
        "data": data,
        "hook": {"category": category, "event": name, "stage": stage, "hook": HOOK,
                 "exectype": "script", "weight": "100", "escalateprivs": "0"},
    })


def suspend(user, caller="root", result="1"):
    return event("Whostmgr", "Accounts::suspendacct", "post",
                 {"args": {"user": user, "reason": "Unpaid invoice #42", "disallowun": "0"},
                  "result": result, "user": caller})


def remove(user):
    return event("Whostmgr", "Accounts::Remove", "pre",
                 {"user": user, "killdns": "1", "keep_remote_databases": "0", "if_child": None})


def modify(user, newuser=None):
    data = {"user": user, "owner": "root", "domain": "example.com"}
    if newuser is not None:
        data["newuser"] = newuser
    return event("Whostmgr", "Accounts::Modify", "post", data)


def change_password(user, password=PASSWORD):
    return event("Passwd", "ChangePasswd", "post",
                 {"user": user, "newpass": password, "new_password": password, "origin": "whm",
                  "initiator": "root", "rawout": "", "optional_services": {"mysql": "1"}})


# -- the fake server --------------------------------------------------------------


# cPanel's DNS cluster trust token: reverse_trust_ + a lowercase v4 UUID, ACL clustering.
TRUST_NAME = "reverse_trust_a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


class Hook(object):
    """A fake server with root, reseller `res1` (who owns tokens) and plain cPanel accounts."""

    def __init__(self, base):
        self.base = str(base)
        self.server = FakeServer(os.path.join(self.base, "fake"), now=NOW)
        self.state_dir = os.path.join(self.base, "state")
        self.cpanel_root = os.path.join(self.base, "cpanel")
        self.config_path = os.path.join(self.base, "config.yaml")
        os.makedirs(os.path.join(self.cpanel_root, "var", "cpanel"))
        # cPanel's error_log, where the detached worker appends (the hook's stderr goes
        # there through cPanel).
        self.error_log = os.path.join(self.cpanel_root, "usr", "local", "cpanel", "logs",
                                      "error_log")
        os.makedirs(os.path.dirname(self.error_log))
        open(self.error_log, "w").close()

    def reseller(self, name, tokens=()):
        """A reseller in whmapi1 and the resellers file; tokens are (name, age, expires_in)."""
        self.server.add_reseller(name, acls=["list-accts", "create-acct", "suspend-acct",
                                             "clustering"])
        with open(os.path.join(self.cpanel_root, "var", "cpanel", "resellers"), "a") as handle:
            # clustering: its reverse_trust_ token is one cPanel could have made for it.
            handle.write("%s:list-accts,create-acct,suspend-acct,clustering\n" % name)
        self.tokens(name, tokens)

    def tokens(self, owner, tokens):
        for name, age_days, expires_in_days in tokens:
            expires = None if expires_in_days is None else NOW + expires_in_days * DAY
            # cPanel's trust token holds the clustering ACL only; the others full access.
            acls = {"clustering": 1} if name == TRUST_NAME else None
            self.server.add_token(owner, name, NOW - age_days * DAY, expires_at=expires,
                                  acls=acls)
        self.server.write_token_files(self.cpanel_root)

    def config(self, text):
        with open(self.config_path, "w") as handle:
            handle.write(text)

    def token_file(self, owner):
        return os.path.join(self.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2",
                            "whostmgr", owner + ".json")

    def terminate_reseller(self, name):
        """terminatereseller's first step: the reseller status goes, its token file stays."""
        self.server.add_account(name, owner="root")  # its own account goes last
        self.server.remove_reseller(name)
        path = os.path.join(self.cpanel_root, "var", "cpanel", "resellers")
        with open(path) as handle:
            kept = [line for line in handle if not line.startswith(name + ":")]
        with open(path, "w") as handle:
            handle.writelines(kept)

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
        env.update(self.server.full_env())
        # The worker starts at once (no quiet period): tests never wait on the clock.
        env.update(TOKENSWEEPER_STATE_DIR=self.state_dir, TOKENSWEEPER_CONFIG=self.config_path,
                   TOKENSWEEPER_CPANEL_ROOT=self.cpanel_root, TOKENSWEEPER_NOW=str(NOW),
                   TOKENSWEEPER_HOOK_SETTLE="0")
        env.update(extra)
        return env

    def run(self, stdin, argv=(), **extra):
        """(stdout bytes, stderr text) of one hook process."""
        proc = subprocess.Popen([sys.executable, HOOK] + list(argv), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(**extra))
        out, err = proc.communicate(stdin, timeout=120)
        return out, err.decode("utf-8", "replace")

    def handle(self, stdin, argv=(), **extra):
        """(stdout bytes, stderr text, what the worker wrote to the error_log) of one hook
        process and the worker it started, once that worker is done."""
        before = os.path.getsize(self.error_log)
        out, err = self.run(stdin, argv, **extra)
        self.wait_for_worker()
        with open(self.error_log) as handle:
            handle.seek(before)
            return out, err, handle.read()

    def wait_for_worker(self):
        """Block until no worker holds its lock (the hook hands the lock to the worker
        before it answers, so a worker it started is waited for), then check that it left
        the queue empty."""
        wait_for_worker(self.state_dir)

    def audit(self):
        path = os.path.join(self.state_dir, "audit.log")
        if not os.path.exists(path):
            return []
        with open(path) as handle:
            return [json.loads(line) for line in handle]


@pytest.fixture
def hook(tmp_path):
    h = Hook(tmp_path)
    h.tokens("root", [("root-ci", 400, -30)])
    h.reseller("res1", [("old-ci", 200, -10), ("deploy", 5, 300), (TRUST_NAME, 300, -1)])
    return h


def wait_for_worker(state_dir):
    import fcntl

    try:
        fd = os.open(os.path.join(state_dir, "hook-worker.lock"), os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks while a worker runs
    finally:
        os.close(fd)


QUEUED = "queued; a worker applies it within seconds (tokensweeper queue shows what waits)"


def queued(label, action="sweep"):
    return line("%s: %s %s" % (label, action, QUEUED))


def assert_worker_said(worker, text):
    """The worker wrote a line to cPanel's error_log that starts with text."""
    lines = [said for said in worker.splitlines()
             if said.startswith("tokensweeper-hook: " + text)]
    assert lines, worker


def line(text):
    return ("1 tokensweeper: %s\n" % text).encode("utf-8")


def assert_success_line(out):
    assert out.startswith(b"1 ") and out.endswith(b"\n") and out.count(b"\n") == 1, out


def assert_answer_starts(out, text):
    """One success line whose message starts with text."""
    assert_success_line(out)
    assert out.startswith(line(text).rstrip(b"\n")), out


# -- --describe -------------------------------------------------------------------


def test_describe_lists_the_four_events_and_the_guard_for_the_scripts_own_path(hook):
    out, _ = hook.run(b"", ["--describe"])
    entries = json.loads(out.decode("utf-8"))
    assert sorted((e["category"], e["event"], e["stage"]) for e in entries) == [
        ("Cpanel", "UAPI::Tokens::create_full_access", "pre"),
        ("Cpanel", "UAPI::Tokens::rename", "pre"),
        ("Passwd", "ChangePasswd", "post"),
        ("Whostmgr", "Accounts::Modify", "post"),
        ("Whostmgr", "Accounts::Remove", "pre"),
        ("Whostmgr", "Accounts::suspendacct", "post"),
    ]
    for entry in entries:
        assert entry["hook"] == os.path.realpath(HOOK)
        assert entry["exectype"] == "script"
        assert type(entry["weight"]) is int and entry["description"]
        if entry["category"] == "Cpanel":
            # The guard must stop a refused creation and read the root-only config.
            assert (entry["blocking"], entry["escalateprivs"]) == (1, 1)
        else:
            assert "blocking" not in entry  # must never be able to stop an account action


def installed_hook(top):
    """The hook as install.sh places it: interpreter and LIB_DIR rewritten."""
    target = os.path.join(top, "usr", "local", "cpanel", "3rdparty", "bin", "tokensweeper-hook")
    os.makedirs(os.path.dirname(target))
    with open(HOOK) as handle:
        lines = handle.read().splitlines(True)
    lines[0] = "#!%s\n" % sys.executable
    lib_dir = "LIB_DIR = %r\n" % os.path.join(REPO, "plugin")
    lines = [lib_dir if text.startswith("LIB_DIR = ") else text for text in lines]
    with open(target, "w") as handle:
        handle.write("".join(lines))
    os.chmod(target, 0o755)
    return target


@pytest.mark.skipif(os.geteuid() != 0, reason="manage_hooks runs for root only, like cPanel's")
def test_manage_hooks_registers_and_deletes_the_descriptor(tmp_path):
    top = str(tmp_path / "root")
    bin_dir = os.path.join(top, "usr", "local", "cpanel", "bin")
    os.makedirs(bin_dir)
    os.symlink(os.path.join(FAKE_TOOLS, "manage_hooks"), os.path.join(bin_dir, "manage_hooks"))
    script = installed_hook(top)
    manage = [sys.executable, os.path.join(bin_dir, "manage_hooks")]

    def registered():
        listing = json.loads(subprocess.check_output(manage + ["list", "--output=JSON"]))
        return [entry for events in listing.values() for entries in events.values()
                for entry in entries]

    added = subprocess.check_output(manage + ["add", "script", script], universal_newlines=True)
    assert added.count("Added hook for ") == 6
    assert {e["hook"] for e in registered()} == {script}
    listing = json.loads(subprocess.check_output(manage + ["list", "--output=JSON"]))
    guard_entries = [entry for event in ("UAPI::Tokens::create_full_access",
                                         "UAPI::Tokens::rename")
                     for entry in listing["Cpanel"][event]]
    assert [(e["blocking"], e["escalateprivs"]) for e in guard_entries] == [(1, 1), (1, 1)]
    assert [e for e in registered() if e.get("blocking")] == guard_entries, \
        "only the creation guard may block"
    subprocess.check_output(manage + ["delete", "script", script])
    assert registered() == []


# -- the fast path ----------------------------------------------------------------


def test_account_that_cannot_own_tokens_is_answered_without_whmapi1_or_config(hook, tmp_path):
    hook.config("this: is: not: yaml: [")  # proves the config is never read
    out, _ = hook.run(suspend("alice"))
    assert out == line("suspendacct alice: the account owns no API tokens; nothing to do")
    assert hook.server.calls() == []

    modules_file = str(tmp_path / "modules.json")
    proc = subprocess.Popen([sys.executable, "-c", RUNPY_WRAPPER, modules_file, HOOK],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=hook.env())
    out, _ = proc.communicate(suspend("alice"), timeout=60)
    assert out == line("suspendacct alice: the account owns no API tokens; nothing to do")
    with open(modules_file) as handle:
        loaded = set(json.load(handle))
    assert "tokensweeper.hook" in loaded
    assert not loaded & set(HEAVY)


def test_reseller_suspending_its_account_never_touches_the_resellers_tokens(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    out, _ = hook.run(suspend("alice", caller="res1"))
    assert out == line("suspendacct alice: the account owns no API tokens; nothing to do")
    assert hook.server.calls() == []
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


def test_a_former_reseller_with_a_token_file_is_not_on_the_fast_path(hook):
    hook.config(ENFORCE_SWEEP)
    hook.tokens("exres", [("leftover", 100, -5)])  # a token file, not in the resellers file
    out, _, err = hook.handle(suspend("exres"))
    assert out == queued("suspendacct exres")
    # The fake's whmapi1 refuses --user for this user: the worker asks anyway, and says why.
    assert_worker_said(
        err, "suspendacct exres: its tokens cannot be listed (not a reseller), nothing revoked")
    calls = [(c["function"], c["owner"]) for c in hook.server.calls()]
    assert calls == [("api_token_list", "exres")]
    assert "exres has WHM API tokens on disk but is not a reseller" in err


def test_a_former_reseller_whose_last_token_was_revoked_is_on_the_fast_path(hook):
    hook.config(ENFORCE_SWEEP)
    hook.server.add_reseller("exres")
    hook.tokens("exres", [("leftover", 100, -5)])
    hook.server.remove_token("exres", "leftover")  # cPanel keeps the file as {"tokens":{}}
    hook.server.remove_reseller("exres")
    token_file = os.path.join(hook.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2",
                              "whostmgr", "exres.json")
    with open(token_file) as handle:
        assert json.load(handle) == {"tokens": {}}
    out, err = hook.run(suspend("exres"))
    assert out == line("suspendacct exres: the account owns no API tokens; nothing to do")
    assert hook.server.calls() == []
    assert "not a reseller" not in err



def test_a_token_file_that_is_a_fifo_does_not_stall_the_account_action(hook):
    """cPanel waits for the hook (up to an hour): the fast path must never block on a token
    file that is not a regular file. Not knowing, it asks whmapi1."""
    token_dir = os.path.join(hook.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2",
                             "whostmgr")
    os.mkfifo(os.path.join(token_dir, "exres.json"))
    hook.config(ENFORCE_SWEEP)
    out, err, worker = hook.handle(suspend("exres"))
    assert out == queued("suspendacct exres")
    assert [(c["function"], c["owner"]) for c in hook.server.calls()] == [
        ("api_token_list", "exres")]
    assert "Traceback" not in err + worker

# -- suspension -------------------------------------------------------------------


def test_suspension_sweeps_the_accounts_stale_tokens_in_enforce_mode(hook):
    hook.config(ENFORCE_SWEEP)
    out, _, err = hook.handle(suspend("res1"))
    assert out == queued("suspendacct res1")
    assert_worker_said(err, "suspendacct res1: revoked 1 token, 1 kept as protected (run ")
    assert hook.server.token_names("res1") == {"deploy", TRUST_NAME}
    assert hook.server.token_names("root") == {"root-ci"}
    # The plan's listing, one right before the revoke, one revoke batch, one verifying
    # listing, all as the reseller.
    calls = hook.server.calls()
    functions = [c["function"] for c in calls]
    assert functions == ["api_token_list", "api_token_list", "api_token_revoke",
                         "api_token_list"]
    assert {c["owner"] for c in calls} == {"res1"}
    (record,) = [r for r in hook.audit() if r["event"] == "outcome"]
    assert record["actor"] == "hook:Accounts::suspendacct" and record["mode"] == "enforce"
    assert {(t["name"], t["action"]) for t in record["tokens"]} == {
        ("old-ci", "revoked"), (TRUST_NAME, "kept-protected")}
    assert "old-ci" in err  # the details reach cPanel's error_log


def test_preview_mode_records_what_it_would_revoke_and_revokes_nothing(hook):
    hook.config(PREVIEW)
    out, _, worker = hook.handle(suspend("res1"))
    assert out == queued("suspendacct res1")
    assert_worker_said(worker, "suspendacct res1: preview mode, would revoke 1 token (run ")
    assert hook.server.calls("api_token_revoke") == []
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    (record,) = hook.audit()
    assert record["event"] == "preview"
    assert [t["name"] for t in record["tokens"] if t["action"] == "would-revoke"] == ["old-ci"]


def test_revoke_all_revokes_every_token_of_the_account_whatever_its_name(hook):
    """A name any reseller can give its tokens does not shield them from its own suspension."""
    hook.tokens("res1", [("WP-Dashboard", 10, None)])
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    out, _, worker = hook.handle(suspend("res1"))
    assert out == queued("suspendacct res1", "revoke_all")
    assert_worker_said(worker, "suspendacct res1: revoked 4 tokens (run ")
    assert hook.server.token_names("res1") == set()
    assert hook.server.token_names("root") == {"root-ci"}
    (record,) = [r for r in hook.audit() if r["event"] == "outcome"]
    reasons = {t["name"]: t["reason"] for t in record["tokens"]}
    assert "looked like a system token (DNS cluster trust token (built-in rule " \
        "reverse_trust_<uuid>))" in reasons[TRUST_NAME]
    assert "looked like a system token (reserved for the WebPros dashboard" in \
        reasons["WP-Dashboard"]
    assert "looked like" not in reasons["old-ci"]


def test_revoke_all_keeps_the_tokens_the_admins_own_config_protects(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\nprotect: {names: [deploy]}\n")
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: revoked 2 tokens, 1 kept as protected")
    assert hook.server.token_names("res1") == {"deploy"}


def test_revoke_all_on_removal_ignores_a_connected_applications_claim_of_the_account(hook):
    path = os.path.join(hook.cpanel_root, "var", "cpanel", "reseller-data", "res1")
    os.makedirs(path)
    with open(os.path.join(path, "conn-apps.json"), "w") as handle:
        handle.write('{"app": {"token_name": "deploy"}}')
    hook.config(ENFORCE_SWEEP + "events: {remove: revoke_all}\n")
    out, _ = hook.run(remove("res1"))  # at once: cPanel deletes the token files next
    assert_answer_starts(out, "Remove res1: revoked 3 tokens (run ")
    assert not os.path.exists(os.path.join(hook.state_dir, "hook-queue"))
    assert hook.server.token_names("res1") == set()


def test_ignore_makes_no_whmapi1_call(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: ignore}\n")
    out, _ = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: events.suspend is ignore; nothing to do")
    assert hook.server.calls() == []


def test_a_failed_suspension_changes_nothing(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    out, _ = hook.run(suspend("res1", result="0"))
    assert out == line("suspendacct: cPanel reports the suspension failed; nothing to do")
    assert hook.server.calls() == []


def test_an_owner_outside_the_configs_owners_is_left_alone(hook):
    hook.config(ENFORCE_SWEEP + "owners: [root]\nevents: {suspend: revoke_all}\n")
    out, _ = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: not in the config's owners; nothing to do")
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


def test_a_policy_that_selects_nothing_never_means_every_token(hook):
    hook.config(ENFORCE_SWEEP + "policy: {expired: false}\n")
    out, _ = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: the policy selects nothing; nothing to do")
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


@pytest.mark.parametrize("policy", ['{expired: false, names: ["*"]}',
                                    '{expired: false, names: ["old-*", "deploy"]}'])
def test_a_policy_of_names_alone_never_means_every_matching_token(hook, policy):
    """Issue 11.1: names only narrow; on their own they once revoked every match."""
    hook.config(ENFORCE_SWEEP + "policy: %s\n" % policy)
    out, _ = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: the policy selects nothing; nothing to do")
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    assert hook.server.calls("api_token_revoke") == []


def test_revoke_all_is_bounded_by_the_accounts_tokens_not_the_cap(hook):
    hook.config(ENFORCE_SWEEP + "max_revoke_per_run: 1\nevents: {suspend: revoke_all}\n")
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: revoked 3 tokens (run ")
    assert hook.server.token_names("res1") == set()


def test_a_sweep_over_the_cap_is_refused_with_its_candidates(hook):
    hook.tokens("res1", [("older-ci", 300, -20)])
    hook.config(ENFORCE_SWEEP + "max_revoke_per_run: 1\n")
    _, _, err = hook.handle(suspend("res1"))
    assert_worker_said(err, "suspendacct res1: refused: over the cap (max_revoke_per_run), "
                            "nothing revoked")
    assert hook.server.calls("api_token_revoke") == []
    assert {"old-ci", "older-ci"} <= hook.server.token_names("res1")
    (record,) = hook.audit()
    assert record["event"] == "refused" and "over the cap" in record["refused"]
    assert sorted(t["name"] for t in record["tokens"] if t["action"] == "refused") == [
        "old-ci", "older-ci"]
    assert "more than max_revoke_per_run (1)" in err


def test_a_preview_over_the_cap_says_so(hook):
    hook.tokens("res1", [("older-ci", 300, -20)])
    hook.config(PREVIEW + "max_revoke_per_run: 1\n")
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: preview mode, over the cap (max_revoke_per_run)")
    (record,) = hook.audit()
    assert record["event"] == "preview" and "over the cap" in record["refused"]


def test_a_hook_arriving_during_a_sweep_is_queued_and_applied_once_the_sweep_ends(hook):
    """Issue 31: it used to be skipped (and lost); now the event waits in the queue and the
    worker applies it as soon as the running sweep lets go of the lock."""
    sys.path.insert(0, os.path.join(REPO, "plugin"))
    from tokensweeper.lock import SweepLock

    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    with SweepLock(os.path.join(hook.state_dir, "sweep.lock")):
        out, err = hook.run(suspend("res1"))  # answers while the sweep still runs
        assert out == queued("suspendacct res1", "revoke_all")
        assert hook.server.calls() == []
        assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    hook.wait_for_worker()
    assert hook.server.token_names("res1") == set()
    (record,) = [r for r in hook.audit() if r["event"] == "outcome"]
    assert record["actor"] == "hook:Accounts::suspendacct"
    assert not [r for r in hook.audit() if r["event"] in ("hook-skipped", "hook-error")]
    with open(hook.error_log) as handle:
        assert "waiting: another sweep is running (process %d" % os.getpid() in handle.read()
    assert os.listdir(os.path.join(hook.state_dir, "hook-queue")) == []


def test_a_removal_during_a_sweep_is_skipped_and_recorded_it_cannot_wait(hook):
    """Remove's revoke_all is done before the hook returns (cPanel deletes the token files
    next), so it cannot wait for the sweep lock: skipped and recorded, as before."""
    from tokensweeper.lock import SweepLock

    hook.config(ENFORCE_SWEEP + "events: {remove: revoke_all}\n")
    with SweepLock(os.path.join(hook.state_dir, "sweep.lock")):
        out, err = hook.run(remove("res1"))
    assert out == line("Remove res1: skipped, another sweep is running; nothing done")
    assert hook.server.calls() == []
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    (record,) = hook.audit()
    assert record["event"] == "hook-skipped" and "revoke_all was not applied" in record["note"]
    assert "process %d" % os.getpid() in err


# -- removal, rename, password change ---------------------------------------------


def test_removal_snapshots_the_tokens_before_cpanel_deletes_them(hook):
    out, _ = hook.run(remove("res1"))  # no config file: the defaults (remove: snapshot)
    assert_answer_starts(out, "Remove res1: recorded 3 tokens in the audit log (run ")
    assert_success_line(out)
    assert [c["function"] for c in hook.server.calls()] == ["api_token_list"]
    (record,) = hook.audit()
    assert record["event"] == "snapshot" and record["actor"] == "hook:Accounts::Remove"
    assert sorted(t["name"] for t in record["tokens"]) == ["deploy", "old-ci", TRUST_NAME]
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


def test_removal_of_a_terminated_reseller_snapshots_its_token_file(hook):
    hook.server.add_token("res1", "narrow", NOW - DAY, acls={"list-accts": 1},
                          whitelist_ips=["192.0.2.9"])
    hook.server.write_token_files(hook.cpanel_root)
    with open(hook.token_file("res1")) as handle:
        digests = list(json.load(handle)["tokens"])
    # cPanel's own code would list res1 (result 1, no ACLs); the compiled front end may
    # refuse a user who is no reseller: this is that case.
    hook.server.add_fault("non_reseller_refused")
    hook.terminate_reseller("res1")

    out, err = hook.run(remove("res1"))

    assert_answer_starts(
        out, "Remove res1: recorded 4 tokens in the audit log (from cPanel's token file) (run ")
    (record,) = hook.audit()
    assert record["event"] == "snapshot"
    assert "read from cPanel's token file: whmapi1 could not list them" in record["note"]
    assert "is not a reseller" in record["note"]
    tokens = {t["name"]: t for t in record["tokens"]}
    assert sorted(tokens) == ["deploy", "narrow", "old-ci", TRUST_NAME]
    assert tokens["deploy"]["full_access"] is True  # no ACL list in the file: full access
    assert tokens["narrow"]["full_access"] is False and tokens["narrow"]["ip_limited"] is True
    assert tokens["old-ci"]["expires_at"] == NOW - 10 * DAY
    assert tokens["deploy"]["create_time"] == NOW - 5 * DAY
    with open(os.path.join(hook.state_dir, "audit.log")) as handle:
        audit_text = handle.read()
    assert not any(digest in audit_text or digest in err for digest in digests)
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME, "narrow"}


def test_removal_snapshot_never_waits_on_a_token_file_that_is_a_fifo(hook):
    """The removal fallback reads the token file too: a FIFO there must not hold up the
    account removal (cPanel waits for a pre hook); the hook says the listing failed."""
    hook.terminate_reseller("res1")  # whmapi1 --user=res1 now refuses
    os.remove(hook.token_file("res1"))
    os.mkfifo(hook.token_file("res1"))
    out, err = hook.run(remove("res1"))
    assert_answer_starts(out, "Remove res1: ")
    assert "not a regular file" in err and "Traceback" not in err

def test_removal_listed_without_acls_takes_the_acls_from_the_token_file(hook):
    # What the function underneath answers for a user who is no reseller any more.
    hook.server.add_fault("non_reseller_lists")
    hook.terminate_reseller("res1")

    out, _ = hook.run(remove("res1"))

    assert_answer_starts(out, "Remove res1: recorded 3 tokens in the audit log (from cPanel's")
    (record,) = hook.audit()
    assert "whmapi1 listed them without ACLs" in record["note"]
    # No ACL list in the file is full access; the trust token's list is clustering only.
    assert {t["name"]: t["full_access"] for t in record["tokens"]} == {
        "old-ci": True, "deploy": True, TRUST_NAME: False}
    assert [c["result"] for c in hook.server.calls("api_token_list")] == [1]


def test_removal_with_empty_data_does_nothing(hook):
    out, _ = hook.run(event("Whostmgr", "Accounts::Remove", "pre", []))
    assert out == line("Remove: the event names no valid account; nothing to do")
    assert hook.server.calls() == []


def test_a_rename_acts_on_the_new_name(hook):
    hook.config(ENFORCE_SWEEP + "events: {rename: revoke_all}\n")
    hook.reseller("oldres", [("ci", 10, None)])
    hook.server.rename_account("oldres", "newres")  # cPanel moves the token file too
    out, _, worker = hook.handle(modify("oldres", "newres"))
    assert out == queued("Modify newres", "revoke_all")
    assert_worker_said(worker, "Modify newres: revoked 1 token (run ")
    assert {c["owner"] for c in hook.server.calls()} == {"newres"}
    assert hook.server.token_names("newres") == set()


@pytest.mark.parametrize("newuser", [None, "res1", ""])
def test_a_modification_that_is_not_a_rename_does_nothing(hook, newuser):
    hook.config(ENFORCE_SWEEP + "events: {rename: revoke_all}\n")
    out, _ = hook.run(modify("res1", newuser))
    assert out == line("Modify: not a rename; nothing to do")
    assert hook.server.calls() == []


def all_files(top):
    for directory, _, names in os.walk(top):
        for name in names:
            yield os.path.join(directory, name)


@pytest.mark.parametrize("config", [
    ENFORCE_SWEEP + "events: {password_change: revoke_all}\n",
    PREVIEW + "events: {password_change: snapshot}\n",
    "mode: [broken\n",
])
def test_a_password_change_never_leaks_the_password(hook, config):
    hook.config(config)
    outputs = []
    for payload in (change_password("res1"), change_password("alice"),
                    change_password("res1")[:-25]):  # cut off mid-document
        out, err, worker = hook.handle(payload)
        assert_success_line(out)
        outputs += [out.decode("utf-8"), err, worker]
    for path in list(all_files(hook.state_dir)) + list(all_files(hook.server.directory)):
        with open(path, "rb") as handle:
            outputs.append(handle.read().decode("utf-8", "replace"))
    assert hook.audit()  # something was recorded, and it holds no password
    assert not [text for text in outputs if PASSWORD in text]


def test_password_change_revoke_all_in_enforce_mode(hook):
    hook.config(ENFORCE_SWEEP + "events: {password_change: revoke_all}\n")
    _, _, worker = hook.handle(change_password("root"))
    assert_worker_said(worker, "ChangePasswd root: revoked 1 token (run ")
    assert hook.server.token_names("root") == set()
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


# -- whatever happens, one success line -------------------------------------------


@pytest.mark.parametrize("stdin, message", [
    (b"", "no event on standard input; nothing to do"),
    (b" \n", "no event on standard input; nothing to do"),
    (b"not json", "the event is not valid JSON; nothing to do"),
    (b'{"context":{"category":"Whostmgr"', "the event is not valid JSON; nothing to do"),
    (b"\xff\xfe\x00", "the event is not valid JSON; nothing to do"),
    (b"[1,2]", "the event is not a JSON object; nothing to do"),
    (b"null", "the event is not a JSON object; nothing to do"),
    (event("Whostmgr", "Accounts::Create", "post", {"user": "res1", "pass": "x"}),
     "Whostmgr Accounts::Create post is not an event this hook handles; nothing to do"),
    (event("Whostmgr", "Accounts::Remove", "post", {"user": "res1"}),
     "Whostmgr Accounts::Remove post is not an event this hook handles; nothing to do"),
    (suspend("../../etc/passwd"), "suspendacct: the event names no valid account; nothing to do"),
    (event("Whostmgr", "Accounts::suspendacct", "post", {"user": "res1"}),
     "suspendacct: the event names no valid account; nothing to do"),
])
def test_malformed_or_foreign_events_get_one_success_line(hook, stdin, message):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all, remove: revoke_all}\n")
    out, _ = hook.run(stdin)
    assert out == line(message)
    assert hook.server.calls() == []


def test_an_event_without_context_is_read_from_its_registry_entry(hook):
    hook.config(ENFORCE_SWEEP)
    payload = json.loads(suspend("res1").decode("utf-8"))
    del payload["context"]
    _, _, worker = hook.handle(compact(payload))
    assert_worker_said(worker, "suspendacct res1: revoked 1 token")


def test_a_broken_config_is_reported_and_recorded_without_any_call(hook):
    hook.config("mode: sometimes\n")
    out, err = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: config error, nothing done "
                       "(run tokensweeper check-config)")
    assert hook.server.calls() == []
    assert hook.config_path in err and "sometimes" in err
    (record,) = hook.audit()
    assert record["event"] == "hook-error" and "mode" in record["note"]


def test_whmapi1_failing_during_a_snapshot_still_answers_success(hook):
    hook.server.add_fault("exit", function="api_token_list")
    os.remove(hook.token_file("res1"))  # and no token file to read instead
    out, err = hook.run(remove("res1"))
    assert out == line("Remove res1: snapshot failed (details in cPanel's error_log)")
    assert "api_token_list" in err
    (record,) = hook.audit()
    assert record["event"] == "hook-error"


def test_whmapi1_garbage_while_listing_is_reported(hook):
    hook.config(ENFORCE_SWEEP)
    hook.server.add_fault("garbage", function="api_token_list")
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: could not list its tokens, nothing revoked")
    assert hook.server.calls("api_token_revoke") == []


def test_a_revoke_that_fails_is_reported_as_failed(hook):
    hook.config(ENFORCE_SWEEP)
    hook.server.add_fault("fail", function="api_token_revoke")
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: revoked 0 tokens, 1 FAILED")
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    (record,) = [r for r in hook.audit() if r["event"] == "outcome"]
    assert [t["action"] for t in record["tokens"] if t["name"] == "old-ci"] == ["failed"]


def test_a_revocation_that_could_not_be_verified_says_so(hook):
    hook.config(ENFORCE_SWEEP)
    # The plan's listing and the one right before the revoke work; the verifying one fails.
    hook.server.add_fault("fail", function="api_token_list", owner="res1", after=2)
    _, _, worker = hook.handle(suspend("res1"))
    assert_worker_said(worker, "suspendacct res1: revoked 0 tokens, 1 UNVERIFIED (check with "
                               "tokensweeper list --owner res1)")
    (record,) = [r for r in hook.audit() if r["event"] == "outcome"]
    assert [t["action"] for t in record["tokens"] if t["name"] == "old-ci"] == ["unverified"]


BUG = """
import sys
sys.path.insert(0, {plugin!r})
import tokensweeper.hook

def act(event, account):
    raise RuntimeError("a bug in the engine")
tokensweeper.hook.act = act
"""


def test_an_unexpected_error_still_answers_success(hook, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BUG.format(plugin=os.path.join(REPO, "plugin")))
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"), PYTHONPATH=str(site))
    assert out == line("internal error, the event was not handled (details in cPanel's error_log)")
    assert "Traceback" in err and "a bug in the engine" in err
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


def test_an_unusable_state_directory_is_the_usual_line_without_a_traceback(hook, tmp_path):
    """Issue 11.9: a state dir that cannot be written answered "internal error" with a
    traceback. Here nothing can be recorded either (its path runs through a file)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"), TOKENSWEEPER_STATE_DIR=str(blocker / "state"))
    assert out == line("suspendacct res1: sweep failed, state directory unusable (details in "
                       "cPanel's error_log)")
    assert "Traceback" not in err and "the state directory cannot be used" in err
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    assert hook.server.calls("api_token_revoke") == []


def test_a_lock_that_cannot_be_taken_is_recorded_as_a_hook_error(hook):
    """The lock file cannot be opened (here: a directory in its place), the audit log can
    still be written: the failure is recorded there."""
    os.makedirs(os.path.join(hook.state_dir, "sweep.lock"))
    hook.config(ENFORCE_SWEEP)
    out, err, worker = hook.handle(suspend("res1"))
    assert out == queued("suspendacct res1")
    assert "Traceback" not in err + worker and "sweep.lock" in worker
    (record,) = hook.audit()
    assert record["event"] == "hook-error" and "sweep.lock" in record["note"]
    assert "the event waits in the queue" in record["note"]
    assert hook.server.calls() == []
    assert len(os.listdir(os.path.join(hook.state_dir, "hook-queue"))) == 1  # not lost


def test_stdin_beyond_10_mib_is_a_bad_payload_not_read_whole(hook):
    big = suspend("res1")[:-1] + b',"padding":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(big)
    assert out == b"1"  # unparsed, its stage unknown: no words a pre stage could act on
    assert "the event is too large to be a cPanel event; nothing to do" in err
    assert "Traceback" not in err and hook.server.calls() == []


@pytest.mark.parametrize("tail", [b"", b"]" * 100000 + b"}"], ids=["cut-off", "closed"])
def test_an_event_nested_beyond_the_recursion_limit_is_a_bad_payload(hook, tail):
    """Within the 10 MiB cap, 100,000 nested arrays break json's recursion, not its syntax."""
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(b'{"data":' + b"[" * 100000 + tail)
    assert out == line("the event is not valid JSON; nothing to do")
    assert "Traceback" not in err and hook.server.calls() == [] and hook.audit() == []


def test_an_event_of_exactly_10_mib_is_read_and_handled(hook):
    event = suspend("res1")
    padding = b',"padding":""'
    filler = b"x" * (10 * 1024 * 1024 - len(event) - len(padding))
    exact = event[:-1] + padding[:-1] + filler + b'"}'
    assert len(exact) == 10 * 1024 * 1024
    hook.config(ENFORCE_SWEEP + "policy:\n  expired: true\n")
    _, _, worker = hook.handle(exact)
    assert_worker_said(worker, "suspendacct res1: revoked 1 token, 1 kept as protected")


def test_invalid_utf8_in_free_text_does_not_stop_the_event(hook):
    """cPanel passes the suspension reason as typed; a byte that is not UTF-8 there is no
    reason to skip the account."""
    hook.config(ENFORCE_SWEEP + "policy:\n  expired: true\n")
    _, err, worker = hook.handle(suspend("res1").replace(b"Unpaid", b"Unp\xff\xfeaid"))
    assert_worker_said(worker, "suspendacct res1: revoked 1 token, 1 kept as protected")
    assert "Traceback" not in err + worker

def test_an_oversized_event_is_still_read_to_the_end(hook):
    """cPanel writes the whole event and expects it read to EOF: a hook that stops at the
    cap and exits breaks the writer's pipe (here the excess is far beyond a pipe's buffer,
    so the writer is still writing when the hook would leave)."""
    big = suspend("res1")[:-1] + b',"padding":"' + b"x" * (14 * 1024 * 1024) + b'"}'
    proc = subprocess.Popen([sys.executable, HOOK], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=hook.env())
    try:
        proc.stdin.write(big)  # BrokenPipeError when the hook left before the end
        proc.stdin.close()
    finally:
        out = proc.stdout.read()
        proc.wait(timeout=120)
    assert out == b"1"

def test_a_missing_library_leaves_stdout_empty_which_cpanel_reads_as_success(tmp_path):
    broken = tmp_path / "hooks"
    broken.mkdir()
    shutil.copy(HOOK, str(broken / "tokensweeper-hook"))  # ../plugin does not exist there
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, str(broken / "tokensweeper-hook")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    out, err = proc.communicate(suspend("res1"), timeout=60)
    assert out == b"" and b"tokensweeper" in err


def test_the_answer_survives_an_ascii_only_stdout(hook):
    """cPanel strips the environment: under the C locale Python 3.6 writes ASCII."""
    out, err = hook.run(suspend("caf\u00e9"), PYTHONIOENCODING="ascii")
    assert_success_line(out)
    assert b"caf\\xe9" in out and "Traceback" not in err


def test_the_hooks_sweep_gives_notice_first_and_revoke_all_does_not_wait(hook, tmp_path):
    """Issue 17: the hook's sweep is unattended like cron's: a notice, no revocation."""
    sendmail = os.path.join(REPO, "tests", "fakes", "sendmail")
    mail_dir = str(tmp_path / "mail")
    hook.config(ENFORCE_SWEEP + "notify:\n  notice_days: 7\n  recipients: [owner]\n")
    _, _, worker = hook.handle(suspend("res1"), TOKENSWEEPER_SENDMAIL=sendmail,
                               TOKENSWEEPER_FAKE_MAIL_DIR=mail_dir)
    assert_worker_said(worker, "suspendacct res1: revoked 0 tokens, 1 kept as protected (run ")
    assert "notice sent for 1 token, 1 token waiting for the notice period" in worker
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}
    assert sorted(os.listdir(mail_dir)) == ["0001.argv.json", "0001.eml"]
    (notice,) = [r for r in hook.audit() if r["event"] == "notice"]
    assert notice["actor"] == "hook:Accounts::suspendacct"
    assert [(t["name"], t["recipients"]) for t in notice["tokens"]] == [
        ("old-ci", ["admin@res1.example.com"])]
    # revoke_all says the account must lose its tokens now: no notice period.
    hook.config(ENFORCE_SWEEP + "events:\n  suspend: revoke_all\nnotify:\n  notice_days: 7\n")
    _, _, worker = hook.handle(suspend("res1"), TOKENSWEEPER_SENDMAIL=sendmail,
                               TOKENSWEEPER_FAKE_MAIL_DIR=mail_dir)
    assert_worker_said(worker, "suspendacct res1: revoked 3 tokens (run ")
    assert hook.server.token_names("res1") == set()
    assert len([r for r in hook.audit() if r["event"] == "notice"]) == 1
