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


def test_a_token_revoked_elsewhere_before_the_confirmation_gives_a_new_preview(page, demo):
    from tests.fakes.fakeserver import FakeServer

    preview_of(page, "Select token tmp-debug of root", "Select token legacy-panel of resold22")
    server = FakeServer(str(demo.directory / "fake"))
    server.remove_token("root", "tmp-debug")  # someone else, in WHM's own page
    server.write_token_files(str(demo.directory / "cpanel-root"))
    page.get_by_role("button", name="Revoke 2 tokens").click()
    page.wait_for_selector(".ts-changes")
    shot(page, "23-changed-selection")
    text = page.locator("main").inner_text()
    assert "Nothing was revoked" in text and "root/tmp-debug is no longer listed" in text
    assert page.locator("#ts-to-revoke tbody td.ts-name").all_inner_texts() == ["legacy-panel"]
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    assert "Done. 1 token revoked" in page.locator("main").inner_text()


def test_preview_revocation_waits_for_a_tick(page):
    button = page.get_by_role("button", name=re.compile("Preview revocation"))
    assert button.is_disabled()
    page.get_by_label("Select token tmp-debug of root").check()
    assert button.is_enabled() and "(1)" in button.inner_text()
    page.get_by_label("Select token tmp-debug of root").uncheck()
    assert button.is_disabled()


def test_without_javascript_nothing_ticked_is_said_over_the_same_list(page_without_js):
    page = page_without_js
    page.get_by_label("State").select_option("expired")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("state=expired"))
    page.get_by_role("button", name="Preview revocation").click()
    page.wait_for_selector(".ts-alert-warning")
    shot(page, "24-nothing-ticked")
    assert "Nothing was ticked" in page.locator("main").inner_text()
    states = {s.strip() for s in page.locator("#ts-tokens tbody .ts-state").all_inner_texts()}
    assert states == {"Expired"}  # the filtered list, to tick from


def test_a_broken_config_leaves_a_read_only_list_with_tabs_and_a_way_to_settings(page, demo):
    with open(str(demo.directory / "config.yaml"), "w") as handle:
        handle.write("mode: sometimes\npolicy:\n  older_than_days: -1\n")
    page.reload()
    shot(page, "25-broken-config")
    assert page.locator("#ts-tokens tbody tr").count() > 10
    assert page.locator("#ts-tokens input[type='checkbox']").count() == 0
    assert page.locator(".ts-problems li").count() == 2
    page.get_by_role("link", name="Policy sweep").click()
    assert page.locator(".ts-problems li").count() == 2
    page.get_by_role("link", name="Open Settings").click()
    assert "The configuration has problems" in page.locator("main").inner_text()


def test_keyboard_only_from_preview_to_the_result(page):
    from tests.browser.test_web_browser import focus_by_tab

    focus_by_tab(page, "el => el.getAttribute('aria-label') === 'Select token tmp-debug of root'")
    page.keyboard.press("Space")
    focus_by_tab(page, "el => el.textContent.indexOf('Preview revocation') === 0")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ts-confirm")
    focus_by_tab(page, "el => el.textContent.trim() === 'Revoke 1 token'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ts-outcomes")
    assert "page=audit&run=" in page.url
    focus_by_tab(page, "el => el.textContent.trim() === 'Back to the token list'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ts-tokens")
    assert page.get_by_label("Select token tmp-debug of root").count() == 0


@pytest.fixture
def refused_page(browser, tmp_path):
    """The demo as hostpro, a reseller without Root Access."""
    import subprocess
    import sys

    from tests.browser.conftest import DEMO_SERVER

    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
    process = subprocess.Popen(
        [sys.executable, DEMO_SERVER, "--setup", str(tmp_path / "demo"), "--port", "0",
         "--user", "hostpro"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, universal_newlines=True)
    url = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", process.stdout.readline()).group(1)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20000)
    yield tab, url
    context.close()
    process.terminate()
    process.wait(timeout=10)


def test_the_403_page_is_styled_and_leads_out_not_back(refused_page):
    page, url = refused_page
    response = page.goto(url)
    assert response.status == 403
    shot(page, "26-refused")
    alert = page.locator(".ts-alert-danger")
    # Styled: the stylesheet loaded (an unstyled div has no border or background).
    assert alert.evaluate("el => getComputedStyle(el).borderLeftStyle") != "none" or \
        alert.evaluate("el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert "Root Access" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Back to the token list").count() == 0
    home = page.get_by_role("link", name="Go to WHM Home")
    assert home.get_attribute("href") == "../../scripts/command?PFILE=main"
    assert re.search(r"/cpsess\d+/scripts/command\?PFILE=main$",
                     home.evaluate("el => el.href"))


def test_select_all_matching_tokens_previews_the_whole_filter(page):
    page.get_by_label("Name contains").fill("ci-deploy")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"q=ci-deploy"))
    button = page.get_by_role("button", name=re.compile(r"Select all \d+ matching tokens"))
    count = int(re.search(r"(\d+)", button.inner_text()).group(1))
    button.click()
    page.wait_for_selector("#ts-to-revoke")
    shot(page, "27-select-all-matching")
    assert "All {} tokens matching the filter".format(count) in page.locator("main").inner_text()
    names = page.locator("#ts-to-revoke tbody td.ts-name").all_inner_texts()
    assert len(names) == count and set(names) == {"ci-deploy"}


