"""Pins for notify.py (issue 27's `make mutate`): notify decides when a token may go.
The notice step runs here in this process (as cron's run and the hook's worker call it)
against the fake server and the fake sendmail; what is pinned is what an owner reads in
a notice, what the audit log remembers, and when a token is held."""

import email.utils
import json
import os

import pytest

from tests.helpers import DAY, NOW
from tests.test_notify import NOTICE_CONFIG, SENDMAIL, Server
from tokensweeper import audit, config, notify
from tokensweeper.policy import NoticeState, Protection, Selectors, day, make_plan
from tokensweeper.tokens import CPANEL, Token
from tokensweeper.whmapi import Client

DUE = (NOW // DAY + 7) * DAY  # a notice sent at NOW with notice_days 7 is due then


@pytest.fixture
def box(tmp_path, monkeypatch):
    box = Server(tmp_path)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", box.cli.state_dir)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", box.cli.cpanel_root)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", box.mail_dir)
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    monkeypatch.setattr("socket.gethostname", lambda: "srv.example.com")
    box.fake.apply_env(monkeypatch)
    return box


def configure(box, text=NOTICE_CONFIG, **replace):
    for old, new in replace.items():
        text = text.replace(old, new)
    box.cli.config(text)
    return config.load(box.cli.config_path)


def expired(owner, name, created=NOW - 200 * DAY, expires=NOW - DAY, **kw):
    return Token(owner, name, created, expires, **kw)


def planned(tokens, now=NOW):
    return make_plan(tokens, None, Selectors(expired=True), Protection(), now)


def why(token, now=NOW):
    """Why the policy selects the token (the plan's reason before the notice step)."""
    return planned([token], now).reason_of(token)


def apply(box, cfg, tokens, now=NOW, mode="enforce", actor="cron"):
    plan = planned(tokens, now)
    return plan, notify.apply(plan, cfg, Client(), now, actor, mode)


def notices(box):
    records, _ = audit.read()
    return [r for r in records if r["event"] == "notice"]


# -- the notice an owner reads --------------------------------------------------------


def test_each_recipient_gets_one_mail_naming_its_tokens_and_the_due_day(box):
    cfg = configure(box)
    root_token = expired("root", "old-ci", created=NOW - 200 * DAY)
    res1_token = expired("res1", "billing", created=NOW - 100 * DAY)
    plan, report = apply(box, cfg, [root_token, res1_token])
    assert report.errors == [] and report.problems == []
    assert report.noticed == [root_token, res1_token] and report.reminded == []
    assert report.mail == [{"to": "admin@example.com", "outcome": "sent"},
                           {"to": "res1@example.net", "outcome": "sent"}]
    messages = {m["To"]: m for m in box.messages()}
    assert sorted(messages) == ["admin@example.com", "res1@example.net"]
    for message in messages.values():  # dated by the run's clock, not the wall clock
        assert email.utils.parsedate_to_datetime(message["Date"]).timestamp() == NOW
    due = day(DUE)
    admin = messages["admin@example.com"]
    assert admin["Subject"] == "[srv.example.com] 2 API tokens will be revoked on %s" % due
    assert admin.get_content() == "\n".join([
        "Token Sweeper on srv.example.com will revoke these WHM API tokens on or after %s:"
        % due,
        "",
        "  old-ci (owner root, created %s)" % day(NOW - 200 * DAY),
        "      why: %s" % why(root_token),
        "  billing (owner res1, created %s)" % day(NOW - 100 * DAY),
        "      why: %s" % why(res1_token),
        "",
        "Whatever still uses a revoked token stops working at once. To keep a token:",
        "  - use it before that day, if it is stale for lack of use; or",
        "  - ask the server administrator to protect it (protect.names in",
        "    /etc/tokensweeper/config.yaml).",
        "A token re-created under the same name is a new token and gets its own notice.",
        "",
        "-- Token Sweeper, an automatic message from srv.example.com",
        ""])
    assert why(root_token) == "expired on %s, 1 day ago" % day(NOW - DAY)
    res1 = messages["res1@example.net"]
    assert res1["Subject"] == "[srv.example.com] 1 API token will be revoked on %s" % due
    assert res1.get_content().startswith(
        "Token Sweeper on srv.example.com will revoke this WHM API token on or after %s:\n"
        % due)
    # Held: the notice period runs from now.
    for token in (root_token, res1_token):
        state = plan.notice_of(token)
        assert (state.sent, state.due, state.withheld) == (NOW, DUE, None)
    assert plan.to_revoke() == []


