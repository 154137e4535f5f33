"""The WHM page in a real browser: filter, sort, select, preview, typed
confirmation, revoke, result, audit; once by keyboard only; once without
JavaScript. Each step leaves a screenshot in test-artifacts/browser/.
"""

import json
import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def names_shown(page):
    return page.locator("#ts-tokens tbody td.ts-name").all_inner_texts()


def states_shown(page):
    return [s.strip() for s in page.locator("#ts-tokens tbody .ts-state").all_inner_texts()]


def test_overview_shows_every_owner_with_summary_and_chart(page):
    shot(page, "01-overview")
    owners = set(page.locator("#ts-tokens tbody tr td:nth-child(2)").all_inner_texts())
    assert {"root", "hostpro", "webagency", "devshop", "acmeweb"} <= owners
    total = int(page.locator(".ts-count-current .ts-count-n").inner_text())
    assert total == page.locator("#ts-tokens tbody tr").count()
    assert page.get_by_role("img", name=re.compile("Tokens by age")).is_visible()
    assert "Protected" in states_shown(page)


def test_filter_by_state_and_owner_then_sort(page):
    page.get_by_label("State").select_option("expired")
    page.get_by_label("Owner", exact=True).fill("root")  # a search box (issue 30.6)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"state=expired"))
    shot(page, "02-filtered")
    assert set(states_shown(page)) == {"Expired"}
    assert set(page.locator("#ts-tokens tbody tr td:nth-child(2)").all_inner_texts()) == {"root"}

    page.get_by_role("link", name=re.compile(r"^Token\b.*sort")).click()
    page.wait_for_url(re.compile(r"sort=name"))
    ascending = names_shown(page)
    assert ascending == sorted(ascending, key=str.lower) and len(ascending) > 1
    page.get_by_role("link", name=re.compile(r"^Token\b.*sort")).click()
    page.wait_for_url(re.compile(r"dir=desc"))
    shot(page, "03-sorted-desc")
    assert names_shown(page) == list(reversed(ascending))
    # The filters survive sorting.
    assert set(states_shown(page)) == {"Expired"}


def test_live_filter_and_select_all_shown(page):
    page.get_by_label("Name contains").fill("ci-deploy")
    visible = page.locator("#ts-tokens tbody tr:visible")
    assert visible.count() >= 2
    assert all(n == "ci-deploy" for n in page.locator(
        "#ts-tokens tbody tr:visible td.ts-name").all_inner_texts())
    page.get_by_label("Select all shown tokens").check()
    shot(page, "04-live-filter-select-all")
    checked = page.locator("#ts-tokens tbody input[name='t']:checked")
    assert checked.count() == visible.count()
    assert page.get_by_role("button", name=re.compile(r"Preview revocation \(\d+\)")).is_visible()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    page.wait_for_selector("#ts-to-revoke")
    revoked = page.locator("#ts-to-revoke tbody td.ts-name").all_inner_texts()
    assert revoked and set(revoked) == {"ci-deploy"}


def test_select_preview_revoke_result_and_audit(page):
    page.get_by_label("Select token tmp-debug of root").check()
    page.get_by_label("Select token legacy-panel of resold22").check()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    page.wait_for_selector("#ts-to-revoke")
    shot(page, "05-preview")
    assert "2 tokens will be revoked" in page.locator("main").inner_text()
    assert sorted(page.locator("#ts-to-revoke tbody td.ts-name").all_inner_texts()) == [
        "legacy-panel", "tmp-debug"]
    assert page.locator("#ts-confirm-count").count() == 0  # 10 or fewer: no typed number

    page.get_by_role("button", name="Revoke 2 tokens").click()
    page.wait_for_selector("#ts-outcomes")
    shot(page, "06-result")
    assert "Done. 2 tokens revoked and verified gone" in page.locator("main").inner_text()
    outcomes = page.locator("#ts-outcomes tbody tr").all_inner_texts()
    assert len(outcomes) == 2 and all("Revoked" in row for row in outcomes)

    page.get_by_role("link", name="Back to the token list").click()
    assert page.get_by_label("Select token tmp-debug of root").count() == 0

    page.get_by_role("link", name="Audit log", exact=True).click()
    run = page.locator(".ts-run details").first
    run.locator("summary").click()
    shot(page, "07-audit")
    body = run.inner_text()
    assert "tmp-debug" in body and "legacy-panel" in body and "whm:root" in body


