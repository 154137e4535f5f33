"""Pins for mail.py (issue 27's `make mutate`): what a recipient and an admin reading a
run's error see of a message, and how the MTA is run."""

import email
import email.policy
import json
import os
import socket
import time

import pytest

from tests.helpers import NOW
from tokensweeper import mail

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENDMAIL = os.path.join(REPO, "tests", "fakes", "sendmail")


@pytest.fixture
def fake_mta(monkeypatch, tmp_path):
    directory = tmp_path / "mail"
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", SENDMAIL)
    monkeypatch.setenv("TOKENSWEEPER_FAKE_MAIL_DIR", str(directory))
    for name in ("FAIL", "HANG", "DETACH", "DETACH_PID"):
        monkeypatch.delenv("TOKENSWEEPER_FAKE_SENDMAIL_" + name, raising=False)
    return directory


def parsed(message):
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


@pytest.mark.parametrize("name, expected", [
    ("cpanel.example.com", "cpanel.example.com"),
    ("Host_1.Example.COM", "Host1.Example.COM"),
    (".edge-host.", "edge-host"),
    ("a\r\nBcc: x@y.z", "aBccxy.z"),
    ("Xeon-1.example.X", "Xeon-1.example.X"),
    ("", "localhost"),
    ("...", "localhost"),
    (None, "localhost"),
])
def test_the_hostname_in_from_and_subjects_keeps_letters_digits_dots_and_dashes(
        monkeypatch, name, expected):
    monkeypatch.setattr(socket, "gethostname", lambda: name)
    assert mail.hostname() == expected


@pytest.mark.parametrize("text, expected", [
    ("plain", "plain"),
    ("a\r\nBcc: b", "a Bcc: b"),
    ("\ttab\x7fdel\x00", "tab del"),
    ("  both ends  ", "both ends"),
])
def test_a_header_value_loses_its_control_characters_and_outer_blanks(text, expected):
    assert mail.header_text(text) == expected


def test_a_message_names_the_tool_the_host_the_day_and_says_it_is_automatic():
    composed = mail.compose("a@example.com", " [h] 2 tokens ", "body\n", NOW, host="h.example")
    message = parsed(composed)
    assert message["From"] == "Token Sweeper <root@h.example>"
    assert message["To"] == "a@example.com"
    assert message["Subject"] == "[h] 2 tokens"
    assert email.utils.parsedate_to_datetime(message["Date"]).timestamp() == NOW
    assert message["Message-ID"].endswith("@h.example>")
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith(".tokensweeper@h.example>")  # the sender, by name
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content() == "body\n"


def test_without_a_host_the_message_uses_the_servers_name(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "srv.example.net")
    message = parsed(mail.compose("a@example.com", "s", "b\n", NOW))
    assert message["From"] == "Token Sweeper <root@srv.example.net>"
    assert message["Message-ID"].endswith("@srv.example.net>")


def test_a_refused_address_is_named_in_the_error():
    with pytest.raises(mail.MailError) as error:
        mail.compose("not-an-address", "s", "b", NOW)
    assert str(error.value) == "'not-an-address' is not a mail address this tool sends to"


def test_a_message_goes_to_sendmail_with_recipients_from_its_headers(fake_mta):
    mail.send(mail.compose("a@example.com", "s", "one\n.\ntwo\n", NOW, host="h.example"))
    assert sorted(os.listdir(str(fake_mta))) == ["0001.argv.json", "0001.eml"]
    with open(str(fake_mta / "0001.argv.json")) as handle:
        assert json.load(handle) == ["-t", "-oi"]
    with open(str(fake_mta / "0001.eml"), "rb") as handle:
        kept = email.message_from_binary_file(handle, policy=email.policy.default)
    assert kept.get_content() == "one\n.\ntwo\n"  # -oi: the lone dot did not end it