def test_the_notice_is_recorded_whole_in_the_audit_log(box):
    cfg = configure(box)
    token = expired("res1", "billing", created=NOW - 100 * DAY, expires=NOW - DAY)
    plan, report = apply(box, cfg, [token], actor="hook:Accounts::suspendacct")
    [record] = notices(box)
    assert report.run_id == record["run_id"]
    assert record["run_id"].startswith(audit.new_run_id(NOW)[:16])
    assert {k: record[k] for k in ("event", "time", "epoch", "actor", "mode", "owner_errors",
                                   "refused")} == {
        "event": "notice", "time": audit.iso(NOW), "epoch": NOW,
        "actor": "hook:Accounts::suspendacct", "mode": "enforce", "owner_errors": {},
        "refused": None}
    assert record["selectors"] == plan.selectors.to_dict()
    assert record["mail"] == [{"to": "admin@example.com", "outcome": "sent"},
                              {"to": "res1@example.net", "outcome": "sent"}]
    assert "problems" not in record
    [entry] = record["tokens"]
    expected = token.to_dict()
    expected.update(identity=token.identity(), action="notice",
                    reason=why(token), recipients=["res1@example.net",
                                                              "admin@example.com"],
                    due_epoch=DUE, due=day(DUE))
    assert entry == expected


def test_a_second_run_before_the_due_day_sends_nothing_and_the_due_run_lets_it_go(box):
    cfg = configure(box)
    token = expired("root", "old-ci")
    apply(box, cfg, [token])
    plan, report = apply(box, cfg, [token], now=NOW + 3 * DAY)
    assert report.run_id is None and report.mail == [] and len(box.messages()) == 1
    assert (report.noticed, report.reminded, report.errors) == ([], [], [])
    state = plan.notice_of(token)
    assert (state.sent, state.due) == (NOW, DUE)
    assert plan.to_revoke() == []
    plan, report = apply(box, cfg, [token], now=DUE)
    assert report.run_id is None and plan.to_revoke() == [token]


def test_preview_mode_and_a_cap_of_zero_announce_nothing(box):
    cfg = configure(box)
    token = expired("root", "old-ci")
    plan, report = apply(box, cfg, [token], mode="preview")
    assert report.run_id is None and box.messages() == [] and notices(box) == []
    assert plan.notice_of(token).new and plan.to_revoke() == []
    cfg = configure(box, NOTICE_CONFIG + "max_revoke_per_run: 0\n")
    plan, report = apply(box, cfg, [token])
    assert report.run_id is None and box.messages() == [] and notices(box) == []


def test_an_owner_over_the_cap_is_never_promised_a_revocation(box):
    cfg = configure(box, NOTICE_CONFIG + "max_revoke_per_run: 2\n")
    many = [expired("res1", "t%d" % i) for i in range(3)]
    root_token = expired("root", "old-ci")
    plan, report = apply(box, cfg, many + [root_token])
    assert report.problems == [
        "no notice sent to res1: its 3 selected tokens exceed max_revoke_per_run (2), so the "
        "cap refuses them"]
    assert report.noticed == [root_token]
    for token in many:
        assert plan.notice_of(token).withheld == (
            "res1 has 3 selected tokens, more than max_revoke_per_run (2): the cap refuses "
            "them, so no notice promises a revocation")
    [record] = notices(box)
    assert [e["name"] for e in record["tokens"]] == ["old-ci"]
    assert record["problems"] == report.problems
    assert notify.over_the_cap(planned(many + [root_token]), cfg) == {"res1": 3}


