"""Notices before unattended revocations and expiry reminders (issue 17).

The timeline runs bin/tokensweeper `sweep --scheduled` (cron's line) as separate
processes at TOKENSWEEPER_NOW day 0, 3 and 7 against the fake whmapi1 and the fake
sendmail, and reads the mail with the `email` package as a recipient would.
Runs on every Python of the matrix (3.6 syntax).
"""

import email
import email.policy
import email.utils
import json
import os
import sys
import time

import pytest

from tests.helpers import DAY, NOW, Cli, add, new_server, revoke_calls, utc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENDMAIL = os.path.join(REPO, "tests", "fakes", "sendmail")
sys.path.insert(0, os.path.join(REPO, "plugin"))

from tokensweeper import config, mail, notify, policy  # noqa: E402
from tokensweeper.tokens import Token  # noqa: E402

NOTICE_CONFIG = """\
mode: enforce
policy:
  expired: true
  unused_for_days: 30
notify:
  notice_days: 7
  recipients: [owner, contact]
"""


def log_line(when, owner, name):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(when))
    return ("[%s] info [whostmgrd] HTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['GET /json-api/listaccts HTTP/1.0']\n" % (stamp, owner, name))


class Server(object):
    """A fake server with a contact address, one reseller with its own, a usage log and
    a fake sendmail, run at any day of the timeline."""

    def __init__(self, tmp_path):
        self.fake = new_server(tmp_path / "server", resellers=["res1"])
        self.fake.add_account("res1", owner="root", email="res1@example.net")
        self.cli = Cli(self.fake, tmp_path / "run")
        self.mail_dir = str(tmp_path / "mail")
        etc = os.path.join(self.cli.cpanel_root, "etc")
        os.makedirs(etc)
        with open(os.path.join(etc, "wwwacct.conf"), "w") as handle:
            handle.write("ADDR 192.0.2.10\nCONTACTEMAIL admin@example.com\nNS ns1.example.com\n")
        self.log = os.path.join(self.cli.cpanel_root, "usr", "local", "cpanel", "logs",
                                "api_tokens_log")
        os.makedirs(os.path.dirname(self.log))
        # Evidence reaching back 60 days: another token was used then.
        self.use(NOW - 60 * DAY, "root", "monitoring")
        self.cli.config(NOTICE_CONFIG)

    def use(self, when, owner, name):
        with open(self.log, "a") as handle:
            handle.write(log_line(when, owner, name))

    def run(self, day, *args, **env):
        self.cli.now = NOW + day * DAY
        env.setdefault("TOKENSWEEPER_SENDMAIL", SENDMAIL)
        env.setdefault("TOKENSWEEPER_FAKE_MAIL_DIR", self.mail_dir)
        return self.cli(*(args or ("sweep", "--scheduled")), **env)

    def messages(self):
        """Every message the fake sendmail took, parsed, oldest first."""
        if not os.path.isdir(self.mail_dir):
            return []
        found = []
        for name in sorted(os.listdir(self.mail_dir)):
            if name.endswith(".eml"):
                with open(os.path.join(self.mail_dir, name), "rb") as handle:
                    found.append(email.message_from_binary_file(handle,
                                                                policy=email.policy.default))
        return found

    def notices(self):
        return [r for r in self.cli.audit_records() if r["event"] == "notice"]


@pytest.fixture
def box(tmp_path):
    return Server(tmp_path)


def by_recipient(messages):
    return {m["To"]: m for m in messages}


