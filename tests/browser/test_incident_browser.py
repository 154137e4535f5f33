"""The Incident tab in a real browser, against the demo's seeded leak (203.0.113.77 and
2001:db8:bad::17 in the last 3 days): the runbook's page steps."""

import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def test_incident_tab_previews_the_leak_with_its_evidence_and_revokes_it(page):
    page.get_by_role("link", name="Incident").click()
    page.get_by_label("Used from (networks, IPv4 or IPv6)").fill("203.0.113.0/24 2001:db8::/32")
    page.get_by_label("Used at or after").fill("7d")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"page=incident"))
    shot(page, "incident-01-preview")
    matches = page.locator("#ts-incident-matches tbody")
    assert sorted(matches.locator("td.ts-name").all_inner_texts()) == [
        "api-client", "softaculous-api", "tmp-debug"]
    assert "203.0.113.77: 3 uses" in matches.inner_text()
    assert "2001:db8:bad::17: 1 use" in matches.inner_text()
    assert page.locator("#ts-incident-unjudged").is_visible()  # said, not hidden
    page.get_by_role("button", name="Revoke 3 tokens").click()
    shot(page, "incident-02-result")
    assert page.get_by_text("Revoked").first.is_visible()