def test_the_cap_refuses_nobody_without_a_cap(box):
    cfg = configure(box)
    plan = make_plan([expired("res1", "t%d" % i) for i in range(3)], None,
                     Selectors(expired=True), Protection(), NOW)
    assert notify.over_the_cap(plan, cfg) == {}
    cfg = configure(box, NOTICE_CONFIG + "max_revoke_per_run: 3\n")
    assert notify.over_the_cap(plan, cfg) == {}


def test_a_notice_that_reaches_nobody_is_recorded_as_such_and_holds_the_token(box):
    cfg = configure(box, **{"[owner, contact]": "[owner]"})
    box.fake.add_account("res2", owner="root", email="")
    box.fake.add_reseller("res2")
    token = expired("res2", "lonely")
    plan, report = apply(box, cfg, [token])
    assert report.errors == [
        "the notice for res2/lonely was not delivered: notify.recipients found no valid "
        "address for it, so it is not revoked on the strength of it"]
    assert report.problems == ["res2 has no contact address (cPanel lists none)"]
    assert report.noticed == [] and box.messages() == []
    assert plan.notice_of(token).withheld == (
        "the notice of %s reached nobody (no valid address); the token is kept until one is "
        "delivered" % day(NOW))
    assert plan.to_revoke() == []
    [record] = notices(box)
    [entry] = record["tokens"]
    assert (entry["action"], entry["reason"], entry["recipients"]) == (
        "notice-not-delivered", "not delivered: notify.recipients found no valid address", [])
    assert entry["selected"] == why(token) and "due_epoch" not in entry
    assert record["problems"] == report.problems + report.errors
    # The next run (weighing only, as the page does) says why the token is still there.
    records, _ = audit.read()
    assert notify.undelivered(records) == {
        token.identity(): (NOW, "not delivered: notify.recipients found no valid address")}
    later = make_plan([token], None, Selectors(expired=True), Protection(), NOW + DAY)
    notify.weigh(later, cfg, NOW + DAY)
    assert later.notice_of(token).withheld == (
        "the notice of %s reached nobody (not delivered: notify.recipients found no valid "
        "address); a notice is sent again on the next run, and the token is kept until one "
        "is delivered" % day(NOW))


def test_a_failing_mta_is_an_error_per_recipient_and_the_notice_still_counts(box,
                                                                            monkeypatch):
    cfg = configure(box)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_FAIL", "75")
    token = expired("res1", "billing")
    plan, report = apply(box, cfg, [token])
    said = ("%s exited with status 75: exim: spool directory is full (fake failure on "
            "request)" % SENDMAIL)
    assert report.errors == ["the notice mail to admin@example.com failed: %s" % said,
                             "the notice mail to res1@example.net failed: %s" % said]
    assert report.mail == [{"to": "admin@example.com", "outcome": "failed: %s" % said},
                           {"to": "res1@example.net", "outcome": "failed: %s" % said}]
    assert report.noticed == [token] and plan.notice_of(token).sent == NOW


# -- expiry reminders -------------------------------------------------------------------


def test_a_reminder_goes_once_per_reminder_day(box):
    cfg = configure(box, NOTICE_CONFIG + "  expiry_reminders: [7, 1]\n")
    soon = Token("root", "ci", NOW - 10 * DAY, NOW + 5 * DAY)
    plan = make_plan([soon], None, Selectors(expired=True), Protection(), NOW)
    report = notify.apply(plan, cfg, Client(), NOW, "cron", "enforce")
    assert report.reminded == [(soon, 7)] and report.noticed == []
    [message] = box.messages()
    assert message["Subject"] == "[srv.example.com] 1 API token expires soon"
    assert message.get_content() == "\n".join([
        "This WHM API token expires soon; cPanel refuses an expired token:",
        "",
        "  ci (owner root) expires on %s" % day(NOW + 5 * DAY),
        "",
        "Create a new token in time and update whatever uses the old one.",
        "",
        "-- Token Sweeper, an automatic message from srv.example.com",
        ""])
    [record] = notices(box)
    [entry] = record["tokens"]
    assert (entry["action"], entry["reason"], entry["reminder_days"], entry["recipients"]) == (
        "reminder", "expires on %s" % day(NOW + 5 * DAY), 7, ["admin@example.com"])
    # Later the same week: nothing new; a day before expiry: the 1-day reminder.
    report = notify.apply(plan, cfg, Client(), NOW + 2 * DAY, "cron", "enforce")
    assert report.run_id is None and len(box.messages()) == 1
    report = notify.apply(plan, cfg, Client(), NOW + 4 * DAY, "cron", "enforce")
    assert report.reminded == [(soon, 1)]
    assert len(box.messages()) == 2