def test_a_refusing_mta_is_named_with_its_status_and_first_complaint(fake_mta, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_FAIL", "75")
    with pytest.raises(mail.MailError) as error:
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    assert not isinstance(error.value, mail.MailUnavailable)  # the next one may fare better
    assert str(error.value) == ("%s exited with status 75: exim: spool directory is full "
                                "(fake failure on request)" % SENDMAIL)
    assert not fake_mta.exists()


def write_script(tmp_path, body):
    script = tmp_path / "sendmail-script"
    script.write_text("#!/bin/sh\ncat >/dev/null\n" + body)
    script.chmod(0o755)
    return str(script)


def test_a_silent_failure_is_named_by_its_status_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", write_script(tmp_path, "exit 3\n"))
    with pytest.raises(mail.MailError) as error:
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    assert str(error.value).endswith("exited with status 3")


def test_a_flood_on_the_mtas_stderr_is_cut_to_its_first_four_kib(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", write_script(
        tmp_path, "head -c 10000 /dev/zero | tr '\\0' x >&2\nexit 1\n"))
    with pytest.raises(mail.MailError) as error:
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    assert str(error.value).endswith(": " + "x" * 4096)


def test_a_non_utf8_complaint_is_shown_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", write_script(
        tmp_path, "printf '\\377bad\\n  second\\n' >&2\nexit 1\n"))
    with pytest.raises(mail.MailError) as error:
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    assert str(error.value).endswith("exited with status 1: \ufffdbad")


def test_a_missing_mta_is_unavailable_and_named(tmp_path, monkeypatch):
    missing = str(tmp_path / "no-sendmail")
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", missing)
    with pytest.raises(mail.MailUnavailable) as error:
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    # Python 3.6's error names the file again after the reason.
    assert str(error.value).startswith("cannot run %s: No such file or directory" % missing)


def test_without_a_timeout_the_default_bounds_a_hung_mta(fake_mta, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_FAKE_SENDMAIL_HANG", "600")
    monkeypatch.setattr(mail, "TIMEOUT", 1)
    with pytest.raises(mail.MailUnavailable) as error:
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    assert str(error.value) == "%s did not finish within 1 seconds" % SENDMAIL


def test_a_hung_mta_that_ignores_its_group_is_still_killed(tmp_path, monkeypatch):
    """When the process group cannot be signalled the MTA itself is killed (and reaped)."""
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", write_script(
        tmp_path, "echo $$ > %s\nexec sleep 600\n" % pid_file))

    def refuse(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "killpg", refuse)
    with pytest.raises(mail.MailUnavailable):
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"), timeout=1)
    pid = int(pid_file.read_text())
    try:
        with pytest.raises(OSError):  # gone, and reaped: no zombie left behind
            os.kill(pid, 0)
    finally:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


@pytest.mark.parametrize("epoch, expected", [
    (0, "1970-01-01"),
    (NOW, time.strftime("%Y-%m-%d", time.gmtime(NOW))),
    (86400 * 365 - 1, "1970-12-31"),
])
def test_a_day_is_the_utc_date(epoch, expected):
    assert mail.day(epoch) == expected


def test_the_mtas_chatter_never_reaches_our_output(tmp_path, monkeypatch, capfd):
    """The hook's result line and the page's CGI answer are our standard output: what the
    MTA prints must not land in them."""
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", write_script(
        tmp_path, "echo 'queued as 1abc-0001'\nexit 0\n"))
    mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"))
    out, _err = capfd.readouterr()
    assert out == ""


def test_a_hung_mta_is_killed_with_every_process_it_started(tmp_path, monkeypatch):
    """A helper the MTA started (in its process group) goes with it: nothing of a hung MTA
    is left running after the timeout."""
    pid_file = tmp_path / "helper.pid"
    monkeypatch.setenv("TOKENSWEEPER_SENDMAIL", write_script(
        tmp_path, "sleep 600 &\necho $! > %s\nexec sleep 600\n" % pid_file))
    with pytest.raises(mail.MailUnavailable):
        mail.send(mail.compose("a@example.com", "s", "b\n", NOW, host="h.example"), timeout=1)
    helper = int(pid_file.read_text())
    try:
        for _ in range(200):  # the SIGKILLed helper is reaped by init: wait for that
            try:
                with open("/proc/%d/stat" % helper) as handle:
                    if handle.read().split(") ", 1)[1].startswith("Z"):
                        break  # killed, only not reaped yet
            except OSError:
                break  # gone
            time.sleep(0.01)
        else:
            raise AssertionError("the MTA's helper is still running")
    finally:
        try:
            os.kill(helper, 9)
        except OSError:
            pass
