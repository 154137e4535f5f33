"""Pins for hook.py (issue 27's `make mutate`): the one line cPanel reads, the events the
hook answers without acting, and what it records when it cannot act. tests/test_hook.py
runs the hook as cPanel does (a process per event); these run `hook.main` in this process
(stdin, stdout and stderr swapped for the event's), so that a mutation of hook.py is seen.
The detached worker is not started here: an event it would handle stays queued."""

import io
import json
import os
import sys

import pytest

from tests.helpers import DAY, NOW
from tests.test_hook import (
    ENFORCE_SWEEP,
    HOOK,
    TRUST_NAME,
    Hook,
    change_password,
    compact,
    event,
    line,
    modify,
    remove,
    suspend,
)
from tokensweeper import audit, hookqueue
from tokensweeper import hook as hook_module


class InProcess(Hook):
    monkeypatch = None

    def run(self, stdin, argv=(), **extra):
        """(stdout bytes, stderr text) of hook.main on this event, in this process."""
        for name in [n for n in os.environ if n.startswith("TOKENSWEEPER_")]:
            self.monkeypatch.delenv(name)
        for name, value in self.env(**extra).items():
            self.monkeypatch.setenv(name, value)
        stdin_stream = io.TextIOWrapper(io.BytesIO(stdin))
        out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
        err = io.StringIO()
        self.monkeypatch.setattr(sys, "stdin", stdin_stream)
        self.monkeypatch.setattr(sys, "stdout", out)
        self.monkeypatch.setattr(sys, "stderr", err)
        status = hook_module.main(list(argv), script=HOOK)
        out.flush()
        assert status == 0
        assert sys.stdout is out  # main gives stdout back after sending prints to stderr
        return out.buffer.getvalue(), err.getvalue()


@pytest.fixture
def hook(tmp_path, monkeypatch):
    started = []

    def start_worker(now_fn):
        started.append(now_fn())
        return len(started) == 1  # the first event starts it; later ones find it running

    monkeypatch.setattr(hookqueue, "start_worker", start_worker)
    h = InProcess(tmp_path)
    h.monkeypatch = monkeypatch
    h.started = started
    h.tokens("root", [("root-ci", 400, -30)])
    h.reseller("res1", [("old-ci", 200, -10), ("deploy", 5, 300), (TRUST_NAME, 300, -1)])
    return h


def queue_entries():
    entries, problems = hookqueue.read_queue()
    assert problems == []
    return [(e.key, e.action, e.account) for e in entries]


# -- the line cPanel reads ------------------------------------------------------------


@pytest.mark.parametrize("message, expected", [
    ("short", b"1 tokensweeper: short\n"),
    ("a\n  b\tc  ", b"1 tokensweeper: a b c\n"),
    ("x" * 200, ("1 tokensweeper: %s\n" % ("x" * 200)).encode()),
    ("x" * 201, ("1 tokensweeper: %s...\n" % ("x" * 197)).encode()),
    ("quoted \u201cname\u201d", b"1 tokensweeper: quoted \\u201cname\\u201d\n"),
    (42, b"1 tokensweeper: 42\n"),
])
def test_the_answer_is_one_ascii_line_of_at_most_200_characters(monkeypatch, message,
                                                                 expected):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    assert hook_module.answer(message) == 0
    assert out.buffer.getvalue() == expected


def test_the_answer_goes_to_a_stdout_without_bytes_as_text(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    hook_module.answer("caf\u00e9 ok")
    assert out.getvalue() == "1 tokensweeper: caf\\xe9 ok\n"


def test_a_closed_stdout_is_no_crash(monkeypatch):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    out.close()
    monkeypatch.setattr(sys, "stdout", out)
    assert hook_module.answer("nobody reads this") == 0


def test_describe_lists_every_event_with_this_scripts_path(monkeypatch, tmp_path):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    link = tmp_path / "hook-link"
    os.symlink(HOOK, str(link))
    assert hook_module.main(["--describe"], script=str(link)) == 0
    described = json.loads(out.getvalue())
    ours = [d for d in described if d["event"] in {e.event for e in hook_module.EVENTS}]
    assert [(d["category"], d["event"], d["stage"]) for d in ours] == [
        ("Whostmgr", "Accounts::suspendacct", "post"), ("Whostmgr", "Accounts::Remove", "pre"),
        ("Whostmgr", "Accounts::Modify", "post"), ("Passwd", "ChangePasswd", "post")]
    for d in ours:
        assert d["hook"] == os.path.realpath(HOOK)
        assert (d["exectype"], d["weight"]) == ("script", 100)
        assert "blocking" not in d and d["description"].startswith("Token Sweeper: ")
    out.seek(0)
    out.truncate()
    hook_module.describe(None)
    assert {d["hook"] for d in json.loads(out.getvalue())} == {hook_module.INSTALLED_PATH}


def test_event_labels_and_actors():
    assert [(e.label, e.actor, e.key) for e in hook_module.EVENTS] == [
        ("suspendacct", "hook:Accounts::suspendacct", "suspend"),
        ("Remove", "hook:Accounts::Remove", "remove"),
        ("Modify", "hook:Accounts::Modify", "rename"),
        ("ChangePasswd", "hook:ChangePasswd", "password_change")]


# -- events it answers without acting ----------------------------------------------------


@pytest.mark.parametrize("stdin, message", [
    (b"", "no event on standard input; nothing to do"),
    (b"  \n", "no event on standard input; nothing to do"),
    (b"{not json", "the event is not valid JSON; nothing to do"),
    (b"[" * 100000, "the event is not valid JSON; nothing to do"),
    (b"[1, 2]", "the event is not a JSON object; nothing to do"),
    (event("Whostmgr", "Accounts::Remove", "post", {"user": "res1"}),
     "Whostmgr Accounts::Remove post is not an event this hook handles; nothing to do"),
    (suspend("res1", result="0"),
     "suspendacct: cPanel reports the suspension failed; nothing to do"),
    (suspend("res1", result=0),
     "suspendacct: cPanel reports the suspension failed; nothing to do"),
    (suspend("../../etc/passwd"), "suspendacct: the event names no valid account; nothing to do"),
    (suspend(".hidden"), "suspendacct: the event names no valid account; nothing to do"),
    (suspend("-rf"), "suspendacct: the event names no valid account; nothing to do"),
    (suspend("a\0b"), "suspendacct: the event names no valid account; nothing to do"),
    (suspend("a" * 65), "suspendacct: the event names no valid account; nothing to do"),
    (suspend(""), "suspendacct: the event names no valid account; nothing to do"),
    (event("Whostmgr", "Accounts::suspendacct", "post", {"user": "res1"}),
     "suspendacct: the event names no valid account; nothing to do"),
    (event("Whostmgr", "Accounts::Remove", "pre", []),
     "Remove: the event names no valid account; nothing to do"),
    (modify("res1"), "Modify: not a rename; nothing to do"),
    (modify("res1", "res1"), "Modify: not a rename; nothing to do"),
    (modify("res1", ""), "Modify: not a rename; nothing to do"),
    (suspend("alice"), "suspendacct alice: the account owns no API tokens; nothing to do"),
    (suspend("a" * 64), "suspendacct %s: the account owns no API tokens; nothing to do"
     % ("a" * 64)),
    (change_password("alice"), "ChangePasswd alice: the account owns no API tokens; nothing "
                               "to do"),
])
def test_events_answered_without_any_call(hook, stdin, message):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all, remove: revoke_all, "
                                "rename: revoke_all}\n")
    out, err = hook.run(stdin)
    assert out == line(message)
    assert hook.server.calls() == [] and hook.audit() == [] and hook.started == []
    assert "Traceback" not in err