def test_ticks_survive_the_live_filter_and_the_sticky_bar_counts_them(page):
    bar = page.locator("#ts-selbar")
    assert bar.is_hidden()
    page.get_by_label("Select token tmp-debug of root").check()
    page.get_by_label("Select token legacy-panel of resold22").check()
    assert bar.is_visible() and page.locator("#ts-selbar-count").inner_text() == "2 selected"
    page.get_by_label("Name contains").fill("legacy")
    assert page.locator("#ts-selbar-count").inner_text() == \
        "2 selected (1 hidden by the name filter)"
    shot(page, "28-sticky-bar")
    page.get_by_role("button", name="Preview selected").click()
    page.wait_for_selector("#ts-to-revoke")
    assert sorted(page.locator("#ts-to-revoke tbody td.ts-name").all_inner_texts()) == [
        "legacy-panel", "tmp-debug"]


def test_the_sticky_bar_stays_in_view_while_scrolling(page):
    page.set_viewport_size({"width": 1000, "height": 500})
    page.get_by_label("Select token tmp-debug of root").check()
    page.mouse.wheel(0, 300)
    box = page.locator("#ts-selbar").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 500 + 1
    page.get_by_role("button", name="Clear selection").click()
    assert page.locator("#ts-selbar").is_hidden()
    assert page.locator("#ts-tokens input[name='t']:checked").count() == 0


def test_select_all_matching_is_hidden_while_the_live_filter_differs_from_the_servers(page):
    matching = page.get_by_role("button", name=re.compile(r"Select all \d+ matching"))
    assert matching.is_visible()
    page.get_by_label("Name contains").fill("legacy")
    assert matching.is_hidden()  # its count is the server's filter, not what is typed
    page.get_by_label("Name contains").fill("")
    assert matching.is_visible()


@pytest.mark.parametrize("javascript", [True, False])
def test_a_slow_first_visit_shows_progress_then_the_tokens(browser, demo, javascript):
    """Issue 14.4: whmapi1 at half a second a call; the demo server streams like cpsrvd."""
    from tests.fakes.fakeserver import FakeServer

    FakeServer(str(demo.directory / "fake")).add_fault(
        "latency", function="api_token_list", seconds=0.5)
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  java_script_enabled=javascript)
    tab = context.new_page()
    tab.set_default_timeout(20000)
    try:
        tab.goto(demo.url, wait_until="commit")
        status = tab.get_by_role("status").filter(has_text="Listing the API tokens")
        status.wait_for(state="visible")
        assert tab.locator("#ts-tokens").count() == 0  # the status comes before the tokens
        assert tab.locator(".ts-tabs").is_visible()
        if javascript:
            shot(tab, "29-slow-first-visit-listing")
        tab.wait_for_load_state("load")
        tab.wait_for_selector("#ts-tokens")
        shot(tab, "29-slow-first-visit-done" + ("" if javascript else "-nojs"))
        # Listed: the page looks as if answered at once; screen readers hear it is done.
        assert tab.locator(".ts-listing-bar").is_hidden()
        assert tab.get_by_text("Listing the API tokens").is_hidden()
        done = tab.get_by_role("status").filter(has_text=re.compile(r"Listed 6 owners in"))
        assert re.match(r"Listed 6 owners in \d+\.\d s\.",
                        tab.locator(".ts-listing-done").text_content())
        assert done.bounding_box()["height"] <= 1  # visually hidden, still in the a11y tree
    finally:
        context.close()
