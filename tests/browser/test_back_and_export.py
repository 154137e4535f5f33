"""Issue 30 on the page: Back after a revoke never shows a tick the admin did not give
(30.2). Screenshots go to test-artifacts/browser/ (names starting with "30")."""

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