def test_the_timeline_notice_wait_revoke_kept_by_use_and_recreated(box):
    fake = box.fake
    add(fake, "root", "old-ci", age_days=200, expires_in_days=-5)  # expired: stale
    add(fake, "res1", "billing", age_days=100)  # never used in 60 days: stale
    add(fake, "res1", "deploy", age_days=90, expires_in_days=-1)
    add(fake, "res1", "fresh", age_days=1)  # too young to be unused: kept

    # Day 0: every stale token gets a notice, none is revoked.
    run = box.run(0)
    assert run.status == 0, run
    assert revoke_calls(fake) == []
    assert fake.token_names("root") == {"old-ci"}
    mails = by_recipient(box.messages())
    assert sorted(mails) == ["admin@example.com", "res1@example.net"]
    host = mail.hostname()
    admin, reseller = mails["admin@example.com"], mails["res1@example.net"]
    assert admin["Subject"] == "[%s] 3 API tokens will be revoked on 2026-12-04" % host
    assert reseller["Subject"] == "[%s] 2 API tokens will be revoked on 2026-12-04" % host
    for message in (admin, reseller):
        assert message["From"] == "Token Sweeper <root@%s>" % host
        assert message["Auto-Submitted"] == "auto-generated"
        assert email.utils.parsedate_to_datetime(message["Date"]).timestamp() == NOW
        assert message["Message-ID"].startswith("<") and host in message["Message-ID"]
        assert message.get_content_type() == "text/plain"
    text = reseller.get_content()
    assert "billing (owner res1, created 2026-08-19)" in text
    assert "deploy (owner res1" in text and "old-ci" not in text  # root's is not res1's business
    assert "on or after 2026-12-04" in text and "protect.names" in text
    assert "never used" in text or "not used" in text or "unused" in text
    assert "expired" in admin.get_content()
    with open(os.path.join(box.mail_dir, "0001.argv.json")) as handle:
        assert json.load(handle) == ["-t", "-oi"]
    [record] = box.notices()
    assert sorted((t["owner"], t["name"]) for t in record["tokens"]) == [
        ("res1", "billing"), ("res1", "deploy"), ("root", "old-ci")]
    entry = [t for t in record["tokens"] if t["name"] == "deploy"][0]
    assert entry["identity"].startswith("res1:deploy:%d:" % (NOW - 90 * DAY))
    assert entry["due"] == "2026-12-04" and entry["action"] == "notice"
    assert entry["recipients"] == ["res1@example.net", "admin@example.com"]
    assert "expired" in entry["reason"]
    assert sorted(m["to"] for m in record["mail"]) == ["admin@example.com", "res1@example.net"]
    assert {m["outcome"] for m in record["mail"]} == {"sent"}
    outcome = box.cli.audit_records()[-1]
    assert outcome["event"] == "outcome"
    assert {t["action"] for t in outcome["tokens"]} == {"notice-period"}

    # Day 2: billing is used; day 3: deploy is re-created under the same name.
    box.use(NOW + 2 * DAY, "res1", "billing")
    fake.remove_token("res1", "deploy")
    fake.add_token("res1", "deploy", NOW + 3 * DAY - 60, expires_at=NOW + 4 * DAY)
    run = box.run(3)
    assert run.status == 0, run
    assert revoke_calls(fake) == [] and len(box.messages()) == 2 and len(box.notices()) == 1

    # Day 7: the expired token is revoked; billing was used, so it stays; the new deploy
    # (expired on day 4) is another token: a notice of its own, not revoked.
    run = box.run(7)
    assert run.status == 0, run
    assert fake.token_names("root") == set()
    assert fake.token_names("res1") == {"billing", "deploy", "fresh"}
    revoked = [t for r in box.cli.audit_records() if r["event"] == "outcome"
               for t in r["tokens"] if t["action"] == "revoked"]
    assert [(t["owner"], t["name"]) for t in revoked] == [("root", "old-ci")]
    assert "notice sent on 2026-11-27, revocation due on 2026-12-04" in revoked[0]["reason"]
    latest = box.messages()[2:]
    assert sorted(m["To"] for m in latest) == ["admin@example.com", "res1@example.net"]
    assert {m["Subject"] for m in latest} == {
        "[%s] 1 API token will be revoked on 2026-12-11" % host}
    assert "deploy (owner res1, created 2026-11-30)" in latest[0].get_content()
    assert [t["name"] for t in box.notices()[-1]["tokens"]] == ["deploy"]


def test_a_token_kept_by_use_gets_a_new_notice_when_stale_again(box):
    add(box.fake, "res1", "billing", age_days=100)
    box.run(0)
    box.use(NOW + 1 * DAY, "res1", "billing")
    box.run(7)
    assert box.fake.token_names("res1") == {"billing"}
    assert len(box.notices()) == 1
    # 40 days later it is stale again: a new notice, not a revocation on the old one.
    run = box.run(45)
    assert run.status == 0, run
    assert box.fake.token_names("res1") == {"billing"}
    assert [n["tokens"][0]["due"] for n in box.notices()] == ["2026-12-04", "2027-01-18"]


