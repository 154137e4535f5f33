"""Issue 14 (page-a): the confirmation's post-redirect-get, a second press of Revoke,
error pages that are not dead ends, the styled 403, and what the preview shows.
Screenshots go to test-artifacts/browser/ (names starting with "2").
"""

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


def preview_of(page, *labels):
    for label in labels:
        page.get_by_label(label).check()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    page.wait_for_selector("#ts-confirm")


def test_the_result_is_a_page_of_its_own_that_reloads_without_revoking_again(page, demo):
    preview_of(page, "Select token tmp-debug of root")
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    assert re.search(r"[?&]page=audit&run=", page.url)
    page.reload()
    page.wait_for_selector("#ts-outcomes")
    shot(page, "20-result-reloaded")
    assert "Done. 1 token revoked and verified gone" in page.locator("main").inner_text()
    assert [r["event"] for r in audit_records(demo)] == ["intent", "outcome"]


def test_a_double_click_without_javascript_revokes_once_and_shows_the_result(
        page_without_js, demo):
    """Chromium may send the second press or drop it; either way one run, and its result."""
    page = page_without_js
    preview_of(page, "Select token tmp-debug of root", "Select token legacy-panel of resold22")
    page.get_by_role("button", name="Revoke 2 tokens").dblclick()
    page.wait_for_selector("#ts-outcomes")
    shot(page, "21-double-click-result")
    text = page.locator("main").inner_text()
    assert "Done. 2 tokens revoked and verified gone" in text
    assert "Nothing was revoked" not in text
    runs = {r["run_id"] for r in audit_records(demo)}
    assert len(runs) == 1


def test_back_and_resubmit_shows_the_first_run(page, demo):
    preview_of(page, "Select token tmp-debug of root")
    form = page.locator("#ts-confirm")
    # What the browser would send again: the same form, submitted twice.
    status = page.evaluate("""(form) => {
        const body = new URLSearchParams(new FormData(form));
        return fetch(form.getAttribute('action'), {method: 'POST', body: body})
            .then((r) => r.status);
    }""", form.element_handle())
    assert status == 200  # the first submission's result, followed
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    assert "Done. 1 token revoked" in page.locator("main").inner_text()
    assert len({r["run_id"] for r in audit_records(demo)}) == 1


def test_two_presses_at_once_both_end_on_the_one_runs_page(page, demo):
    """Two POSTs of the same confirmation in flight together: the second waits for the
    first's lock, then finds its run."""
    preview_of(page, "Select token tmp-debug of root", "Select token legacy-panel of resold22")
    urls = page.evaluate("""(form) => {
        const send = () => fetch(form.getAttribute('action'), {method: 'POST',
            body: new URLSearchParams(new FormData(form))}).then((r) => [r.status, r.url]);
        return Promise.all([send(), send()]);
    }""", page.locator("#ts-confirm").element_handle())
    assert urls[0] == urls[1] and urls[0][0] == 200 and "page=audit&run=" in urls[0][1]
    assert len({r["run_id"] for r in audit_records(demo)}) == 1
    page.goto(urls[0][1])
    assert "Done. 2 tokens revoked" in page.locator("main").inner_text()


def test_the_pressed_revoke_button_says_it_is_at_work(page):
    preview_of(page, "Select token tmp-debug of root")
    button = page.get_by_role("button", name="Revoke 1 token")
    # Hold the submission so the pressed state can be seen.
    page.evaluate("""() => document.getElementById('ts-confirm').addEventListener(
        'submit', (event) => event.preventDefault())""")
    button.click()
    busy = page.locator("#ts-confirm button[type='submit']")
    assert busy.is_disabled() and busy.inner_text() == "Revoking 1 token…"
    shot(page, "22-revoking")