def test_reminders_without_notices_leave_the_plan_alone(box):
    cfg = configure(box, NOTICE_CONFIG.replace("notice_days: 7", "notice_days: 0")
                    + "  expiry_reminders: [7]\n")
    soon = Token("root", "ci", NOW - 10 * DAY, NOW + 5 * DAY)
    old = expired("root", "old-ci")
    plan = make_plan([soon, old], None, Selectors(expired=True), Protection(), NOW)
    report = notify.apply(plan, cfg, Client(), NOW, "cron", "enforce")
    assert report.reminded == [(soon, 7)] and report.noticed == []
    assert plan.to_revoke() == [old] and plan.notices == {}
    assert notify.weigh(plan, cfg, NOW) == {}
    assert notify.enabled(cfg)


def test_a_letter_with_notices_and_reminders_says_both():
    whm = Token("bob", "deploy", NOW - 200 * DAY, NOW - DAY)
    soon = Token("bob", "ci", NOW - DAY, NOW + DAY)
    soon2 = Token("bob", "cd", NOW - DAY, NOW + DAY, kind=CPANEL)
    plan = make_plan([whm], None, Selectors(expired=True), Protection(), NOW)
    letter = {"notice": [whm], "reminder": [(soon, 1), (soon2, 1)]}
    assert notify.subject("h", letter, DUE) == (
        "[h] 1 API token will be revoked on %s; 2 API tokens expire soon" % day(DUE))
    text = notify.body("h", plan, letter, DUE)
    assert ("\n\nThese API tokens expire soon; cPanel refuses an expired token:\n\n"
            "  ci (owner bob) expires on %s\n  cd (cPanel account bob) expires on %s\n"
            % (day(NOW + DAY), day(NOW + DAY))) in text
    assert text.endswith("Create a new token in time and update whatever uses the old one."
                         "\n\n-- Token Sweeper, an automatic message from h\n")


@pytest.mark.parametrize("left, reminded, expected", [
    (5 * DAY, set(), 7),           # within 7 days: the 7-day reminder
    (7 * DAY, set(), 7),           # exactly 7 days left: due
    (7 * DAY + 1, set(), None),    # a second more: not yet
    (DAY, set(), 1),               # within a day: the nearest
    (DAY, {7}, 1),                 # the 7-day one went: the 1-day one still goes
    (5 * DAY, {7}, None),          # never twice
    (5 * DAY, {1}, None),          # a nearer one went already
    (0, set(), None),              # expired now: no reminder
    (-DAY, set(), None),
])
def test_due_reminders(left, reminded, expected):
    token = Token("root", "ci", NOW - 10 * DAY, NOW + left)
    due = notify.due_reminders([token], {token.identity(): reminded}, [7, 1], NOW)
    assert due == ([] if expected is None else [(token, expected)])


def test_a_token_that_never_expires_gets_no_reminder():
    token = Token("root", "ci", NOW - 10 * DAY, None)
    assert notify.due_reminders([token], {}, [7, 1], NOW) == []


# -- the audit log as memory ------------------------------------------------------------


def notice_record(epoch, entries, event="notice"):
    return {"event": event, "epoch": epoch, "tokens": entries}