def test_failing_sendmail_is_an_error_but_due_revocations_happen(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    add(box.fake, "root", "later", age_days=200, expires_in_days=-1)
    run = box.run(7, TOKENSWEEPER_FAKE_SENDMAIL_FAIL="75")
    assert run.status == 1, run
    assert "notice mail to admin@example.com failed" in run.err
    assert "status 75" in run.err
    assert box.fake.token_names("root") == {"later"}  # old-ci was due: revoked anyway
    record = box.notices()[-1]
    assert record["mail"][0]["outcome"].startswith("failed: ")
    assert any("failed" in p for p in record["problems"])


def test_missing_sendmail_binary_is_an_error_not_a_crash(box, tmp_path):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    run = box.run(0, TOKENSWEEPER_SENDMAIL=str(tmp_path / "no-such-sendmail"))
    assert run.status == 1, run
    assert "cannot run" in run.err and "Traceback" not in run.err
    assert box.notices()[0]["mail"][0]["outcome"].startswith("failed: cannot run")


def test_a_notice_that_reaches_nobody_is_no_notice_and_never_a_crash(box):
    """Issue 25: no valid recipient (accountsummary lists `*unknown*`, CONTACTEMAIL empty):
    the run fails like a failed mail, the record says "not delivered", and the token is
    not revoked on the strength of it, however many days pass."""
    box.fake.add_account("res1", owner="root", email=None)  # cPanel lists "*unknown*"
    with open(os.path.join(box.cli.cpanel_root, "etc", "wwwacct.conf"), "w") as handle:
        handle.write("ADDR 192.0.2.10\nCONTACTEMAIL \n")
    add(box.fake, "res1", "billing", age_days=100)
    run = box.run(0)
    assert run.status == 1, run
    assert "warning: res1 has no contact address (cPanel lists none)" in run.err
    assert ("error: the notice for res1/billing was not delivered: notify.recipients found "
            "no valid address for it") in run.err
    record = box.notices()[0]
    assert record["problems"][0] == "res1 has no contact address (cPanel lists none)"
    assert record["problems"][1].startswith("CONTACTEMAIL in ")
    assert record["problems"][1].endswith("is empty")
    (entry,) = record["tokens"]
    assert entry["action"] == "notice-not-delivered" and entry["recipients"] == []
    assert entry["reason"].startswith("not delivered")
    assert box.messages() == []
    for later in (8, 30):  # long past any due day: still no revocation, still an error
        run = box.run(later)
        assert run.status == 1, run
        assert box.fake.token_names("res1") == {"billing"}
    assert box.fake.calls("api_token_revoke") == []


def test_an_interactive_sweep_is_never_delayed(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    run = box.run(0, "sweep", "--expired", "--yes")
    assert run.status == 0, run
    assert box.fake.token_names("root") == set()
    assert box.messages() == [] and box.notices() == []


def test_preview_mode_sends_no_notice_and_says_it_would(box):
    box.cli.config(NOTICE_CONFIG.replace("mode: enforce", "mode: preview"))
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    run = box.run(0)
    assert run.status == 0, run
    assert box.messages() == [] and box.notices() == []
    preview = box.cli.audit_records()[-1]
    assert preview["tokens"][0]["action"] == "notice-period"
    assert preview["tokens"][0]["reason"].startswith(
        "would send a notice now; revocation due on 2026-12-04")


def test_notices_off_is_todays_behaviour(box):
    box.cli.config("mode: enforce\n")
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    assert box.fake.token_names("root") == set() and box.messages() == []


def test_plan_shows_notice_state(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    add(box.fake, "root", "older", age_days=300, expires_in_days=-50)
    run = box.run(0, "plan", "--expired")
    assert "would send a notice now; revocation due on 2026-12-04" in run.out
    box.run(0)
    run = box.run(1, "plan", "--expired", "--json")
    tokens = {t["name"]: t for t in run.json()["tokens"]}
    assert tokens["old-ci"]["notice"] == "notice sent on 2026-11-27, revocation due on 2026-12-04"
    assert tokens["old-ci"]["decision"] == "revoke"  # a person's sweep is not delayed


# -- expiry reminders ------------------------------------------------------------------


def test_expiry_reminders_once_per_token_and_day(box):
    box.cli.config("mode: preview\nnotify:\n  expiry_reminders: [7, 1]\n  recipients: [owner]\n")
    add(box.fake, "res1", "ci", age_days=10, expires_in_days=5)
    add(box.fake, "res1", "far", age_days=10, expires_in_days=30)
    box.run(0)
    [first] = box.messages()
    assert first["To"] == "res1@example.net"
    assert first["Subject"] == "[%s] 1 API token expires soon" % mail.hostname()
    assert "ci (owner res1) expires on 2026-12-02" in first.get_content()
    assert "far" not in first.get_content()
    box.run(1)  # still within 7 days: already reminded
    assert len(box.messages()) == 1
    box.run(4)  # 1 day left: the 1-day reminder
    assert len(box.messages()) == 2
    box.run(4)
    box.run(5)  # expired now: nothing more
    assert len(box.messages()) == 2
    reminded = [t for n in box.notices() for t in n["tokens"]]
    assert [(t["action"], t["reminder_days"]) for t in reminded] == [
        ("reminder", 7), ("reminder", 1)]


# -- in-process: the pure rules, addresses and headers ------------------------------------


def token(name="t", owner="res1", created=NOW - 100 * DAY, expires=None):
    return Token(owner, name, created, expires)


def test_due_reminders_choose_the_nearest_day_and_never_repeat():
    soon = token("soon", expires=NOW + 5 * DAY)
    close = token("close", expires=NOW + DAY // 2)
    assert notify.due_reminders([soon, close], {}, [7, 1], NOW) == [(soon, 7), (close, 1)]
    assert notify.due_reminders([close], {close.identity(): {7}}, [7, 1], NOW) == [(close, 1)]
    assert notify.due_reminders([close], {close.identity(): {1}}, [7, 1], NOW) == []
    assert notify.due_reminders([token(expires=NOW)], {}, [7], NOW) == []
    assert notify.due_reminders([token(expires=NOW + 7 * DAY)], {}, [7], NOW) != []
    assert notify.due_reminders([token(expires=NOW + 7 * DAY + 1)], {}, [7], NOW) == []


def test_split_addresses_refuses_control_characters_and_placeholders():
    assert notify.split_addresses("a@example.com, b@example.org") == (
        ["a@example.com", "b@example.org"], [])
    assert notify.split_addresses("*unknown*") == ([], [])
    assert notify.split_addresses("") == ([], [])
    assert notify.split_addresses(None) == ([], [])
    hostile = "a@example.com\r\nBcc: evil@example.org"
    assert notify.split_addresses(hostile) == ([], [hostile])
    assert notify.split_addresses("nobody, x@y.z") == (["x@y.z"], ["nobody"])


def test_compose_never_lets_a_header_value_start_a_header():
    message = mail.compose("a@example.com", "[h] tok\r\nBcc: evil@example.org\nX: y", "body\n",
                           NOW, host="h.example")
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X"] is None
    assert parsed["Subject"] == "[h] tok Bcc: evil@example.org X: y"
    with pytest.raises(mail.MailError):
        mail.compose("a@example.com\r\nBcc: evil@example.org", "s", "b", NOW)
    with pytest.raises(mail.MailError):
        mail.compose("ädmin@example.com", "s", "b", NOW)


def test_compose_encodes_non_ascii_text():
    message = mail.compose("a@example.com", "[h] Jürgen’s token", "Grüße: token ‘ci’\n", NOW,
                           host="h.example")
    raw = message.as_bytes()
    assert all(byte < 128 for byte in raw.split(b"\n\n", 1)[0])  # headers are ASCII
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "[h] Jürgen’s token"
    assert parsed.get_content() == "Grüße: token ‘ci’\n"


def test_hostile_reseller_contact_never_reaches_a_header(box):
    box.fake.add_account("res1", owner="root", email="x@example.net\nBcc: evil@example.org")
    add(box.fake, "res1", "billing", age_days=100)
    run = box.run(0)
    assert run.status == 0, run
    assert "not a mail address" in run.err
    assert [m["To"] for m in box.messages()] == ["admin@example.com"]
    for message in box.messages():
        assert message["Bcc"] is None


def test_config_checks_notify_and_defaults_change_nothing():
    assert config.DEFAULTS["notify"]["notice_days"] == 0
    values = config.parse("notify:\n  notice_days: 7\n  recipients: [owner, a@example.com, owner]"
                          "\n  expiry_reminders: [1, 7, 7]\n")
    assert values["notify"] == {"notice_days": 7, "recipients": ["owner", "a@example.com"],
                                "expiry_reminders": [7, 1]}
    for text, says in [
        ("notify: {notice_days: -1}", "notify.notice_days: expected a whole number of days "
                                      "from 0 to 365, got -1"),
        ("notify: {notice_days: 7.5}", "notify.notice_days"),
        ("notify: {recipients: [owner, 'not an address']}", "'not an address' is neither"),
        ("notify: {recipients: owner}", "expected a list"),
        ("notify: {expiry_reminders: [0]}", "notify.expiry_reminders"),
        ("notify: {expiry_reminders: 7}", "expected a list of whole numbers"),
        ("notify: {notice_day: 7}", "notify.notice_day: unknown key"),
    ]:
        with pytest.raises(config.ConfigError) as error:
            config.parse(text)
        assert says in str(error.value)


def test_due_day_is_the_start_of_the_day():
    assert policy.due_day(utc(2026, 11, 27, 23, 59), 7) == utc(2026, 12, 4)
    assert policy.due_day(utc(2026, 11, 27), 1) == utc(2026, 11, 28)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_an_audit_log_that_is_not_roots_sends_nothing_and_revokes_nothing(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    os.chown(box.cli.audit_path, 65534, 65534)
    run = box.run(7)
    assert run.status != 0 and "refusing to use" in run.err and "audit.log" in run.err
    assert "Traceback" not in run.err
    assert box.fake.token_names("root") == {"old-ci"} and len(box.messages()) == 1


def test_two_runs_never_notice_the_same_token_twice(box):
    """The notice step runs under the sweep lock, so a second run reads the first's record."""
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    first = box.cli.start("sweep", "--scheduled", TOKENSWEEPER_SENDMAIL=SENDMAIL,
                          TOKENSWEEPER_FAKE_MAIL_DIR=box.mail_dir)
    second = box.run(0)
    first.communicate(timeout=120)
    assert len(box.notices()) == 1 and len(box.messages()) == 1
    assert second.status in (0, 1)  # 1 when the other run still held the lock


def test_a_fifo_in_place_of_wwwacct_conf_never_stalls_the_run(box):
    path = os.path.join(box.cli.cpanel_root, "etc", "wwwacct.conf")
    os.unlink(path)
    os.mkfifo(path)
    assert notify_contact(box) == ([], "the server contact address cannot be read from %s: "
                                       "not a regular file" % path)


def notify_contact(box):
    old = os.environ.get("TOKENSWEEPER_CPANEL_ROOT")
    os.environ["TOKENSWEEPER_CPANEL_ROOT"] = box.cli.cpanel_root
    try:
        return notify.server_contact()
    finally:
        if old is None:
            del os.environ["TOKENSWEEPER_CPANEL_ROOT"]
        else:
            os.environ["TOKENSWEEPER_CPANEL_ROOT"] = old


def test_server_contact_reads_several_addresses_and_refuses_a_spoiled_value(box):
    path = os.path.join(box.cli.cpanel_root, "etc", "wwwacct.conf")
    with open(path, "w") as handle:
        handle.write("HOST x\r\nCONTACTEMAIL a@example.com, b@example.org\r\n")
    assert notify_contact(box) == (["a@example.com", "b@example.org"], None)
    with open(path, "w") as handle:
        handle.write("CONTACTEMAIL a@example.com\rBcc: evil@example.org\n")
    addresses, problem = notify_contact(box)
    assert addresses == [] and problem.startswith("CONTACTEMAIL in %s holds " % path)
    with open(path, "w") as handle:
        handle.write("HOST x\n")
    assert notify_contact(box) == ([], "%s sets no CONTACTEMAIL (WHM > Basic WebHost Manager "
                                       "Setup)" % path)


def test_a_hung_sendmail_is_killed_and_named(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_HANG", "600")
    message = mail.compose("a@example.com", "s", "b\n", NOW, host="h.example")
    with pytest.raises(mail.MailError) as error:
        mail.send(message, timeout=1)
    assert str(error.value) == "%s did not finish within 1 seconds" % SENDMAIL
    assert not os.path.exists(str(tmp_path / "mail"))


def test_a_cap_of_zero_announces_nothing_it_would_never_do(box):
    box.cli.config(NOTICE_CONFIG + "max_revoke_per_run: 0\n")
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    run = box.run(0)
    assert run.status == 0, run
    assert box.messages() == [] and box.notices() == []
    assert box.fake.token_names("root") == {"old-ci"}


def test_check_config_says_what_notices_do(box):
    box.cli.config("mode: enforce\n")
    assert "notices: off (unattended runs revoke at once)" in box.run(0, "check-config").out
    box.cli.config(NOTICE_CONFIG + "  expiry_reminders: [7, 1]\n")
    assert ("notices: unattended runs mail a notice and revoke 7 days later; to owner, "
            "contact; expiry reminders 7, 1 days before") in box.run(0, "check-config").out


def test_hundreds_of_junk_tokens_are_one_mail_per_recipient(box):
    box.cli.config(NOTICE_CONFIG + "max_revoke_per_run: 500\n")  # the cap admits them all
    with box.fake.batch():
        for number in range(300):
            add(box.fake, "res1", "reverse-trust_%03d" % number, age_days=200,
                expires_in_days=-1)
    run = box.run(0)
    assert run.status == 0, run
    mails = by_recipient(box.messages())
    assert sorted(mails) == ["admin@example.com", "res1@example.net"]
    assert mails["res1@example.net"]["Subject"].endswith(
        "] 300 API tokens will be revoked on 2026-12-04")
    assert len(box.notices()[0]["tokens"]) == 300
    assert revoke_calls(box.fake) == []


def test_an_owner_the_cap_will_refuse_is_never_told_will_be_revoked(box):
    """Issue 25: res1's 60 stale tokens exceed max_revoke_per_run (50): the cap refuses
    them every run, so no mail promises "will be revoked on D"; root's one token, within
    the cap, gets its notice as usual, and the page-facing plan says why res1 waits."""
    with box.fake.batch():
        for number in range(60):
            add(box.fake, "res1", "stale-%02d" % number, age_days=200, expires_in_days=-1)
        add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    run = box.run(0)
    mails = by_recipient(box.messages())
    assert "res1@example.net" not in mails
    assert mails["admin@example.com"]["Subject"].endswith(
        "] 1 API token will be revoked on 2026-12-04")
    assert "no notice sent to res1: its 60 selected tokens exceed max_revoke_per_run (50)" \
        in run.err
    (record,) = box.notices()
    assert [entry["name"] for entry in record["tokens"]] == ["old-ci"]
    box.run(8)
    assert box.fake.token_names("root") == set()  # noticed, due: revoked
    assert len(box.fake.token_names("res1")) == 60  # refused by the cap, never noticed
    assert "res1@example.net" not in by_recipient(box.messages())


def test_a_notice_the_audit_log_would_not_take_is_no_notice(box, monkeypatch):
    """A full disk: the mail went, the record did not; the token stays held and the
    next run tells again (never a revocation without a recorded notice)."""
    from tokensweeper import audit as audit_module
    from tokensweeper.policy import NOTICE, Protection, Selectors, make_plan

    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", box.cli.state_dir)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", box.cli.cpanel_root)
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", box.mail_dir)
    box.fake.apply_env(monkeypatch)

    def full_disk(record, path=None):
        raise audit_module.AuditError("cannot write the audit log: No space left on device")

    monkeypatch.setattr(audit_module, "write", full_disk)
    cfg = config.load(box.cli.config_path)
    old = token("old-ci", owner="root", expires=NOW - DAY)
    plan = make_plan([old], None, Selectors(expired=True), Protection(), NOW)
    from tokensweeper.whmapi import Client
    report = notify.apply(plan, cfg, Client(), NOW, "cron", "enforce")
    assert report.errors == ["the notices could not be recorded, so they will be sent again: "
                             "cannot write the audit log: No space left on device"]
    assert report.noticed == [] and report.run_id is None
    assert [i.decision for i in plan.items] == [NOTICE]
    assert plan.items[0].reason.startswith("would send a notice now")
