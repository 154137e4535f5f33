"""Issue 30.10, the Audit tab: each run says its kind (policy, hand-picked, incident, ...),
runs are found by token, owner or actor, a run's incident report reads inline, and a run
with failures offers "Retry failed" (a fresh preview of just those tokens)."""

import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def revoke_picked(page, demo, label):
    page.goto(demo.url)
    page.get_by_label(label).check()
    page.get_by_role("button", name=re.compile(r"^Preview revocation")).first.click()
    page.wait_for_selector("#ts-to-revoke")
    page.get_by_role("button", name=re.compile(r"^Revoke \d+ token")).click()
    page.wait_for_selector("#ts-outcomes")


def run_rows(page):
    return [" ".join(text.split()) for text in page.locator(".ts-run summary").all_inner_texts()]


def test_runs_say_their_kind_and_are_found_by_token_owner_or_actor(page, demo):
    revoke_picked(page, demo, "Select token tmp-debug of root")
    page.goto(demo.url + "?page=incident&used_from=203.0.113.0%2F24")
    page.get_by_role("button", name=re.compile(r"^Revoke \d+ token")).click()
    page.wait_for_selector("#ts-outcomes")
    assert "incident" in page.locator("h2.ts-h2").inner_text()
    report = page.locator("#ts-report")
    report.locator("summary").click()
    assert "203.0.113.0/24" in report.inner_text()  # the report, read here
    page.goto(demo.url + "?page=sweep")
    page.locator("#ts-confirm-count").fill(page.locator("#ts-confirm-count")
                                           .get_attribute("pattern"))
    page.get_by_role("button", name=re.compile(r"^Revoke \d+ tokens")).click()
    page.wait_for_selector("#ts-outcomes")
    page.goto(demo.url + "?page=audit")
    shot(page, "30-audit-kinds")
    kinds = [page.locator(".ts-run-kind").nth(i).inner_text() for i in range(3)]
    assert kinds == ["policy", "incident", "hand-picked"]  # newest first
    page.get_by_label("Token, owner, actor or run").fill("tmp-debug")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=tmp-debug"))
    # root's tmp-debug (picked by hand) and devstaging's cPanel tmp-debug (the policy's);
    # the incident's run had neither.
    assert page.locator(".ts-run-kind").all_inner_texts() == ["policy", "hand-picked"]
    assert "2 of 3 runs match" in page.locator(".ts-toolbar p").inner_text()
    page.goto(demo.url + "?page=audit&q=devstaging%40cpanel")  # a holder finds its runs
    assert page.locator(".ts-run-kind").all_inner_texts() == ["policy"]
    page.goto(demo.url + "?page=audit&q=whm%3Aroot")
    assert len(run_rows(page)) == 3
    page.goto(demo.url + "?page=audit&q=nobody-at-all")
    assert run_rows(page) == [] and "No run matches" in page.locator(".ts-empty").inner_text()


def test_retry_failed_previews_only_the_failed_tokens(page, demo):
    from tests.fakes.fakeserver import FakeServer

    fake = FakeServer(str(demo.directory / "fake"))
    fake.add_fault("keep_token", function="api_token_revoke", owner="resold22",
                   name="legacy-panel")
    page.get_by_label("Select token legacy-panel of resold22").check()
    page.get_by_label("Select token tmp-debug of root").check()
    page.get_by_role("button", name=re.compile(r"^Preview revocation")).first.click()
    page.wait_for_selector("#ts-to-revoke")
    page.get_by_role("button", name="Revoke 2 tokens").click()
    page.wait_for_selector("#ts-outcomes")
    assert page.locator(".ts-outcome-failed").count() == 1
    fake.clear_faults()
    page.get_by_role("button", name="Retry failed (1)").click()
    page.wait_for_selector("#ts-to-revoke")
    names = page.locator("#ts-to-revoke td.ts-name").all_inner_texts()
    assert names == ["legacy-panel"]
    page.get_by_role("button", name="Revoke 1 token").click()
    page.wait_for_selector("#ts-outcomes")
    assert "1 token revoked and verified gone" in page.locator("main").inner_text()
    assert page.locator("#ts-retry").count() == 0  # nothing failed this time