def test_history_keeps_the_latest_notice_and_every_reminder_day():
    records = [
        notice_record(50, [{"identity": "z", "action": "notice", "due_epoch": 1}],
                      event="sweep"),
        {"event": "notice", "epoch": 60, "tokens": None},
        notice_record(100, ["junk", {"identity": "a", "action": "notice", "due_epoch": 5000}]),
        notice_record(300, [{"identity": "a", "action": "notice", "due_epoch": 9000},
                            {"identity": "b", "action": "reminder", "reminder_days": 7}]),
        notice_record(200, [{"identity": "a", "action": "notice", "due_epoch": 7000}]),
        notice_record(300, [{"identity": "a", "action": "notice", "due_epoch": 9500}]),
        notice_record(400, [{"identity": "b", "action": "reminder", "reminder_days": 1},
                            {"identity": "b", "action": "reminder", "reminder_days": "7"},
                            {"identity": "c", "action": "notice", "due_epoch": "9"},
                            {"identity": 5, "action": "notice", "due_epoch": 9},
                            "junk"]),
        notice_record(500, [{"identity": "a", "action": "notice", "due_epoch": 1}],
                      event="sweep"),
        {"event": "notice", "epoch": 600, "tokens": "junk"},
    ]
    notices, reminded = notify.history(records)
    assert sorted(notices) == ["a"]
    assert (notices["a"].identity, notices["a"].sent, notices["a"].due) == ("a", 300, 9500)
    assert reminded == {"b": {7, 1}}


@pytest.mark.parametrize("due, claimed", [(5000, 5000), (0, 0), (-1, 0), (True, 0), (1, 1),
                                          (audit.MAX_EPOCH, audit.MAX_EPOCH),
                                          (audit.MAX_EPOCH + 1, 0)])
def test_a_due_day_no_clock_can_show_claims_nothing(due, claimed):
    records = [notice_record(100, [{"identity": "a", "action": "notice", "due_epoch": due}])]
    notices, _ = notify.history(records)
    assert notices["a"].due == claimed


def test_undelivered_keeps_the_latest_miss_with_its_reason():
    records = [
        notice_record(50, [{"identity": "z", "action": "notice-not-delivered"}],
                      event="sweep"),
        {"event": "notice", "epoch": 60, "tokens": None},
        notice_record(300, [{"identity": "a", "action": "notice-not-delivered",
                             "reason": "late"}]),
        notice_record(100, [{"identity": "a", "action": "notice-not-delivered",
                             "reason": "early"}]),
        notice_record(300, [{"identity": "a", "action": "notice-not-delivered",
                             "reason": "same second, later line"}]),
        notice_record(200, [{"identity": "a", "action": "notice-not-delivered",
                             "reason": "older, last line"}]),
        notice_record(200, [{"identity": "b", "action": "notice-not-delivered", "reason": 5},
                            {"identity": "c", "action": "notice"},
                            {"identity": 7, "action": "notice-not-delivered"}, "junk"]),
        notice_record(900, [{"identity": "d", "action": "notice-not-delivered"}],
                      event="sweep"),
        {"event": "notice", "epoch": 950, "tokens": {"identity": "e"}},
    ]
    assert notify.undelivered(records) == {"a": (300, "same second, later line"),
                                           "b": (200, "no recipient")}


def test_weighing_reads_the_log_and_marks_a_missed_notice(box):
    cfg = configure(box)
    token = expired("root", "old-ci")
    audit.write({"event": "notice", "epoch": NOW - DAY, "time": audit.iso(NOW - DAY),
                 "run_id": "r1", "tokens": [{"identity": token.identity(),
                                             "action": "notice-not-delivered",
                                             "reason": "nobody"}]})
    plan = make_plan([token], None, Selectors(expired=True), Protection(), NOW)
    states = notify.weigh(plan, cfg, NOW)
    assert states is plan.notices and list(states) == [token.key()]
    assert plan.notice_of(token).withheld.startswith(
        "the notice of %s reached nobody (nobody)" % day(NOW - DAY))
    assert not notify.enabled(configure(box, NOTICE_CONFIG.replace("notice_days: 7",
                                                                   "notice_days: 0")))


# -- recipients ------------------------------------------------------------------------


