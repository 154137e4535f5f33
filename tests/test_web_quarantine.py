"""The page's quarantine parts (issue 28): the Quarantined state and filter with its
revoke-on date, the Restore button (POST, nonce, bound to the token's identity), and the
Policy tab's back-test."""

import os

import pytest

from tests.helpers import DAY, NOW
from tests.test_web_cgi import Site
from tokensweeper import paths, quarantine
from tokensweeper.lock import SweepLock
from tokensweeper.whmapi import Client


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.config.write_text("policy:\n  expired: true\n  quarantine_days: 7\n")
    return site


def quarantine_billing(site, ips=("203.0.113.0/24",)):
    tokens = site.server.tokens("boss")
    tokens["billing"]["whitelist_ips"] = list(ips)
    site.server.replace_tokens("boss", tokens)
    billing = {t.name: t for t in Client().list_tokens("boss")}["billing"]
    with SweepLock(paths.lock_file()) as lock:
        report = quarantine.quarantine(Client(), [billing], lock, "cli:root", "enforce", NOW)
    assert [o.action for o in report.outcomes] == ["quarantined"]
    return {t.name: t for t in Client().list_tokens("boss")}["billing"]


def restore_form(identity):
    return [("action", "restore"), ("t", identity)]


def test_the_overview_shows_the_quarantined_state_its_revoke_day_and_a_restore_button(site):
    listed = quarantine_billing(site)
    reply = site.get("state=quarantined")
    assert reply.status == 200
    text = reply.text()
    assert "billing" in text and "old-ci" not in text
    assert "Quarantined" in text
    assert "revoked on 2026-12-04 if still selected" in text
    assert "203.0.113.0/24" in text  # its own list, to come back
    assert 'form="ts-restore"' in reply.body and listed.identity() in reply.body


def test_restore_puts_the_own_list_back_and_records_it(site):
    listed = quarantine_billing(site)
    reply = site.post(restore_form(listed.identity()))
    assert reply.status == 303
    assert reply.headers["location"].startswith("index.cgi?page=audit&run=")
    assert site.server.tokens("boss")["billing"]["whitelist_ips"] == ["203.0.113.0/24"]
    shown = site.follow(reply)
    assert shown.status == 200 and "restored" in shown.text()


def test_restore_needs_the_nonce_and_a_post(site):
    listed = quarantine_billing(site)
    assert site.post(restore_form(listed.identity()), nonce=False).status == 403
    assert site.get("action=restore&t=" + listed.identity()).status == 405
    assert site.server.tokens("boss")["billing"]["whitelist_ips"] == [quarantine.MARKER]


def test_restore_of_a_token_changed_since_the_page_showed_it_restores_nothing(site):
    listed = quarantine_billing(site)
    tokens = site.server.tokens("boss")
    tokens["billing"]["expires_at"] = NOW + 90 * DAY
    site.server.replace_tokens("boss", tokens)
    reply = site.post(restore_form(listed.identity()))
    assert reply.status == 409
    assert "Nothing was restored" in reply.text()
    assert site.server.tokens("boss")["billing"]["whitelist_ips"] == [quarantine.MARKER]


def test_restore_of_a_token_never_quarantined_is_refused(site):
    listed = {t.name: t for t in Client().list_tokens("helper")}["deploy"]
    reply = site.post(restore_form(listed.identity()))
    assert reply.status == 409 and "not in quarantine" in reply.text()
    assert site.server.calls("batch") == []


def test_the_policy_tab_links_its_back_test_and_the_back_test_page_answers(site):
    logs = site.root / "usr" / "local" / "cpanel" / "logs"
    logs.mkdir(parents=True)
    (logs / "api_tokens_log").write_text(
        "[2026-11-20 10:00:00 +0000] info [whostmgrd] HTTP Status: ['200'], User: ['root'], "
        "Token Name: ['old-ci'], Request: ['GET /json-api/listaccts HTTP/1.1']\n")
    preview = site.get("page=sweep")
    assert "page=backtest&amp;days=30" in preview.body
    reply = site.get("page=backtest&days=90")
    assert reply.status == 200, reply.text()
    text = reply.text()
    assert "as of 90 days ago" in text
    # old-ci had expired 30 days before now but not 90 days ago: not selected then.
    assert "would have revoked 0 tokens" in text
    # As of 30 days ago old-ci had just expired, and the log shows it used since.
    reply = site.get("page=backtest&days=30")
    text = reply.text()
    assert "would have revoked 1 token" in text and "a false-positive rate of 100%" in text
    assert "old-ci yes: a false positive" in text
    assert site.get("page=backtest&days=7").status == 400
    assert not os.path.exists(paths.audit_log()) or "backtest" not in open(
        paths.audit_log()).read()


def test_a_quarantined_token_whose_name_ends_in_a_newline_is_restored_from_its_button(site):
    # cPanel lets a reseller name a token `leak\n`: its Restore button sent the newline as
    # a browser does (CRLF), and the page refused the name it came back as (400).
    import html
    import re

    site.token("boss", "leak\n", age=60, expires=30)
    tokens = site.server.tokens("boss")
    tokens["leak\n"]["whitelist_ips"] = ["203.0.113.0/24"]
    site.server.replace_tokens("boss", tokens)
    leak = {t.name: t for t in Client().list_tokens("boss")}["leak\n"]
    with SweepLock(paths.lock_file()) as lock:
        quarantine.quarantine(Client(), [leak], lock, "cli:root", "enforce", NOW)
    page = site.get("state=quarantined")
    (value,) = re.findall(r'<button type="submit" form="ts-restore" name="t" value="([^"]*)"',
                          page.body)
    sent = html.unescape(value).replace("\n", "\r\n")  # as a browser submits it
    reply = site.post(restore_form(sent))
    assert reply.status == 303, reply.text()
    assert site.server.tokens("boss")["leak\n"]["whitelist_ips"] == ["203.0.113.0/24"]
