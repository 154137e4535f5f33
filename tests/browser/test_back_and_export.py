"""Issue 30 on the page: Back after a revoke never shows a tick the admin did not give
(30.2); the token inventory as a CSV download that follows the filters (30.11).
Screenshots go to test-artifacts/browser/ (names starting with "30")."""

import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

TICKED = "Array.from(document.querySelectorAll('input[name=t]:checked'))" \
         ".map(b => b.getAttribute('aria-label'))"


def test_back_after_a_revoke_never_ticks_a_token_the_admin_did_not_pick(page):
    picked = "Select token tmp-debug of root"
    page.get_by_label(picked).check()
    page.get_by_role("button", name=re.compile(r"^Preview revocation")).first.click()
    page.wait_for_selector("#ts-to-revoke")
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    # Back twice: past the preview (a POST answer: "Confirm Form Resubmission") to the list.
    with page.expect_navigation():
        page.evaluate("history.go(-2)")
    page.wait_for_selector("#ts-tokens")
    shot(page, "30-back-after-revoke")
    ticked = page.evaluate(TICKED)
    assert set(ticked) <= {picked}, ticked


def test_the_csv_download_is_the_inventory_the_filters_show(page, demo):
    import csv
    import io

    page.goto(demo.url + "?kind=cpanel")
    matching = int(re.search(r"of (\d+) matching", page.locator("#ts-matching").inner_text())
                   .group(1))
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"^Download CSV")).click()
    download = info.value
    assert re.match(r"^api-tokens-\d{4}-\d\d-\d\d\.csv$", download.suggested_filename)
    with open(download.path(), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert len(rows) == matching and matching > 3
    assert {row["kind"] for row in rows} == {"cpanel"}
    assert all(row["holder"] == row["owner"] + "@cpanel" and row["account_of"] for row in rows)
    assert list(rows[0]) == ["owner", "kind", "holder", "account_of", "name", "created",
                             "created_by", "expires", "last_used", "state", "protected_by",
                             "full_access", "ip_limit"]
    protected = [row for row in rows if row["state"] == "protected"]
    assert protected and all(row["protected_by"].startswith("protected: ") for row in protected)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", row["created"]) for row in rows)