@pytest.mark.parametrize("value, valid, invalid", [
    ("a@example.com", ["a@example.com"], []),
    (" a@example.com;b@example.org , c@example.net ",
     ["a@example.com", "b@example.org", "c@example.net"], []),
    ("a@example.com,,;", ["a@example.com"], []),
    ("*unknown*", [], []),
    ("  *unknown*  ", [], []),
    ("   ", [], []),
    (None, [], []),
    (5, [], []),
    ("x@y.z\tBcc: e@f.g", [], ["x@y.z\tBcc: e@f.g"]),
    ("x@y.z\x7f", [], ["x@y.z\x7f"]),
    ("nobody x@y.z", ["x@y.z"], ["nobody"]),
])
def test_split_addresses(value, valid, invalid):
    assert notify.split_addresses(value) == (valid, invalid)


def contact(box, text):
    path = os.path.join(box.cli.cpanel_root, "etc", "wwwacct.conf")
    if isinstance(text, bytes):
        with open(path, "wb") as handle:
            handle.write(text)
    else:
        with open(path, "w") as handle:
            handle.write(text)
    return notify.server_contact(), path


@pytest.mark.parametrize("text, addresses", [
    ("CONTACTEMAIL admin@example.com\n", ["admin@example.com"]),
    ("CONTACTEMAIL\tadmin@example.com\n", ["admin@example.com"]),
    ("  CONTACTEMAIL \t  admin@example.com  \r\n", ["admin@example.com"]),
    ("CONTACTEMAIL old@example.com\nCONTACTEMAIL new@example.com\n", ["new@example.com"]),
    ("CONTACTEMAIL a@example.com, b@example.com\n", ["a@example.com", "b@example.com"]),
    ("CONTACTEMAILS x@example.com\nCONTACTEMAIL a@example.com", ["a@example.com"]),
    (b"NS \xff\nCONTACTEMAIL a@example.com\n", ["a@example.com"]),
])
def test_the_server_contact_is_read_as_cpanel_reads_it(box, text, addresses):
    (found, problem), _path = contact(box, text)
    assert (found, problem) == (addresses, None)


def test_a_spoiled_empty_or_missing_server_contact_is_a_problem_naming_the_file(box):
    (found, problem), path = contact(box, "CONTACTEMAIL admin@example.com\rBcc: x@y.z\n")
    assert found == [] and problem == (
        "CONTACTEMAIL in %s holds 'admin@example.com\\rBcc: x@y.z', not mail address" % path)
    (found, problem), path = contact(box, "CONTACTEMAIL nobody, nowhere, a@b.c\n")
    assert found == ["a@b.c"] and problem == (
        "CONTACTEMAIL in %s holds 'nobody', 'nowhere', not mail addresses" % path)
    (found, problem), path = contact(box, "CONTACTEMAIL\n")
    assert (found, problem) == ([], "CONTACTEMAIL in %s is empty" % path)
    (found, problem), path = contact(box, "CONTACTEMAIL *unknown*\n")
    assert (found, problem) == ([], "CONTACTEMAIL in %s is empty" % path)
    (found, problem), path = contact(box, "ADDR 192.0.2.1\n")
    assert (found, problem) == ([], "%s sets no CONTACTEMAIL (WHM > Basic WebHost Manager "
                                    "Setup)" % path)
    os.remove(path)
    assert notify.server_contact() == (
        [], "the server contact address cannot be read from %s: No such file or directory"
        % path)
    os.mkfifo(path)
    assert notify.server_contact() == (
        [], "the server contact address cannot be read from %s: not a regular file" % path)


def test_a_huge_wwwacct_conf_is_read_only_to_its_limit(box, monkeypatch):
    monkeypatch.setattr(notify, "WWWACCT_LIMIT", 40)
    (found, _problem), _ = contact(box, "CONTACTEMAIL a@example.com\n" + "X" * 13 + "\n"
                                   + "CONTACTEMAIL late@example.com\n")
    assert found == ["a@example.com"]


def test_a_long_spoiled_value_is_shown_cut(box):
    (found, problem), path = contact(box, "CONTACTEMAIL " + "x" * 200 + "\n")
    assert problem == "CONTACTEMAIL in %s holds %r, not mail address" % (path, "x" * 80)