def test_many_tokens_need_the_typed_number(page):
    page.get_by_label("Select all shown tokens").check()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    box = page.get_by_label(re.compile("Type .* to confirm"))
    count = int(re.search(r"Revoke (\d+) tokens",
                          page.locator("#ts-confirm button").inner_text()).group(1))
    assert count > 10
    revoke = page.get_by_role("button", name="Revoke {} tokens".format(count))

    revoke.click()  # empty: the browser refuses to submit
    assert page.locator("#ts-confirm").is_visible()
    box.fill(str(count - 1))
    revoke.click()  # wrong number: still refused
    assert page.locator("#ts-confirm").is_visible()
    shot(page, "08-typed-confirmation")

    box.fill(str(count))
    revoke.click()
    page.wait_for_selector("#ts-outcomes")
    shot(page, "09-bulk-result")
    assert "{} tokens revoked".format(count) in page.locator("main").inner_text()


def test_policy_sweep_preview_keeps_protected_tokens(page):
    page.get_by_role("link", name="Preview policy sweep").click()
    page.wait_for_selector("#ts-to-revoke")
    shot(page, "10-policy-preview")
    kept = page.locator("#ts-kept tbody").inner_text()
    assert "protected" in kept
    revoked = page.locator("#ts-to-revoke tbody td.ts-name").all_inner_texts()
    assert not any(name.endswith("-trust") or name.startswith("reverse_trust_") for name in revoked)


def focus_by_tab(page, matches, limit=400):
    """Press Tab until the focused element satisfies `matches` (JS predicate on el)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => (" + matches + ")(el)", page.evaluate_handle(
                "document.activeElement")):
            return
    raise AssertionError("Tab never reached an element matching " + matches)


def test_revoke_with_the_keyboard_only(page):
    focus_by_tab(page, "el => el.getAttribute('aria-label') === "
                       "'Select token old-migration-2023 of hostpro'")
    page.keyboard.press("Space")
    focus_by_tab(page, "el => el.textContent.indexOf('Preview revocation') === 0")
    shot(page, "11-keyboard-selected")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ts-to-revoke")
    focus_by_tab(page, "el => el.textContent.trim() === 'Revoke 1 token'")
    shot(page, "12-keyboard-preview")
    page.keyboard.press("Enter")
    page.wait_for_selector("#ts-outcomes")
    shot(page, "13-keyboard-result")
    assert "1 token revoked" in page.locator("main").inner_text()


def test_core_actions_work_without_javascript(page_without_js):
    page = page_without_js
    assert page.locator("#ts-select-all").count() == 0  # no JS enhancement
    page.get_by_label("State").select_option("stale")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("state=stale"))
    page.get_by_label("Select token billing-whmcs of root").check()
    page.get_by_role("button", name="Preview revocation").click()
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    shot(page, "14-no-javascript-result")
    assert "1 token revoked" in page.locator("main").inner_text()


def test_audit_download_is_json_lines(page):
    page.get_by_label("Select token tmp-debug of root").check()
    page.get_by_role("button", name=re.compile("Preview revocation")).click()
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    page.get_by_role("link", name="Audit log", exact=True).click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as JSON lines").click()
    download = info.value
    assert download.suggested_filename == "tokensweeper-audit.jsonl"
    with open(download.path(), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    assert [r["event"] for r in records] == ["intent", "outcome"]
    assert records[-1]["tokens"][0]["name"] == "tmp-debug"


def test_settings_show_the_demo_config(page):
    page.get_by_role("link", name="Settings").click()
    shot(page, "15-settings")
    text = page.locator("main").inner_text()
    assert "config.yaml" in text and "730 days" in text and "180 days" in text
