"""Issue 15: cPanel accounts' own tokens on the page: the Kind column and filter, and the
revoke flow for a cPanel token (the demo's account hostpro has `billing-whmcs`, the same
name as its reseller hostpro's WHM token: only the one ticked goes)."""

import json
import os
import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def audit_records(demo):
    path = os.path.join(str(demo.directory), "state", "audit.log")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_a_cpanel_token_is_filtered_previewed_and_revoked_alone(page, demo):
    page.select_option("#ts-filter-kind", "cpanel")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("#ts-tokens")
    kinds = page.locator("#ts-tokens td.ts-kind").all_inner_texts()
    assert kinds and set(kinds) == {"cPanel"}
    shot(page, "40-kind-filter-cpanel")
    page.get_by_label("Select token billing-whmcs of hostpro (cPanel account)").check()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    page.wait_for_selector("#ts-confirm")
    assert "cPanel" in page.locator("#ts-to-revoke").inner_text()
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    shot(page, "41-cpanel-token-revoked")
    outcome = [r for r in audit_records(demo) if r["event"] == "outcome"][-1]
    assert [(t["kind"], t["owner"], t["name"], t["action"]) for t in outcome["tokens"]] == [
        ("cpanel", "hostpro", "billing-whmcs", "revoked")]
    assert "cPanel" in page.locator("#ts-outcomes").inner_text()
    # The reseller's WHM token of the same name is still listed.
    page.goto(demo.url + "?kind=whm&q=billing-whmcs")
    page.wait_for_selector("#ts-tokens")
    assert "billing-whmcs" in page.locator("#ts-tokens").inner_text()


def test_a_name_ending_in_a_newline_reads_unlike_the_name_without_it(page, demo):
    """cPanel lets an account name a token `leak\\n` (Perl's `$`): the page showed it as
    `leak`. It shows the escape boxed, and screen readers hear the character's name."""
    import time

    from tests.browser.test_accessibility import axe_problems
    from tests.fakes.fakeserver import FakeServer

    fake = FakeServer(str(demo.directory / "fake"))
    now = int(time.time())
    for name in ("leak\n", "leak"):
        fake.add_cpanel_token("hostpro", name, now - 60 * 86400, expires_at=now + 30 * 86400)
    fake.write_token_files(str(demo.directory / "cpanel-root"))
    page.goto(demo.url + "?kind=cpanel&q=leak")
    page.wait_for_selector("#ts-tokens")
    assert page.locator("#ts-tokens td.ts-name .ts-ctrl [aria-hidden=true]").all_inner_texts() \
        == ["\\n"]
    page.get_by_label("Select token leak (newline character) of hostpro (cPanel account)").check()
    page.get_by_label("Select token leak of hostpro (cPanel account)").is_visible()
    shot(page, "42-name-ending-in-a-newline")
    assert axe_problems(page, in_chrome=True) == []


def test_a_name_ending_in_a_newline_is_ticked_previewed_and_revoked_alone(page, demo):
    """Ticking `leak\\n` and pressing Preview revocation gave a 400: Chromium sends the
    newline of a form value as CRLF. The page's forms spell it `leak\\n` now: the preview
    and the revocation take that token, and its twin `leak` stays."""
    import time

    from tests.fakes.fakeserver import FakeServer

    fake = FakeServer(str(demo.directory / "fake"))
    now = int(time.time())
    for name in ("leak\n", "leak"):
        fake.add_cpanel_token("hostpro", name, now - 60 * 86400, expires_at=now + 30 * 86400)
    fake.write_token_files(str(demo.directory / "cpanel-root"))
    page.goto(demo.url + "?kind=cpanel&q=leak")
    page.wait_for_selector("#ts-tokens")
    page.get_by_label("Select token leak (newline character) of hostpro (cPanel account)").check()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    page.wait_for_selector("#ts-confirm")
    assert page.locator("#ts-to-revoke td.ts-name .ts-ctrl [aria-hidden=true]") \
        .all_inner_texts() == ["\\n"]
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    outcome = [r for r in audit_records(demo) if r["event"] == "outcome"][-1]
    assert [(t["owner"], t["name"], t["action"]) for t in outcome["tokens"]] == [
        ("hostpro", "leak\n", "revoked")]
    assert fake.cpanel_token_names("hostpro") >= {"leak"}
    assert "leak\n" not in fake.cpanel_token_names("hostpro")