def test_a_resellers_contact_is_its_accounts_email(box):
    assert notify.reseller_contact(Client(), "res1") == (["res1@example.net"], None)
    box.fake.add_account("res3", owner="root", email="a@example.com, not-an-address")
    assert notify.reseller_contact(Client(), "res3") == (
        ["a@example.com"], "the contact address of res3 is not a mail address: "
                           "'not-an-address'")
    box.fake.add_account("res4", owner="root", email="*unknown*")
    assert notify.reseller_contact(Client(), "res4") == (
        [], "res4 has no contact address (cPanel lists none)")
    found, problem = notify.reseller_contact(Client(), "ghost")
    assert found == [] and problem.startswith("no contact address for ghost: ")


def test_an_accountsummary_without_an_account_is_a_problem(box):
    class Answering(object):
        def __init__(self, data):
            self.data = data

        def call(self, function, params):
            assert (function, params) == ("accountsummary", {"user": "res1"})
            return self.data

    for data in ({}, {"acct": []}, {"acct": "x"}, {"acct": ["x"]}):
        assert notify.reseller_contact(Answering(data), "res1") == (
            [], "no contact address for res1: accountsummary listed no account")
    assert notify.reseller_contact(Answering({"acct": [{"email": "a@b.c"}, {}]}), "res1") == (
        ["a@b.c"], None)


def test_the_address_book_asks_once_per_owner_and_dedupes(box):
    box.fake.reset_calls()
    book = notify.AddressBook(Client(), ["owner", "contact", "owner", "x@example.org",
                                         "admin@example.com"])
    a = expired("res1", "a")
    b = expired("res1", "b")
    root_token = expired("root", "c")
    cp = Token("res1", "d", NOW - DAY, None, kind=CPANEL)
    assert book.for_token(a) == ["res1@example.net", "admin@example.com", "x@example.org"]
    assert book.for_token(b) == ["res1@example.net", "admin@example.com", "x@example.org"]
    assert book.for_token(root_token) == ["admin@example.com", "x@example.org"]
    assert book.for_token(cp) == ["res1@example.net", "admin@example.com", "x@example.org"]
    # res1 once as a WHM owner and once as a cPanel account
    assert len(box.fake.calls("accountsummary")) == 2
    assert book.problems == []


def test_the_address_book_says_each_problem_once(box):
    path = os.path.join(box.cli.cpanel_root, "etc", "wwwacct.conf")
    os.remove(path)
    book = notify.AddressBook(Client(), ["contact", "owner"])
    assert book.for_token(expired("root", "a")) == []
    assert book.for_token(expired("root", "b")) == []
    assert book.problems == [
        "the server contact address cannot be read from %s: No such file or directory" % path]


def test_a_cpanel_tokens_notice_goes_to_its_accounts_own_contact(box):
    box.fake.add_account("shop1", owner="res1", email="shop1@example.org")
    book = notify.AddressBook(Client(), ["owner"])
    token = Token("shop1", "deploy", NOW - DAY, None, kind=CPANEL)
    assert book.for_token(token) == ["shop1@example.org"]


def test_the_state_that_a_withheld_notice_shows():
    state = NoticeState(None, DUE, withheld="why")
    assert state.describe() == "no notice yet: why"
    assert json.dumps(notify.NoticeReport().mail) == "[]" and not notify.NoticeReport().failed


