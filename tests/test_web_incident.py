"""The page's Incident panel (issue 19): a GET preview with the evidence that matched,
tokens the log cannot vouch for listed, and a confirmation bound to the same instants."""

import re
from urllib.parse import urlencode

import pytest

from tests.helpers import DAY, NOW
from tests.test_web_cgi import Site
from tokensweeper import audit


def log_line(ts, user, name, ip):
    import time

    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(ts))
    host = "" if ip is None else "Host: ['%s'] " % ip
    return ("[%s] info [whostmgrd] %sHTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['GET /json-api/listaccts HTTP/1.1']\n" % (stamp, host, user, name))


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.write("usr/local/cpanel/logs/api_tokens_log", "".join([
        log_line(NOW - 60 * DAY, "root", "monitoring", "10.0.0.1"),
        log_line(NOW - 2 * DAY, "boss", "billing", "203.0.113.77"),
        log_line(NOW - DAY, "boss", "billing", "203.0.113.77"),
        log_line(NOW - DAY, "helper", "deploy", None),
    ]))
    return site


def incident_query(**fields):
    return urlencode(dict(fields, page="incident"))


def test_the_panel_is_a_tab_with_a_form_and_changes_nothing(site):
    overview = site.get()
    assert 'href="index.cgi?page=incident"' in overview.body
    page = site.get("page=incident")
    assert page.status == 200
    assert 'name="used_from"' in page.body and "Preview:" not in page.body
    assert site.revokes() == []


def test_preview_shows_the_matching_evidence_and_what_could_not_be_judged(site):
    page = site.get(incident_query(used_from="203.0.113.0/24", used_after="7d"))
    assert page.status == 200, page.text()
    text = page.text()
    matches = re.search(r'<table[^>]*id="ts-incident-matches".*?</table>', page.body, re.S)
    assert matches and "billing" in matches.group(0) and "old-ci" not in matches.group(0)
    assert "203.0.113.77 : 2 uses, first 2026-11-25 12:00 UTC, last 2026-11-26 12:00 UTC" in text
    unjudged = re.search(r'id="ts-incident-unjudged".*?</table>', page.body, re.S).group(0)
    assert "deploy" in unjudged and "name no address" in unjudged
    assert "usage evidence missing" in text
    assert site.revokes() == []


@pytest.mark.parametrize("query, words", [
    ({"created_after": "2026-11-24T09:30"}, "has no UTC offset"),
    ({"used_from": "203.0.113.7/24"}, "did you mean 203.0.113.0/24"),
    ({"used_from": " ".join("198.51.100.%d" % i for i in range(51))}, "at most 50 networks"),
])
def test_malformed_values_are_named_on_the_form(site, query, words):
    page = site.get(incident_query(**query))
    assert page.status == 400
    assert words in page.text()
    assert site.server.calls() == []


def test_confirming_revokes_with_the_previewed_instants_and_audits_the_evidence(site):
    page = site.get(incident_query(used_from="203.0.113.0/24", used_after="7d"))
    form = re.search(r'<form method="post" action="index.cgi" class="ts-confirm".*?</form>',
                     page.body, re.S).group(0)
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    assert ("used_after", "2026-11-20T12:00:00Z") in fields  # 7d made absolute
    fields = [(n, v) for n, v in fields if n != "nonce"]
    result = site.post(fields, follow=True)  # the run's own page, after the 303
    assert result.status == 200, result.text()
    assert "billing" not in site.server.token_names("boss")
    assert "deploy" in site.server.token_names("helper")
    records, _ = audit.read()
    outcome = records[-1]
    assert outcome["actor"] == "whm:root"
    assert outcome["selectors"]["used_from"] == ["203.0.113.0/24"]
    assert outcome["tokens"][0]["seen_from"][0]["ip"] == "203.0.113.77"
    assert outcome["problems"][0].startswith("usage evidence missing")


def test_a_confirmation_whose_selection_no_longer_holds_revokes_nothing(site):
    page = site.get(incident_query(used_from="203.0.113.0/24"))
    form = re.search(r'class="ts-confirm".*?</form>', page.body, re.S).group(0)
    fields = [(n, v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form) if n != "nonce"]
    site.server.remove_token("boss", "billing")
    site.token("boss", "billing", age=0)  # re-created under the same name: another token
    result = site.post(fields)
    assert result.status == 409
    assert "Nothing was revoked" in result.text()
    assert site.revokes() == []


def test_the_result_links_the_incident_report_in_text_and_json(site):
    page = site.get(incident_query(used_from="203.0.113.0/24"))
    form = re.search(r'class="ts-confirm".*?</form>', page.body, re.S).group(0)
    fields = [(n, v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form) if n != "nonce"]
    result = site.post(fields, follow=True)
    link = re.search(r'href="(index.cgi\?page=report&amp;run=([^"&]+))"', result.body)
    assert link, result.text()
    run_id = link.group(2)
    text = site.get("page=report&run=" + run_id)
    assert text.status == 200 and text.headers["content-type"].startswith("text/plain")
    assert "boss/billing" in text.body and "seen from: 203.0.113.77: 2 uses" in text.body
    assert "whm:root" in text.body
    doc = site.get("page=report&format=json&run=" + run_id)
    import json

    assert json.loads(doc.body)["tokens"][0]["outcome"] == "revoked"
    assert site.get("page=report&run=20990101T000000Z-abcdef").status == 404
    assert site.get("page=report&run=../etc").status == 400


def test_pressing_confirm_twice_revokes_once_and_shows_the_same_run(site):
    page = site.get(incident_query(used_from="203.0.113.0/24"))
    form = re.search(r'class="ts-confirm".*?</form>', page.body, re.S).group(0)
    fields = [(n, v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form) if n != "nonce"]
    first = site.post(fields)
    second = site.post(fields)  # a double click, or back and resubmit
    assert first.status == second.status == 303
    assert second.headers["location"] == first.headers["location"]
    assert len(site.revokes()) == 1


def test_an_incident_confirmation_holding_a_name_ending_in_a_newline_revokes_it(site):
    # cPanel lets a reseller name a token `leak\n`; the incident's confirmation sent it
    # as a browser does (CRLF) and the page refused the whole confirmation (400).
    import html

    site.server.add_token("boss", "leak\n", NOW - DAY)
    page = site.get(incident_query(created_after="2d"))
    form = re.search(r'<form method="post" action="index.cgi" class="ts-confirm".*?</form>',
                     page.body, re.S).group(0)
    fields = [(n, html.unescape(v).replace("\n", "\r\n")) for n, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form) if n != "nonce"]
    assert len([n for n, _ in fields if n == "t"]) == 1
    result = site.post(fields, follow=True)
    assert result.status == 200, result.text()
    assert site.server.token_names("boss") == {"billing"}