@pytest.mark.parametrize("stdin, message", [
    (event("Who$tmgr", "Accounts::Remove;rm -rf", "pre\n", {"user": "res1"}),
     "Whotmgr Accounts::Removerm-rf pre is not an event this hook handles; nothing to do"),
    (compact({"context": {"category": 5, "event": True, "stage": None}}),
     "5 ? ? is not an event this hook handles; nothing to do"),
    (event("Whostmgr", "X" * 100, "pre", {}),
     "Whostmgr %s pre is not an event this hook handles; nothing to do" % ("X" * 64)),
    (b"{}", "? ? ? is not an event this hook handles; nothing to do"),
    (event("Cpanel", "UAPI::Tokens::list", "post", {}),
     "Cpanel UAPI::Tokens::list post is not an event this hook handles; nothing to do"),
    (compact({"context": {"category": "Whostmgr", "event": "Accounts::Create",
                          "stage": "post", "blocking": 1}}),
     "Whostmgr Accounts::Create post is not an event this hook handles; nothing to do"),
])
def test_events_not_ours_where_a_message_could_act_get_a_bare_1(hook, stdin, message):
    # A pre stage (suspendacct pre aborts on any message), a UAPI event (the account reads
    # the message) or a blocking registration: only "1" is surely "allowed".
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(stdin)
    assert out == b"1"
    assert "tokensweeper-hook: " + message in err
    assert hook.server.calls() == [] and hook.audit() == [] and hook.started == []


def test_an_oversized_event_is_refused_unread(hook, monkeypatch):
    monkeypatch.setattr(hook_module, "MAX_EVENT_BYTES", 64)
    out, err = hook.run(suspend("res1"))
    assert out == b"1"  # its stage is unknown: words could stop a pre stage's action
    assert "tokensweeper-hook: the event is larger than 0 MiB: not a cPanel event\n" in err
    assert "tokensweeper-hook: the event is too large to be a cPanel event; nothing to " \
        "do\n" in err
    # Exactly at the limit it is read.
    payload = suspend("res1")
    monkeypatch.setattr(hook_module, "MAX_EVENT_BYTES", len(payload))
    out, _ = hook.run(payload)
    assert out.startswith(b"1 tokensweeper: suspendacct res1: ")


def test_the_parse_error_is_logged_without_the_payload(hook):
    out, err = hook.run(b'{"secret": "hunter2"')
    assert out == line("the event is not valid JSON; nothing to do")
    assert err.startswith("tokensweeper-hook: the event is not JSON: ") and "hunter2" not in err


def test_numbers_and_strings_compare_as_text(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: ignore}\n")
    payload = json.loads(suspend("res1").decode())
    payload["data"]["result"] = 1
    assert hook.run(compact(payload))[0] == line(
        "suspendacct res1: events.suspend is ignore; nothing to do")
    payload["data"]["args"]["user"] = True
    assert hook.run(compact(payload))[0] == line(
        "suspendacct: the event names no valid account; nothing to do")
    payload["data"]["args"]["user"] = ["res1"]
    assert hook.run(compact(payload))[0] == line(
        "suspendacct: the event names no valid account; nothing to do")


def test_an_event_read_from_its_registry_entry_when_context_is_missing(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: ignore}\n")
    payload = json.loads(suspend("res1").decode())
    del payload["context"]
    assert hook.run(compact(payload))[0] == line(
        "suspendacct res1: events.suspend is ignore; nothing to do")
    payload = json.loads(suspend("res1").decode())
    payload["context"] = "junk"
    assert hook.run(compact(payload))[0] == line(
        "suspendacct res1: events.suspend is ignore; nothing to do")