def test_a_one_day_notice_period_is_a_notice_period(box):
    cfg = configure(box, NOTICE_CONFIG.replace("notice_days: 7", "notice_days: 1"))
    assert notify.enabled(cfg)
    token = expired("root", "old-ci")
    plan, report = apply(box, cfg, [token])
    assert report.noticed == [token] and plan.to_revoke() == []
    assert plan.notice_of(token).due == (NOW // DAY + 1) * DAY
    later = planned([token], NOW + DAY)
    assert list(notify.weigh(later, cfg, NOW + DAY)) == [token.key()]
    cfg = configure(box, NOTICE_CONFIG.replace("notice_days: 7", "notice_days: 1")
                    + "max_revoke_per_run: 1\n")
    many = [expired("res1", "t%d" % i) for i in range(2)]
    plan, report = apply(box, cfg, many)
    assert report.problems == [
        "no notice sent to res1: its 2 selected tokens exceed max_revoke_per_run (1), so the "
        "cap refuses them"]


def test_the_caps_edges(box):
    tokens = [expired("res1", "t%d" % i) for i in range(2)]
    for cap, refused in ((0, {}), (1, {"res1": 2}), (2, {})):
        cfg = configure(box, NOTICE_CONFIG + "max_revoke_per_run: %d\n" % cap)
        assert notify.over_the_cap(planned(tokens), cfg) == refused


def test_a_token_noticed_before_keeps_its_notice_when_its_holder_goes_over_the_cap(box):
    cfg = configure(box)
    first = expired("res1", "a-first")
    apply(box, cfg, [first])
    cfg = configure(box, NOTICE_CONFIG + "max_revoke_per_run: 2\n")
    later = [expired("res1", "b%d" % i) for i in range(2)]
    plan, report = apply(box, cfg, [first] + later, now=NOW + DAY)
    assert plan.notice_of(first).withheld is None
    assert plan.notice_of(first).sent == NOW
    for token in later:
        assert plan.notice_of(token).withheld.startswith("res1 has 3 selected tokens")


def test_a_notice_that_reaches_nobody_never_stops_the_next_tokens_notice(box):
    cfg = configure(box, **{"[owner, contact]": "[owner]"})
    box.fake.add_account("res2", owner="root", email="")
    box.fake.add_reseller("res2")
    lonely = expired("res2", "lonely")
    fine = expired("res1", "fine")
    plan, report = apply(box, cfg, [lonely, fine])
    assert report.noticed == [fine]
    assert [m["To"] for m in box.messages()] == ["res1@example.net"]


def test_a_missing_mta_is_tried_once_and_named_per_recipient(box, monkeypatch, tmp_path):
    cfg = configure(box)
    missing = str(tmp_path / "no-sendmail")
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", missing)
    plan, report = apply(box, cfg, [expired("res1", "billing")])
    assert report.errors[0].startswith("the notice mail to admin@example.com failed: cannot "
                                       "run %s: No such file or directory" % missing)
    assert report.errors[1].startswith("the notice mail to res1@example.net failed: not "
                                       "tried: cannot run %s: " % missing)
    assert len(report.errors) == 2


def test_the_hooks_shorter_mail_timeout_is_kept(box, monkeypatch):
    cfg = configure(box)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_HANG", "600")
    plan = planned([expired("root", "old-ci")])
    report = notify.apply(plan, cfg, Client(), NOW, "hook:x", "enforce", mail_timeout=1)
    assert report.mail == [{"to": "admin@example.com",
                            "outcome": "failed: %s did not finish within 1 seconds" % SENDMAIL}]


def test_reminders_go_to_every_token_due_whatever_comes_before_it():
    never = Token("root", "never", NOW - DAY, None)
    far = Token("root", "far", NOW - DAY, NOW + 30 * DAY)
    reminded = Token("root", "done", NOW - DAY, NOW + 5 * DAY)
    due = Token("root", "due", NOW - DAY, NOW + 5 * DAY)
    found = notify.due_reminders([never, far, reminded, due], {reminded.identity(): {7}},
                                 [7, 1], NOW)
    assert found == [(due, 7)]


@pytest.mark.parametrize("line, addresses", [
    ("CONTACTEMAIL a@example.com\tb@example.com", []),   # a tab inside the value spoils it
    ("CONTACTEMAIL a@example.com\x0c", []),               # so does a form feed at its end
    ("CONTACTEMAIL a@example.com\nXCONTACTEMAIL z@example.com", ["a@example.com"]),
])
def test_the_contact_value_is_everything_after_the_first_blank(box, line, addresses):
    (found, _problem), _path = contact(box, line + "\n")
    assert found == addresses


def test_several_spoiled_contact_addresses_are_listed_with_commas(box):
    box.fake.add_account("res5", owner="root", email="nobody, nowhere")
    assert notify.reseller_contact(Client(), "res5") == (
        [], "the contact address of res5 is not a mail address: 'nobody', 'nowhere'")
