"""Issue 30.8, the Incident tab: a Kind column, kind and owner fields, protected tokens
apart from those to revoke, and the cPanel-account tokens that can never have log
evidence said in one line rather than a "not judged" row each."""

import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def test_protected_tokens_are_apart_and_each_row_says_its_kind(page, demo):
    page.goto(demo.url + "?page=incident&created_after=2000-01-01")
    revoke = page.locator("#ts-incident-matches tbody tr")
    kept = page.locator("#ts-incident-kept tbody tr")
    assert revoke.count() and kept.count()
    assert set(page.locator("#ts-incident-matches thead th").all_inner_texts()) >= {
        "Owner", "Kind", "Token"}
    assert set(page.locator("#ts-incident-matches td.ts-kind").all_inner_texts()) == {
        "WHM", "cPanel"}
    actions = {t.strip() for t in page.locator("#ts-incident-kept td:last-child").all_inner_texts()}
    assert actions == {"Kept: protected"}
    actions = {t.strip() for t in page.locator("#ts-incident-matches td:last-child")
               .all_inner_texts()}
    assert actions == {"To revoke"}
    assert "Revoke %d tokens" % revoke.count() in page.locator("#ts-confirm").inner_text()


def test_cpanel_tokens_without_log_evidence_are_one_line(page, demo):
    page.goto(demo.url + "?page=incident&used_after=30d")
    shot(page, "30-incident-unlogged")
    folded = page.locator("#ts-incident-unlogged summary").inner_text()
    count = int(re.match(r"^(\d+) cPanel-account tokens: cPanel does not log their use",
                         folded).group(1))
    heading = page.get_by_role("heading", name=re.compile(r"^Not judged")).inner_text()
    assert count >= 5
    # No row of the "not judged" table is a cPanel-account token.
    table = page.locator("#ts-incident-unjudged td.ts-kind")
    assert "cPanel" not in table.all_inner_texts()
    assert page.locator("#ts-incident-unjudged tbody tr").count() + count == int(
        heading.split("(")[1][:-1])


def test_kind_and_owner_fields_narrow_the_incident(page, demo):
    page.goto(demo.url + "?page=incident")
    page.get_by_label("Created at or after").fill("2000-01-01")
    page.locator("#ts-incident-kind").select_option("cpanel")
    page.locator("#ts-incident-owner").fill("shopnorth")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_selector("#ts-incident-matches")
    kinds = page.locator("#ts-incident-matches td.ts-kind, #ts-incident-kept td.ts-kind")
    owners = page.locator("#ts-incident-matches tbody td:first-child")
    assert set(kinds.all_inner_texts()) == {"cPanel"}
    assert {text.split("\n")[0] for text in owners.all_inner_texts()} == {"shopnorth"}
    revoke = page.locator("#ts-incident-matches tbody tr").count()
    page.get_by_role("button", name=re.compile(r"^Revoke \d+ token")).click()
    page.wait_for_selector("#ts-outcomes")
    outcomes = page.locator("#ts-outcomes tbody tr")
    assert outcomes.count() >= revoke
    assert set(page.locator("#ts-outcomes td:first-child").all_inner_texts()) == {"shopnorth"}
    assert set(page.locator("#ts-outcomes td.ts-kind").all_inner_texts()) == {"cPanel"}
    page.goto(demo.url + "?page=incident&created_after=2000-01-01&kind=ftp")
    assert "kind: “ftp” is none of whm, cpanel" in page.locator("[role=alert]").inner_text()