def test_unexpected_arguments_are_logged_and_the_event_still_handled(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: ignore}\n")
    out, err = hook.run(suspend("res1"), argv=["--verbose"])
    assert out == line("suspendacct res1: events.suspend is ignore; nothing to do")
    assert err.startswith("tokensweeper-hook: ignoring unexpected arguments (only --describe "
                          "is known)\n")


def test_a_terminal_on_stdin_is_no_event(hook, monkeypatch):
    class Terminal(io.TextIOWrapper):
        def isatty(self):
            return True

    hook.config(ENFORCE_SWEEP)
    for name, value in hook.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(suspend("res1"))))
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    hook_module.main([], script=HOOK)
    out.flush()
    assert out.buffer.getvalue() == line("no event on standard input; nothing to do")
    assert err.getvalue() == ("tokensweeper-hook: no event: cPanel writes the event as JSON on "
                              "standard input\n")
    monkeypatch.setattr(sys, "stdin", None)
    assert hook_module.read_event() == (b"", None)


def test_a_stray_print_goes_to_stderr_never_to_the_answer(hook, monkeypatch):
    def chatty(raw):
        print("debug chatter")
        return "done"

    monkeypatch.setattr(hook_module, "handle", chatty)
    out, err = hook.run(suspend("res1"))
    assert out == line("done") and err == "debug chatter\n"


def test_a_bug_answers_success_and_logs_the_traceback(hook, monkeypatch):
    def broken(event, account):
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(hook_module, "act", broken)
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"))
    assert out == line("internal error, the event was not handled (details in cPanel's "
                       "error_log)")
    assert ("tokensweeper-hook: internal error, the event was not handled:\nTraceback"
            in err)
    assert "a bug in the engine" in err
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


# -- acting ------------------------------------------------------------------------------


def test_a_sweep_is_queued_and_the_worker_started_once(hook):
    hook.config(ENFORCE_SWEEP + "events: {password_change: sweep}\n")
    out, err = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: sweep queued; a worker applies it within seconds "
                       "(tokensweeper queue shows what waits)")
    assert err == "tokensweeper-hook: Accounts::suspendacct for res1\n"
    out, _ = hook.run(change_password("res1"))
    assert out == line("ChangePasswd res1: sweep queued; the running worker applies it within "
                       "seconds (tokensweeper queue shows what waits)")
    assert queue_entries() == [("suspend", "sweep", "res1"), ("password_change", "sweep",
                                                              "res1")]
    assert hook.started == [NOW, NOW] and hook.server.calls() == []


def test_a_rename_queues_the_new_name(hook):
    hook.config(ENFORCE_SWEEP + "events: {rename: revoke_all}\n")
    hook.reseller("oldres", [("ci", 10, None)])
    hook.server.rename_account("oldres", "newres")  # cPanel moved its token file
    out, _ = hook.run(modify("oldres", "newres"))
    assert out == line("Modify newres: revoke_all queued; a worker applies it within seconds "
                       "(tokensweeper queue shows what waits)")
    assert queue_entries() == [("rename", "revoke_all", "newres")]


def test_a_worker_that_cannot_start_leaves_the_event_queued(hook, monkeypatch):
    def no_fork(now_fn):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(hookqueue, "start_worker", no_fork)
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: sweep queued, but its worker could not start; the "
                       "next event, the scheduled run or tokensweeper queue --run applies it")
    assert ("tokensweeper-hook: the queue's worker could not start: [Errno 11] Resource "
            "temporarily unavailable\n") in err
    assert queue_entries() == [("suspend", "sweep", "res1")]


def test_a_worker_lock_that_is_not_roots_leaves_the_event_queued(hook, monkeypatch):
    from tokensweeper.statefiles import UntrustedState

    def untrusted(now_fn):
        raise UntrustedState("/x/hook-worker.lock", "it is a symbolic link")

    monkeypatch.setattr(hookqueue, "start_worker", untrusted)
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"))
    assert out.startswith(b"1 tokensweeper: suspendacct res1: sweep queued, but its worker "
                          b"could not start")
    assert ("the queue's worker could not start: refusing to use /x/hook-worker.lock: it is a "
            "symbolic link") in err


def test_an_action_the_queue_would_not_take_is_answered_at_once(hook):
    hook.config(ENFORCE_SWEEP + "owners: [root]\nevents: {suspend: revoke_all}\n")
    out, _ = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: not in the config's owners; nothing to do")
    assert queue_entries() == [] and hook.started == []


def test_ignore_answers_without_a_call(hook):
    hook.config(ENFORCE_SWEEP + "events: {password_change: ignore}\n")
    out, _ = hook.run(change_password("res1"))
    assert out == line("ChangePasswd res1: events.password_change is ignore; nothing to do")
    assert hook.server.calls() == [] and queue_entries() == []


def test_a_broken_config_is_answered_logged_and_recorded(hook):
    hook.config("mode: sometimes\n")
    out, err = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: config error, nothing done (run tokensweeper "
                       "check-config)")
    assert hook.config_path in err and "sometimes" in err
    (record,) = hook.audit()
    assert {k: record[k] for k in ("event", "epoch", "actor", "mode", "selectors", "tokens",
                                   "owner_errors", "refused")} == {
        "event": "hook-error", "epoch": NOW, "actor": "hook:Accounts::suspendacct",
        "mode": "unknown", "selectors": {"owners": ["res1"]}, "tokens": [],
        "owner_errors": {}, "refused": None}
    assert record["note"].startswith("config error, nothing done: ")
    assert record["time"] == audit.iso(NOW) and record["run_id"].startswith(
        audit.new_run_id(NOW)[:16])


