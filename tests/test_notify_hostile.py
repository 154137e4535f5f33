"""Breaking the notices (issue 17): forged or stale audit records, a clock that jumps,
an MTA that hangs or leaves a helper behind. Runs on every Python of the matrix."""

import json
import os

import pytest

from tests.helpers import DAY, NOW, add, revoke_calls
from tests.test_notify import SENDMAIL, Server  # noqa: F401 - the fixture's server


@pytest.fixture
def box(tmp_path):
    return Server(tmp_path)


def append_record(box, record):
    with open(box.cli.audit_path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def forged_notice(real, sent, due):
    """A copy of a real notice record with other times (an admin's paste of an old line)."""
    forged = json.loads(json.dumps(real))
    forged.update(epoch=sent, run_id="forged")
    for entry in forged["tokens"]:
        entry["due_epoch"] = due
    return forged


def test_an_older_notice_appended_later_never_shortens_the_real_notice_period(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    [real] = box.notices()
    # Someone appends an old notice for the same token (sent 30 days ago, due 23 days ago).
    append_record(box, forged_notice(real, NOW - 30 * DAY, NOW - 23 * DAY))
    run = box.run(1)
    assert run.status == 0, run
    assert revoke_calls(box.fake) == []
    assert box.fake.token_names("root") == {"old-ci"}
    run = box.run(7)
    assert box.fake.token_names("root") == set(), run


def test_a_notice_whose_due_day_is_before_its_notice_period_waits_the_period(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    [real] = box.notices()
    # A record saying "sent today, due today": never sooner than notice_days after it.
    append_record(box, forged_notice(real, NOW + DAY, NOW + DAY))
    run = box.run(2)
    assert box.fake.token_names("root") == {"old-ci"}, run
    assert "notice sent on 2026-11-28, revocation due on 2026-12-05" in box.run(
        2, "plan", "--expired").out
    box.run(7)
    assert box.fake.token_names("root") == {"old-ci"}
    box.run(8)
    assert box.fake.token_names("root") == set()


def test_history_keeps_the_latest_notice_sent_whatever_the_order_of_the_lines():
    from tokensweeper import notify

    def record(sent, due, action="notice"):
        return {"event": "notice", "epoch": sent,
                "tokens": [{"identity": "root:t:1:abc", "action": action, "due_epoch": due}]}

    notices, _ = notify.history([record(NOW, NOW + 7 * DAY), record(NOW - 9 * DAY, NOW - DAY)])
    assert (notices["root:t:1:abc"].sent, notices["root:t:1:abc"].due) == (NOW, NOW + 7 * DAY)
    notices, _ = notify.history([record(NOW - 9 * DAY, NOW - DAY), record(NOW, NOW + 7 * DAY)])
    assert notices["root:t:1:abc"].sent == NOW
    notices, _ = notify.history([record(NOW, NOW + DAY), record(NOW, NOW + 2 * DAY)])
    assert notices["root:t:1:abc"].due == NOW + 2 * DAY  # same time: the later line


# -- the MTA ------------------------------------------------------------------------


def send_in_thread(message, timeout):
    """mail.send in a thread: (error or None, finished within a minute?)."""
    import threading

    from tokensweeper import mail

    said = []

    def run():
        try:
            mail.send(message, timeout=timeout)
        except mail.MailError as error:
            said.append(error)
        else:
            said.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    return (said[0] if said else "still waiting"), not thread.is_alive()


def kill_pid_in(path):
    import signal

    try:
        with open(path) as handle:
            os.kill(int(handle.read()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def test_a_delivery_process_left_behind_is_no_hang_and_no_failure(monkeypatch, tmp_path):
    """Exim's background delivery keeps sendmail's output open after sendmail exited 0:
    the message was taken, and the run must neither wait for the delivery nor call it a
    failure."""
    from tokensweeper import mail

    pid_file = str(tmp_path / "delivery.pid")
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_DETACH", "600")
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_DETACH_PID", pid_file)
    message = mail.compose("a@example.com", "s", "b\n", NOW, host="h.example")
    try:
        said, finished = send_in_thread(message, timeout=2)
    finally:
        kill_pid_in(pid_file)
    assert finished, "mail.send waited for the background delivery"
    assert said is None
    assert sorted(os.listdir(str(tmp_path / "mail"))) == ["0001.argv.json", "0001.eml"]


def test_a_hung_mta_with_a_delivery_process_left_behind_is_still_bounded(monkeypatch,
                                                                          tmp_path):
    from tokensweeper import mail

    script = tmp_path / "sendmail"
    pid_file = str(tmp_path / "helper.pid")
    # Starts a helper in its own session that holds the pipes, then hangs itself.
    script.write_text(
        "#!/bin/sh\nsetsid sh -c 'echo $$ > %s; exec sleep 600' &\nexec sleep 600\n" % pid_file)
    script.chmod(0o755)
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", str(script))
    message = mail.compose("a@example.com", "s", "b\n", NOW, host="h.example")
    try:
        said, finished = send_in_thread(message, timeout=1)
    finally:
        kill_pid_in(pid_file)
    assert finished, "mail.send waited for the helper after killing sendmail"
    assert str(said) == "%s did not finish within 1 seconds" % script


def apply_in_process(box, monkeypatch, tokens):
    """notify.apply for these tokens (expired policy) as cron's run would, in this process."""
    from tokensweeper import config, notify
    from tokensweeper.policy import Protection, Selectors, make_plan
    from tokensweeper.whmapi import Client

    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", box.cli.state_dir)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", box.cli.cpanel_root)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", box.mail_dir)
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    box.fake.apply_env(monkeypatch)
    cfg = config.load(box.cli.config_path)
    plan = make_plan(tokens, None, Selectors(expired=True), Protection(), NOW)
    return plan, notify.apply(plan, cfg, Client(), NOW, "cron", "enforce")


def test_a_hung_mta_is_waited_for_once_per_run_not_once_per_recipient(box, monkeypatch):
    """The run holds the sweep lock while it mails: with an MTA that never answers, every
    recipient's TIMEOUT would keep the hook's revoke_all and the page out for that long."""
    from tokensweeper import mail
    from tokensweeper.tokens import Token

    box.cli.config(box_config("[owner, contact, a@example.org, b@example.org]"))
    monkeypatch.setattr(mail, "TIMEOUT", 1)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_HANG", "600")
    old = Token("res1", "old-ci", NOW - 200 * DAY, NOW - DAY)
    plan, report = apply_in_process(box, monkeypatch, [old])
    outcomes = {m["to"]: m["outcome"] for m in report.mail}
    assert sorted(outcomes) == ["a@example.org", "admin@example.com", "b@example.org",
                                "res1@example.net"]
    tried = [to for to, said in outcomes.items()
             if said == "failed: %s did not finish within 1 seconds" % SENDMAIL]
    assert len(tried) == 1
    for to, said in outcomes.items():
        if to not in tried:
            assert said == ("failed: not tried: %s did not finish within 1 seconds" % SENDMAIL)
    assert len(report.errors) == 4 and report.run_id is not None  # the notice is on record
    assert report.noticed == [old]


def box_config(recipients):
    from tests.test_notify import NOTICE_CONFIG

    return NOTICE_CONFIG.replace("[owner, contact]", recipients)


def test_a_token_whose_acls_changed_after_its_notice_starts_over(box):
    created = NOW - 200 * DAY
    box.fake.add_token("res1", "ci", created, expires_at=NOW - DAY)
    box.run(0)
    # Day 3: the same token (same creation time) gets other ACLs (api_token_update).
    box.fake.remove_token("res1", "ci")
    box.fake.add_token("res1", "ci", created, expires_at=NOW - DAY, acls={"list-accts": True})
    run = box.run(7)
    assert run.status == 0, run
    assert box.fake.token_names("res1") == {"ci"} and revoke_calls(box.fake) == []
    assert [n["tokens"][0]["due"] for n in box.notices()] == ["2026-12-04", "2026-12-11"]
    box.run(14)
    assert box.fake.token_names("res1") == set()


def test_a_clock_set_back_after_a_notice_holds_the_token(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(10)
    run = box.run(0)  # the clock went back ten days: no second notice, nothing revoked
    assert run.status == 0, run
    assert len(box.notices()) == 1 and len(box.messages()) == 1
    assert box.fake.token_names("root") == {"old-ci"}
    box.run(16)
    assert box.fake.token_names("root") == {"old-ci"}
    box.run(17)
    assert box.fake.token_names("root") == set()


def test_a_damaged_line_and_a_foreign_record_in_the_log_change_nothing(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    with open(box.cli.audit_path, "a") as handle:
        handle.write('{"event": "notice", "epoch": 1, "tokens": [{"identity": 5}]\n')  # torn
        handle.write('{"event": "notice", "epoch": "x", "tokens": "all"}\n')
        handle.write('["not", "a", "record"]\n')
    run = box.run(3)
    assert run.status == 0, run
    assert box.fake.token_names("root") == {"old-ci"} and len(box.messages()) == 1
    box.run(7)
    assert box.fake.token_names("root") == set()


def test_a_reseller_whose_accountsummary_fails_is_a_warning_and_the_contact_is_told(box):
    box.fake.add_fault("exit", function="accountsummary", status=255, message="Killed")
    add(box.fake, "res1", "billing", age_days=100)
    run = box.run(0)
    assert run.status == 0, run
    assert "warning: no contact address for res1: " in run.err and "Traceback" not in run.err
    assert [m["To"] for m in box.messages()] == ["admin@example.com"]
    [record] = box.notices()
    assert record["tokens"][0]["recipients"] == ["admin@example.com"]
    assert box.fake.token_names("res1") == {"billing"}


def test_the_server_contact_is_read_as_cpanel_reads_wwwacct_conf(box):
    """Cpanel::Config::LoadWwwAcctConf: `\\s+` between key and value, the last line of a
    key wins (a hand-edited file with a tab, or an old line left above the new one)."""
    from tests.test_notify import notify_contact

    path = os.path.join(box.cli.cpanel_root, "etc", "wwwacct.conf")
    with open(path, "w") as handle:
        handle.write("CONTACTEMAIL old@example.com\nHOST x\nCONTACTEMAIL\tnew@example.com\n")
    assert notify_contact(box) == (["new@example.com"], None)
    with open(path, "w") as handle:
        handle.write("CONTACTEMAIL new@example.com\nCONTACTEMAIL \n")
    assert notify_contact(box)[0] == []


def test_a_hand_edited_record_never_breaks_the_audit_tab_or_command(box, tmp_path,
                                                                     monkeypatch):
    """A notice (or any) record whose tokens or owner_errors are not what the tool writes:
    the audit tab and `tokensweeper audit --run` still show the log."""
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    append_record(box, {"event": "notice", "epoch": NOW, "run_id": "edited", "actor": "cron",
                        "tokens": ["junk", {"owner": "root", "name": "old-ci",
                                            "action": "notice"}],
                        "owner_errors": ["not", "a", "map"]})
    run = box.run(1, "audit", "--run", "edited")
    assert run.status == 0 and "Traceback" not in run.err, run
    assert "old-ci" in run.out
    from tests.test_web_cgi import Site

    site = Site(tmp_path / "web", monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", box.cli.state_dir)
    for query in ("page=audit", "page=audit&run=edited"):
        reply = site.get(query)
        assert reply.status == 200, reply.text()
        assert "old-ci" in reply.text()


def test_the_hooks_notice_mail_waits_no_longer_than_its_whmapi1_calls(box, monkeypatch):
    """The hook's worker handles a storm's events one round at a time: a hung MTA is given
    the hook's bound (hookqueue.MAIL_TIMEOUT, 20 s), not cron's 60 s."""
    from tokensweeper import config, hookqueue
    from tokensweeper.policy import Protection, Selectors, make_plan
    from tokensweeper.tokens import Token
    from tokensweeper.whmapi import Client

    assert hookqueue.MAIL_TIMEOUT == hookqueue.WHMAPI_TIMEOUT == 20
    monkeypatch.setattr(hookqueue, "MAIL_TIMEOUT", 1)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", box.cli.state_dir)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", box.cli.cpanel_root)
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", box.mail_dir)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_HANG", "600")
    box.fake.apply_env(monkeypatch)
    cfg = config.load(box.cli.config_path)
    old = Token("res1", "old-ci", NOW - 200 * DAY, NOW - DAY)
    plan = make_plan([old], None, Selectors(expired=True), Protection(), NOW)
    said = hookqueue.give_notice(plan, cfg, Client(timeout=5), NOW,
                                 "hook:Accounts::suspendacct", lambda line: None)
    assert said == "notice sent for 1 token, 1 token waiting for the notice period, NOTICE " \
                   "MAIL FAILED (details in cPanel's error_log)"
    [record] = box.notices()
    assert record["mail"][0]["outcome"] == "failed: %s did not finish within 1 seconds" % SENDMAIL


def test_a_notice_says_which_kind_of_token_and_whose_when_names_collide():
    """bob's WHM token `deploy` and the `deploy` of bob's cPanel account are two tokens:
    the mail must say which (and where to look: WHM or cPanel), never "WHM" for both."""
    from tokensweeper import notify
    from tokensweeper.policy import Protection, Selectors, make_plan
    from tokensweeper.tokens import CPANEL, Token

    whm = Token("bob", "deploy", NOW - 200 * DAY, NOW - DAY)
    cpanel = Token("bob", "deploy", NOW - 100 * DAY, NOW - DAY, kind=CPANEL)
    plan = make_plan([whm, cpanel], None, Selectors(expired=True), Protection(), NOW)
    due = NOW + 7 * DAY
    both = notify.body("h", plan, {"notice": [whm, cpanel], "reminder": []}, due)
    assert "will revoke these API tokens on or after" in both
    assert "  deploy (owner bob, created 2026-05-11)" in both
    assert "  deploy (cPanel account bob, created 2026-08-19)" in both
    alone = notify.body("h", plan, {"notice": [cpanel], "reminder": []}, due)
    assert "will revoke this cPanel API token on or after" in alone and "WHM" not in alone
    soon = Token("bob", "ci", NOW - DAY, NOW + DAY, kind=CPANEL)
    reminder = notify.body("h", plan, {"notice": [], "reminder": [(soon, 1)]}, due)
    assert reminder.startswith("This cPanel API token expires soon; cPanel refuses")
    assert "  ci (cPanel account bob) expires on 2026-11-28" in reminder
    whm_only = notify.body("h", plan, {"notice": [whm], "reminder": [(whm, 7), (whm, 1)]}, due)
    assert "will revoke this WHM API token on or after" in whm_only
    assert "These WHM API tokens expire soon" in whm_only


@pytest.mark.parametrize("due", [10 ** 30, 2 ** 63])
def test_a_notice_whose_due_day_no_clock_can_show_never_breaks_a_sweep(box, due):
    """A hand-edited notice line with a due day past year 9999: the cron sweep
    and `plan` still run, and the token waits its own notice period from that notice."""
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    [real] = box.notices()
    append_record(box, forged_notice(real, NOW + DAY, due))
    for args in (("sweep", "--scheduled"), ("plan", "--expired")):
        run = box.run(2, *args)
        assert "Traceback" not in run.err and run.status in (0, 1), run
    assert box.fake.token_names("root") == {"old-ci"}
    assert "revocation due on 2026-12-05" in box.run(2, "plan", "--expired").out
