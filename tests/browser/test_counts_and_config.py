"""Issue 30 on the Tokens tab: counts follow the filters and say what is revocable and
what is protected, the owner filter is a search box, "accounts of reseller X" narrows to
that reseller's accounts (30.6); a configuration that cannot be read says what the list
does not show (30.5)."""

import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def card(page, label):
    return int(page.locator(".ts-count", has_text=label).locator(".ts-count-n").inner_text())


def owners_shown(page):
    return {text.split("\n")[0] for text in
            page.locator("#ts-tokens tbody tr td:nth-child(2)").all_inner_texts()}


def test_the_cards_and_the_toolbar_count_what_the_filters_show(page, demo):
    everything = card(page, "All tokens")
    page.get_by_label("Owner", exact=True).fill("root")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"owner=root"))
    shot(page, "30-counts-follow-filters")
    rows = page.locator("#ts-tokens tbody tr")
    shown = rows.count()
    assert owners_shown(page) == {"root"}
    # The first card counts root's tokens, and says how many there are in all.
    assert card(page, "Filtered") == shown < everything
    assert "(%d in all)" % everything in page.locator(".ts-count").first.inner_text()
    by_state = sum(card(page, label) for label in ("Stale by policy", "Expired",
                                                   "Expiring soon", "Active", "Protected"))
    assert by_state == shown
    protected = page.locator("#ts-tokens tbody .ts-lock").count()
    assert protected and card(page, "Protected") == protected
    text = page.locator("#ts-matching").inner_text()
    assert "Showing %d of %d matching tokens: %d revocable (%d protected)." % (
        shown, shown, shown - protected, protected) in text
    select_all = page.get_by_role("button", name=re.compile(r"^Select all \d+ matching"))
    assert select_all.inner_text() == "Select all %d matching tokens" % (shown - protected)


def test_accounts_of_a_reseller(page, demo):
    page.get_by_label("Accounts of reseller").select_option("hostpro")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"reseller=hostpro"))
    reasons = page.locator("#ts-tokens tbody tr td:nth-child(2) .ts-reason").all_inner_texts()
    kinds = set(page.locator("#ts-tokens tbody tr td:nth-child(3)").all_inner_texts())
    assert reasons and set(reasons) == {"account of hostpro"} and kinds == {"cPanel"}
    assert page.locator("#ts-tokens tbody tr").count() == len(reasons)
    # "Select all matching" chooses those tokens and no other.
    page.get_by_role("button", name=re.compile(r"^Select all \d+ matching")).click()
    page.wait_for_selector("#ts-to-revoke")
    assert "of the accounts of reseller hostpro" in page.locator("[role=alert]").first.inner_text()
    accounts = page.locator("#ts-to-revoke tbody tr td:first-child .ts-reason").all_inner_texts()
    assert accounts and set(accounts) == {"account of hostpro"}


def test_a_broken_config_says_what_the_list_does_not_show(page, demo):
    (demo.directory / "config.yaml").write_text("mode: sometimes\nkinds: [whm, cpanel]\n")
    page.goto(demo.url)
    alert = page.locator("[role=alert]").first.inner_text()
    shot(page, "30-broken-config")
    assert "mode" in alert and "sometimes" in alert
    assert "Not shown: the tokens of cPanel accounts." in alert
    kinds = page.locator("#ts-tokens tbody td.ts-kind").all_inner_texts()
    assert kinds and set(kinds) == {"WHM"}  # which is what the alert says


def test_select_all_matching_says_the_filter_chose_them(page, demo):
    page.goto(demo.url + "?state=expired&kind=cpanel")
    page.get_by_role("button", name=re.compile(r"^Select all \d+ matching")).click()
    page.wait_for_selector("#ts-to-revoke")
    why = page.locator("#ts-to-revoke tbody tr td:last-child").all_inner_texts()
    assert why and all("chosen by filter: state=expired, kind=cPanel" in text for text in why)
    assert "chosen by hand" not in page.locator("#ts-to-revoke").inner_text()
    # The revocation's audit record (its result page is read back from it) says so too.
    page.get_by_role("button", name=re.compile(r"^Revoke \d+ token")).click()
    page.wait_for_selector("#ts-outcomes")
    details = page.locator("#ts-outcomes .ts-outcome-revoked td:last-child").all_inner_texts()
    assert len(details) == len(why)
    assert all(text == "chosen by filter: state=expired, kind=cPanel" for text in details)