def test_an_unusable_clock_is_answered_and_nothing_done(hook):
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"), TOKENSWEEPER_NOW="yesterday")
    assert out == line("suspendacct res1: TOKENSWEEPER_NOW is not a usable time, nothing done")
    assert "TOKENSWEEPER_NOW" in err
    assert hook.audit() == [] and queue_entries() == []


def test_a_name_no_cpanel_user_can_have_is_refused_before_any_call(hook):
    hook.config(ENFORCE_SWEEP)
    bad = "Res1"  # a token file under this name makes it look like an owner
    hook.server.add_token(bad, "x", NOW - DAY)
    hook.server.write_token_files(hook.cpanel_root)
    out, _ = hook.run(suspend(bad))
    assert out == line("suspendacct: not a cPanel user name; nothing to do")
    assert hook.server.calls() == [] and queue_entries() == []


def test_a_removal_snapshot_is_recorded_before_cpanel_deletes_the_tokens(hook):
    out, err = hook.run(remove("res1"))  # the default: remove: snapshot
    (record,) = hook.audit()
    assert out == line("Remove res1: recorded 3 tokens in the audit log (run %s)"
                       % record["run_id"])
    assert record["event"] == "snapshot" and record["actor"] == "hook:Accounts::Remove"
    assert record["note"] == "res1: the account is being removed; cPanel deletes its tokens next"
    assert sorted(t["name"] for t in record["tokens"]) == ["deploy", "old-ci", TRUST_NAME]
    assert err == "tokensweeper-hook: Accounts::Remove for res1\n"


def test_a_snapshot_on_another_event_says_which(hook):
    hook.config("events: {password_change: snapshot}\n")
    out, _ = hook.run(change_password("root"))
    (record,) = hook.audit()
    assert out == line("ChangePasswd root: recorded 1 token in the audit log (run %s)"
                       % record["run_id"])
    assert record["note"] == "root: recorded on ChangePasswd"


def test_a_snapshot_of_nothing_records_nothing(hook):
    hook.config("events: {password_change: snapshot}\n")
    hook.server.remove_token("root", "root-ci")
    out, _ = hook.run(change_password("root"))
    assert out == line("ChangePasswd root: no tokens to record")
    assert hook.audit() == []


def test_a_removed_resellers_snapshot_reads_its_token_file(hook):
    hook.server.add_fault("non_reseller_refused")
    hook.terminate_reseller("res1")
    out, err = hook.run(remove("res1"))
    (record,) = hook.audit()
    assert out == line("Remove res1: recorded 3 tokens in the audit log (from cPanel's token "
                       "file) (run %s)" % record["run_id"])
    assert record["note"].startswith("res1: the account is being removed; cPanel deletes its "
                                     "tokens next; read from cPanel's token file: whmapi1 "
                                     "could not list them (")
    assert "tokensweeper-hook: whmapi1 could not list res1's tokens (" in err
    assert "); read its token file\n" in err


def test_listed_without_acls_the_snapshot_takes_them_from_the_file(hook):
    hook.server.add_fault("non_reseller_lists")
    hook.terminate_reseller("res1")
    out, _ = hook.run(remove("res1"))
    (record,) = hook.audit()
    assert record["note"].endswith("; read from cPanel's token file: whmapi1 listed them "
                                   "without ACLs (res1 is no reseller any more)")
    assert {t["name"]: t["full_access"] for t in record["tokens"]} == {
        "old-ci": True, "deploy": True, TRUST_NAME: False}
    assert b"(from cPanel's token file)" in out


def test_listed_without_acls_and_no_file_the_acls_are_unknown(hook):
    hook.server.add_fault("non_reseller_lists")
    hook.terminate_reseller("res1")
    with open(hook.token_file("res1"), "w") as handle:
        handle.write("{broken")
    out, err = hook.run(remove("res1"))
    (record,) = hook.audit()
    assert record["note"].endswith("; ACLs unknown: whmapi1 listed them without ACLs (res1 is "
                                   "no reseller any more)")
    assert "tokensweeper-hook: the token file cannot tell the ACLs: " in err
    assert b"(from cPanel's token file)" not in out


def test_a_snapshot_neither_listed_nor_read_is_a_recorded_failure(hook):
    hook.server.add_fault("exit", function="api_token_list")
    os.remove(hook.token_file("res1"))
    out, err = hook.run(remove("res1"))
    assert out == line("Remove res1: snapshot failed (details in cPanel's error_log)")
    assert "tokensweeper-hook: the token file cannot stand in for the listing: " in err
    assert "tokensweeper-hook: snapshot failed: " in err
    (record,) = hook.audit()
    assert record["event"] == "hook-error" and record["mode"] == "preview"
    assert record["note"].startswith("snapshot failed: ")


def test_a_removal_during_a_sweep_is_skipped_and_recorded(hook):
    from tokensweeper.lock import SweepLock

    hook.config(ENFORCE_SWEEP + "events: {remove: revoke_all}\n")
    os.makedirs(hook.state_dir, mode=0o700, exist_ok=True)
    with SweepLock(os.path.join(hook.state_dir, "sweep.lock")):
        out, err = hook.run(remove("res1"))
    assert out == line("Remove res1: skipped, another sweep is running; nothing done")
    assert "tokensweeper-hook: skipped: " in err
    (record,) = hook.audit()
    assert (record["event"], record["mode"]) == ("hook-skipped", "enforce")
    assert record["note"].startswith("revoke_all was not applied: ")
    assert hook.server.token_names("res1") == {"old-ci", "deploy", TRUST_NAME}


