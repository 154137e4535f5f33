"""WCAG 2.2 AA on every page (issue 14.9): axe-core (bundled by axe-playwright-python)
finds no serious or critical violation, standalone and inside WHM's chrome, at desktop
width and at 375 px; the page reflows at 320 and 375 px; the page's own title, a skip
link and a polite live region for the selection count.

Inside WHM's chrome axe checks the plugin only: WHM's own bar and menu are cPanel's
(the demo's copy of them is a stand-in, not something this project ships).
"""

import os
import re
import shutil

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WHM_CHROME = [["#whm-top"], ["#whm-nav"], ["#whm-crumbs"]]
DESKTOP, PHONE = (1400, 900), (375, 800)


def standalone(demo):
    """Without cPanel's chrome cache the page draws its own WHM-like frame."""
    shutil.rmtree(os.path.join(str(demo.directory), "cpanel-root", "var", "cpanel", "caches"))


def open_page(browser, demo, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    tab = context.new_page()
    tab.set_default_timeout(20000)
    return context, tab


def axe_problems(tab, in_chrome):
    from axe_playwright_python.sync_playwright import Axe

    context = {"exclude": WHM_CHROME} if in_chrome else None
    results = Axe().run(tab, context=context,
                        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    return ["%s %s: %s at %s" % (v["impact"], v["id"], v["help"],
                                 [n["target"] for n in v["nodes"]][:5])
            for v in results.response["violations"] if v["impact"] in SERIOUS]


def each_page(tab, url):
    """Visit every page of the plugin; yields the name of each once it is shown."""
    tab.goto(url)
    yield "overview"
    tab.goto(url + "?page=sweep")
    yield "policy-preview"
    tab.goto(url + "?page=audit")
    yield "audit"
    tab.goto(url + "?page=settings")
    yield "settings"
    tab.goto(url + "?page=no-such-page")
    yield "not-found"
    tab.goto(url)
    tab.get_by_label("Select token tmp-debug of root").check()
    tab.get_by_role("button", name=re.compile(r"^Preview revocation")).click()
    tab.wait_for_selector("#ts-to-revoke")
    yield "preview"
    tab.get_by_role("button", name="Revoke 1 token").click()
    tab.wait_for_selector("#ts-outcomes")
    yield "result"


@pytest.mark.parametrize("in_chrome", [True, False], ids=["whm-chrome", "standalone"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "375px"])
def test_no_serious_axe_violation_on_any_page(browser, demo, in_chrome, size):
    if not in_chrome:
        standalone(demo)
    context, tab = open_page(browser, demo, size)
    try:
        problems = {}
        for name in each_page(tab, demo.url):
            assert (tab.locator("#whm-top").count() == 1) == in_chrome, name
            found = axe_problems(tab, in_chrome)
            if found:
                problems[name] = found
        assert problems == {}
    finally:
        context.close()


# The outermost elements that end right of the screen (what made the page scroll).
WIDER_THAN_THE_SCREEN = """() => {
  const width = document.documentElement.clientWidth, found = [];
  document.querySelectorAll("body *").forEach(el => {
    const right = el.getBoundingClientRect().right;
    if (right > width + 1 && !(el.parentElement && found.includes(el.parentElement)))
      found.push(el);
  });
  return found.slice(0, 5).map(el => el.tagName + "." + el.className + " " +
                                     Math.round(el.getBoundingClientRect().right));
}"""


@pytest.mark.parametrize("width", [320, 375])
def test_every_page_reflows_without_horizontal_scrolling(browser, demo, width):
    """WCAG 1.4.10: nothing wider than the screen but the token table, which scrolls inside
    its own wrapper (its hidden sort labels once made the page 975 px wide)."""
    standalone(demo)
    context, tab = open_page(browser, demo, (width, 800))
    try:
        too_wide = {}
        for name in each_page(tab, demo.url):
            scroll_width = tab.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                too_wide[name] = (scroll_width, tab.evaluate(WIDER_THAN_THE_SCREEN))
            if name == "overview":
                shot(tab, "a11y-overview-%dpx" % width)
        assert too_wide == {}
    finally:
        context.close()


def test_the_pages_own_title_inside_whms_chrome(page, demo):
    assert page.locator("#whm-top").count() == 1
    assert page.title() == "WHM - Tokens · API Token Sweeper"
    page.goto(demo.url + "?page=audit")
    assert page.title() == "WHM - Audit log · API Token Sweeper"


def test_the_first_tab_inside_whms_chrome_skips_to_the_plugin(page):
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to API Token Sweeper" and skip.is_visible()
    page.keyboard.press("Enter")
    assert page.url.endswith("#tokensweeper")
    page.keyboard.press("Tab")  # the next stop is the plugin's first tab, past WHM's menu
    assert page.evaluate("document.activeElement.closest('.ts-tabs') !== null")
    assert page.locator(":focus").inner_text() == "Tokens"


def test_the_selection_count_is_announced_politely(page):
    status = page.locator("#ts-selection-status")
    assert status.get_attribute("role") == "status"
    assert status.get_attribute("aria-live") == "polite"
    assert status.inner_text() == ""  # nothing said on arrival
    page.get_by_label("Select token tmp-debug of root").check()
    assert status.inner_text() == "1 token selected"
    page.get_by_label("Select token legacy-panel of resold22").check()
    assert status.inner_text() == "2 tokens selected"
    page.get_by_label("Select all shown tokens").check()
    count = page.locator("#ts-tokens tbody input[name='t']:checked").count()
    assert re.match(r"^%d tokens selected$" % count, status.inner_text())