def test_a_removal_revokes_at_once(hook):
    hook.config(ENFORCE_SWEEP + "events: {remove: revoke_all}\n")
    out, _ = hook.run(remove("res1"))
    assert out.startswith(b"1 tokensweeper: Remove res1: revoked 3 tokens (run ")
    assert hook.server.token_names("res1") == set() and queue_entries() == []


def test_an_unusable_state_directory_is_one_line_and_no_traceback(hook, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"), TOKENSWEEPER_STATE_DIR=str(blocker / "state"))
    assert out == line("suspendacct res1: sweep failed, state directory unusable (details in "
                       "cPanel's error_log)")
    assert "tokensweeper-hook: sweep failed: the state directory cannot be used: " in err
    assert "Traceback" not in err


def test_an_os_error_is_named_by_its_file():
    error = OSError(13, "Permission denied")
    error.filename = "/var/x"
    assert hook_module._os_error(error) == "/var/x: Permission denied"
    assert hook_module._os_error(OSError(13, "Permission denied")) == \
        "[Errno 13] Permission denied"
    assert hook_module._os_error(OSError("plain")) == "plain"


def test_plural():
    assert [hook_module._plural(n, "token") for n in (0, 1, 2)] == [
        "0 tokens", "1 token", "2 tokens"]


def test_a_failing_audit_log_is_logged_not_raised(hook, monkeypatch, capsys):
    def refuse(record, path=None):
        raise audit.AuditError("cannot write the audit log: disk full")

    monkeypatch.setattr(audit, "write", refuse)
    hook_module.note(hook_module.EVENTS[0], "res1", NOW, "enforce", "hook-error", "x")
    assert capsys.readouterr().err == "tokensweeper-hook: cannot write the audit log: disk full\n"


def test_the_may_own_tokens_fast_path(hook, monkeypatch):
    for name, value in hook.env().items():
        monkeypatch.setenv(name, value)
    assert hook_module.may_own_tokens("root") and hook_module.may_own_tokens("res1")
    assert not hook_module.may_own_tokens("alice")


# -- more of what the hook reads and records ------------------------------------------------


def test_an_event_is_what_it_was_made_of():
    made = hook_module.Event("Cat", "Some::thing", "pre", "key", "what it does")
    assert (made.category, made.event, made.stage, made.key, made.description) == (
        "Cat", "Some::thing", "pre", "key", "what it does")
    assert (made.label, made.actor) == ("thing", "hook:Some::thing")
    assert made.descriptor("/h") == {
        "category": "Cat", "event": "Some::thing", "stage": "pre", "hook": "/h",
        "exectype": "script", "weight": 100, "description": "what it does"}


def test_describe_reads_the_scripts_own_path_from_argv(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "argv", [HOOK, "--describe"])
    assert hook_module.main() == 0
    described = json.loads(out.getvalue())
    assert {d["hook"] for d in described} == {os.path.realpath(HOOK)}
    guard_entries = [d for d in described if d["event"].startswith("UAPI::")]
    assert len(guard_entries) == 2 and {d["weight"] for d in guard_entries} == {100}


def test_a_stdin_that_cannot_be_read_is_an_internal_error_line(hook, monkeypatch):
    class Broken(object):
        def isatty(self):
            return False

        @property
        def buffer(self):
            raise OSError(5, "Input/output error")

    for name, value in hook.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", Broken())
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    hook_module.main([], script=HOOK)
    out.flush()
    assert out.buffer.getvalue() == line(
        "internal error, the event was not handled (details in cPanel's error_log)")


def guard_event(padding=b""):
    return compact({"context": {"category": "Cpanel", "event": "UAPI::Tokens::create_full_access",
                                "stage": "pre", "point": "main"},
                    "data": {"args": {"name": "ci", "expires_at": "0"}, "user": "shop"},
                    "pad": padding.decode("ascii")})


def test_the_guards_event_is_answered_by_the_guard(hook):
    out, err = hook.run(guard_event())
    assert out == b"1"  # no guard: rules: allowed, the guard's own answer (no newline)
    assert hook.server.calls() == [] and "tokensweeper-hook: " not in err


def test_an_oversized_guard_event_is_the_guards_even_when_named_late(hook, monkeypatch):
    monkeypatch.setattr(hook_module, "MAX_EVENT_BYTES", 64)
    payload = b'{"pad":"' + b"x" * 100 + b'",' + guard_event()[1:]
    out, err = hook.run(payload)
    assert out == b"1" and "larger than" not in err
    # The context across the first read's end: the overlap finds it.
    mark = compact({"context": {"category": "Cpanel",
                                "event": "UAPI::Tokens::create_full_access", "stage": "pre",
                                "point": "main"}})[1:-1]
    start = 65 - 10
    payload = b'{"p":"' + b"y" * (start - 6) + b'",' + mark + b"}"
    assert payload.index(mark) < 65 < payload.index(mark) + len(mark)
    out, _ = hook.run(payload)
    assert out == b"1" and b"tokensweeper" not in out
    hook.config("guard:\n  require_expiry: true\n")
    assert hook.run(payload)[0].startswith(b"0 Your host cannot check")


def test_an_oversized_event_is_read_to_its_end_across_chunks(hook, monkeypatch):
    monkeypatch.setattr(hook_module, "MAX_EVENT_BYTES", 64)
    payload = suspend("res1") + b" " * (3 << 20)
    stream = io.BytesIO(payload)
    monkeypatch.setattr(hook_module, "OVERLAP", 128)
    for name, value in hook.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    hook_module.main([], script=HOOK)
    out.flush()
    assert out.buffer.getvalue() == b"1"
    assert stream.tell() == len(payload)  # the writer's pipe is read to its end
    # A guard name in the third chunk still makes it the guard's.
    payload = b'{"p":"' + b"z" * (2 << 20) + b'",' + guard_event()[1:]
    out2, _ = hook.run(payload)
    assert out2 == b"1"


def test_a_payload_that_is_not_utf8_is_still_read(hook):
    hook.config(ENFORCE_SWEEP + "events: {password_change: ignore}\n")
    payload = change_password("res1", password="hunter\udcff").replace(b"\\udcff", b"\xff")
    assert b"\xff" in payload
    out, _ = hook.run(payload)
    assert out == line("ChangePasswd res1: events.password_change is ignore; nothing to do")


@pytest.mark.parametrize("message, logged", [
    ("plain\n", "tokensweeper-hook: plain\n"),
    ("\nfirst X  \n\n", "tokensweeper-hook: \nfirst X  \n"),
])
def test_a_log_line_ends_in_one_newline(capsys, message, logged):
    hook_module.log(message)
    assert capsys.readouterr().err == logged


def test_the_account_is_read_from_args_when_data_has_none(hook):
    hook.config(ENFORCE_SWEEP + "events: {remove: ignore, rename: ignore}\n")
    out, _ = hook.run(event("Whostmgr", "Accounts::Remove", "pre", {"args": {"user": "res1"}}))
    assert out == line("Remove res1: events.remove is ignore; nothing to do")
    hook.server.rename_account("res1", "res9")
    out, _ = hook.run(event("Whostmgr", "Accounts::Modify", "post",
                            {"args": {"user": "res1", "newuser": "res9"}}))
    assert out == line("Modify res9: events.rename is ignore; nothing to do")
    out, _ = hook.run(modify("res1", "-bad"))
    assert out == line("Modify: the event names no valid account; nothing to do")
    out, _ = hook.run(suspend("res1/../root"))
    assert out == line("suspendacct: the event names no valid account; nothing to do")


def test_a_policy_that_selects_nothing_queues_nothing(hook):
    hook.config(ENFORCE_SWEEP + "policy: {expired: false}\n")
    out, _ = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: the policy selects nothing; nothing to do")
    assert queue_entries() == []


def test_a_worker_that_cannot_start_names_the_file_it_failed_on(hook, monkeypatch):
    def no_lock(now_fn):
        raise OSError(28, "No space left on device", "/x/hook-worker.lock")

    monkeypatch.setattr(hookqueue, "start_worker", no_lock)
    hook.config(ENFORCE_SWEEP)
    _, err = hook.run(suspend("res1"))
    assert ("tokensweeper-hook: the queue's worker could not start: /x/hook-worker.lock: No "
            "space left on device\n") in err


def test_a_queue_that_cannot_be_written_is_recorded_naming_the_account(hook, monkeypatch):
    def full(event, key, action, account, now):
        raise OSError(28, "No space left on device", "/state/hook-queue/x.json")

    monkeypatch.setattr(hookqueue, "enqueue", full)
    hook.config(ENFORCE_SWEEP)
    out, err = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: sweep failed, state directory unusable (details in "
                       "cPanel's error_log)")
    why = ("sweep failed: the state directory cannot be used: /state/hook-queue/x.json: No "
           "space left on device")
    (record,) = hook.audit()
    assert (record["event"], record["epoch"], record["mode"], record["selectors"],
            record["note"]) == ("hook-error", NOW, "enforce", {"owners": ["res1"]}, why)
    assert "tokensweeper-hook: %s\n" % why in err and "Traceback" not in err


def test_a_queue_that_is_not_roots_is_recorded_naming_the_account(hook):
    hook.config(ENFORCE_SWEEP)
    os.makedirs(hook.state_dir, mode=0o700, exist_ok=True)
    blocker = os.path.join(hook.state_dir, "hook-queue")
    with open(blocker, "w") as handle:
        handle.write("in the way")
    out, err = hook.run(suspend("res1"))
    assert out == line("suspendacct res1: sweep failed (details in cPanel's error_log)")
    (record,) = hook.audit()
    assert (record["event"], record["epoch"], record["mode"], record["selectors"]) == (
        "hook-error", NOW, "enforce", {"owners": ["res1"]})
    assert record["note"].startswith("sweep failed: refusing to use %s: " % blocker)


def test_the_failure_and_skip_records_name_the_account_and_time(hook):
    from tokensweeper.lock import SweepLock

    hook.server.add_fault("exit", function="api_token_list")
    os.remove(hook.token_file("res1"))
    hook.run(remove("res1"))
    hook.config(ENFORCE_SWEEP + "events: {remove: revoke_all}\n")
    with SweepLock(os.path.join(hook.state_dir, "sweep.lock")):
        hook.run(remove("root"))
    failed, skipped = hook.audit()
    assert (failed["epoch"], failed["selectors"]) == (NOW, {"owners": ["res1"]})
    assert (skipped["epoch"], skipped["selectors"]) == (NOW, {"owners": ["root"]})


def test_a_snapshot_and_an_immediate_revoke_are_dated_by_the_events_clock(hook):
    hook.run(remove("res1"))
    (record,) = hook.audit()
    assert record["epoch"] == NOW
    hook.config(ENFORCE_SWEEP + "events: {remove: revoke_all}\n")
    hook.run(remove("root"))
    assert {r["epoch"] for r in hook.audit()} == {NOW}


def test_a_hung_whmapi1_is_bounded_by_the_hooks_timeout(hook, monkeypatch):
    monkeypatch.setattr(hook_module, "WHMAPI_TIMEOUT", 1)
    hook.server.add_fault("latency", function="api_token_list", seconds=4)
    out, err = hook.run(remove("res1"))
    assert b"(from cPanel's token file)" in out  # the listing timed out: the file stood in


def test_a_removal_snapshots_the_accounts_cpanel_tokens_too(hook):
    hook.server.add_account("res1", owner="root")
    hook.server.add_account("shop", owner="res1")
    hook.server.add_cpanel_token("res1", "cp-ci", NOW - 10 * DAY)
    hook.server.add_cpanel_token("shop", "wp", NOW - 10 * DAY)
    hook.server.write_token_files(hook.cpanel_root)
    out, _ = hook.run(remove("res1"))
    (record,) = hook.audit()
    assert out == line("Remove res1: recorded 4 tokens in the audit log (run %s)"
                       % record["run_id"])
    assert sorted((t["kind"], t["name"]) for t in record["tokens"]) == sorted([
        ("cpanel", "cp-ci"), ("whm", TRUST_NAME), ("whm", "deploy"), ("whm", "old-ci")])
    assert record["note"] == "res1: the account is being removed; cPanel deletes its tokens next"
    # An account with cPanel tokens only: no WHM listing is asked for.
    hook.server.reset_calls()
    out, _ = hook.run(remove("shop"))
    record = hook.audit()[-1]
    assert out == line("Remove shop: recorded 1 token in the audit log (run %s)"
                       % record["run_id"])
    assert record["note"] == "shop: the account is being removed; cPanel deletes its tokens next"
    assert hook.server.calls("api_token_list") == []


def test_a_cpanel_listing_that_fails_is_read_from_its_file_and_said(hook):
    hook.server.add_account("res1", owner="root")
    hook.server.add_cpanel_token("res1", "cp-ci", NOW - 10 * DAY)
    hook.server.write_token_files(hook.cpanel_root)
    hook.server.add_fault("fail", function="uapi_cpanel", owner="res1", reason="locked")
    hook.server.add_fault("non_reseller_refused")
    hook.terminate_reseller("res1")
    out, err = hook.run(remove("res1"))
    (record,) = hook.audit()
    assert len(record["tokens"]) == 4
    whm_part, cpanel_part = record["note"].split("; cPanel tokens read from", 1)
    assert whm_part.startswith("res1: the account is being removed; cPanel deletes its tokens "
                               "next; read from cPanel's token file: whmapi1 could not list them")
    assert cpanel_part.startswith(" the account's token file: whmapi1 could not list them (")
    assert "tokensweeper-hook: whmapi1 could not list res1's cPanel tokens (" in err


def test_an_event_over_ten_mib_is_named_so_in_the_log(hook):
    payload = suspend("res1") + b" " * (10 * 1024 * 1024)
    out, err = hook.run(payload)
    assert out == b"1"  # unparsed, its stage unknown: no words a pre stage could act on
    assert "tokensweeper-hook: the event is larger than 10 MiB: not a cPanel event\n" in err


# -- descriptors 0-2 closed at start (issue 31, break-it #2) ----------------------------


def in_a_child(check):
    """Run `check` in a forked child with descriptors 1 and 2 closed (as cPanel may start
    the hook) and Python's streams gone; returns what it wrote back."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            os.close(1)
            os.close(2)
            sys.stdout = sys.stderr = None
            result = check()
        except BaseException as error:  # the parent shows it
            result = repr(error)
        os.write(writer, json.dumps(result).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    return json.loads(data.decode())


def test_closed_standard_descriptors_are_filled_before_any_file_is_opened(tmp_path):
    def check():
        hook_module.fill_standard_fds()
        fd = os.open(str(tmp_path / "queue-entry"), os.O_WRONLY | os.O_CREAT)
        hook_module.log("the log writes somewhere harmless")
        return [fd > 2, os.readlink("/proc/self/fd/1"), os.readlink("/proc/self/fd/2"),
                os.get_inheritable(1), os.get_inheritable(2), sys.stdout.fileno(),
                sys.stderr.fileno()]

    assert in_a_child(check) == [True, os.devnull, os.devnull, True, True, 1, 2]
    assert (tmp_path / "queue-entry").exists()


def test_a_log_line_without_a_stderr_stream_is_dropped_not_raised():
    def check():
        hook_module.log("nobody reads this")
        return hook_module.answer("still answers")

    assert in_a_child(check) == 0


# -- a rename takes the old name's queued events along (issue 31, break-it #3) ----------


def queue_in_the_state_dir(hook):
    for name, value in hook.env().items():
        hook.monkeypatch.setenv(name, value)


def test_a_rename_requeues_only_the_old_names_events_for_the_new_name(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    queue_in_the_state_dir(hook)
    hook.server.add_account("shop1", owner="res1")
    for user in ("res1", "res1", "shop1"):
        hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", user, NOW)
    hook.server.rename_account("res1", "res2")
    out, err = hook.run(modify("res1", "res2"))
    assert out == line("Modify res2: events.rename is ignore; nothing to do; 2 queued events "
                       "of res1 follow it")
    assert "2 queued events of res1 now for res2" in err
    assert sorted(queue_entries()) == sorted([("suspend", "revoke_all", "res2")] * 2
                                             + [("suspend", "revoke_all", "shop1")])
    assert len(hook.started) == 1
    hook.server.rename_account("shop1", "shop2")
    out, _ = hook.run(modify("shop1", "shop2"))  # shop2 owns no tokens; its event moves
    assert out == line("Modify shop2: the account owns no API tokens; nothing to do; "
                       "1 queued event of shop1 follows it")
    out, _ = hook.run(suspend("res2"))  # no rename: nothing moves, nothing said
    assert out.endswith(b"the running worker applies it within seconds (tokensweeper "
                        b"queue shows what waits)\n")


def test_a_queue_that_cannot_be_used_keeps_the_old_name_and_says_so(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    queue_in_the_state_dir(hook)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "res1", NOW)
    os.chmod(os.path.join(hook.state_dir, "hook-queue"), 0o777)
    hook.server.rename_account("res1", "res2")
    out, err = hook.run(modify("res1", "res2"))
    assert out.endswith(b"; ITS QUEUED EVENTS STILL NAME res1 (details in cPanel's "
                        b"error_log)\n")
    assert "could not follow its rename: refusing to use" in err


# -- a rename cPanel did not carry out moves nothing (issue 31, break-it 3 #1) ----------


def accounts_with_users_files(hook, *users):
    """cPanel accounts as cPanel keeps them: each has its var/cpanel/users/USER file."""
    for user in users:
        if user not in {a["user"] for a in hook.server.accounts()}:
            hook.server.add_account(user, owner="root")
        hook.server.write_users_file(hook.cpanel_root, user)


@pytest.mark.parametrize("stranger, why", [
    (True, "res1 still has its users file"), (False, "no users file for res2")])
def test_a_modify_event_for_a_rename_that_did_not_happen_moves_and_revokes_nothing(
        hook, stranger, why):
    """A Modify post whose rename did not happen (cPanel refused it: the new name is
    another account's, or it failed) still names `newuser`. Moving res1's queued
    revoke_all to that name, or queueing events.rename for it, would revoke the tokens of
    a stranger (res2) or of whoever takes the name later: both stay with res1."""
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all, rename: revoke_all}\n")
    queue_in_the_state_dir(hook)
    if stranger:
        hook.reseller("res2", [("their-ci", 30, None)])
    accounts_with_users_files(hook, "res1", *(["res2"] if stranger else []))
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "res1", NOW)
    out, err = hook.run(modify("res1", "res2"))  # no rename_account: it did not happen
    assert out == line("Modify res2: res1 was not renamed to res2 (cPanel's users files "
                       "say otherwise); nothing to do, its queued events stay with res1")
    assert ("tokensweeper-hook: Accounts::Modify: res1 was not renamed to res2 (%s); "
            "nothing done, its queued events stay with res1\n" % why) in err
    assert queue_entries() == [("suspend", "revoke_all", "res1")]
    assert hook.started == []


def test_a_rename_whose_old_name_cannot_be_checked_moves_nothing(hook):
    hook.config(ENFORCE_SWEEP + "events: {rename: revoke_all}\n")
    hook.server.rename_account("res1", "res2")
    os.symlink("/dev/null", os.path.join(hook.cpanel_root, "var", "cpanel", "users", "res1"))
    out, err = hook.run(modify("res1", "res2"))
    assert out.startswith(line("Modify res2: res1 was not renamed to res2").rstrip(b"\n"))
    assert "(the users file of res1 cannot be checked)" in err
    assert queue_entries() == []


def test_a_rename_cpanel_carried_out_still_takes_the_queued_events_along(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all, rename: revoke_all}\n")
    queue_in_the_state_dir(hook)
    accounts_with_users_files(hook, "res1")
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "res1", NOW)
    hook.server.rename_account("res1", "res2")  # moves the users file, as cPanel does
    out, _ = hook.run(modify("res1", "res2"))
    assert out == line("Modify res2: revoke_all queued; the running worker applies it "
                       "within seconds (tokensweeper queue shows what waits); 1 queued "
                       "event of res1 follows it")
    assert queue_entries() == [("suspend", "revoke_all", "res2"),
                               ("rename", "revoke_all", "res2")]


def test_a_rename_onto_a_name_with_stale_queued_events_drops_them(hook):
    """res2 was suspended (revoke_all queued while a sweep held the lock) and removed
    (cPanel deleted its tokens), then res1 took the name res2. res2's queued events are a
    former account's: applied now they would revoke res1's tokens, all older than them."""
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    queue_in_the_state_dir(hook)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "res2", NOW)
    hook.server.rename_account("res1", "res2")
    out, err = hook.run(modify("res1", "res2"))
    assert out == line("Modify res2: events.rename is ignore; nothing to do; 1 queued event "
                       "of a former res2 dropped")
    assert ("tokensweeper-hook: 1 queued event of a former res2 dropped: that account was "
            "gone when res1 took its name\n") in err
    assert queue_entries() == []


def test_a_rename_both_takes_its_events_along_and_drops_the_former_accounts(hook):
    hook.config(ENFORCE_SWEEP + "events: {suspend: revoke_all}\n")
    queue_in_the_state_dir(hook)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "res2", NOW)
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", "res1", NOW)
    hook.server.rename_account("res1", "res2")
    out, _ = hook.run(modify("res1", "res2"))
    assert out == line("Modify res2: events.rename is ignore; nothing to do; 1 queued event "
                       "of res1 follows it; 1 queued event of a former res2 dropped")
    assert queue_entries() == [("password_change", "sweep", "res2")]
    assert len(hook.started) == 1
