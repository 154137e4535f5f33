"""Issue 30, the page on a phone and from the keyboard: at 375 px no table column is
narrower than its longest word and nothing but a table scrolls sideways, inside WHM's
frame (whose sidebar collapses behind a Menu button, as WHM's does) and outside it (30.1);
the mode is said on every tab that previews or schedules (30.4); a disabled button looks
disabled, the selection's action bar comes before the rows in Tab order and stays in view,
the skip link lands on the plugin's tabs, and the heading and footer are in a landmark
(30.9). Screenshots go to test-artifacts/browser/ (names starting with "30").
"""

import re

import pytest

from tests.browser.conftest import shot
from tests.browser.test_accessibility import WHM_CHROME, standalone

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 800}

# Every table cell's unbreakable runs of text (split at spaces and after hyphens, where a
# browser may break a line) measured in the cell's own font, against the cell's width:
# the runs wider than their cell, i.e. a word the column squeezed ("root" as r/o/o/t).
SQUEEZED_WORDS = r"""() => {
  const probe = document.createElement("span");
  probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap;left:0;top:0";
  document.body.appendChild(probe);
  const squeezed = [];
  for (const cell of document.querySelectorAll(".ts-table th, .ts-table td")) {
    if (!cell.offsetParent) continue;
    const style = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const parent = node.parentElement;
      if (!parent.offsetParent || parent.closest(".ts-visually-hidden")) continue;
      probe.style.font = getComputedStyle(parent).font;
      for (const word of node.textContent.split(/\s+|(?<=-)/)) {
        if (!word) continue;
        probe.textContent = word;
        const width = probe.getBoundingClientRect().width;
        if (width > room + 1)
          squeezed.push(word + " " + Math.round(width) + ">" + Math.round(room));
      }
    }
  }
  probe.remove();
  return squeezed;
}"""


def open_at(browser, demo, viewport, javascript=True):
    context = browser.new_context(viewport=viewport, java_script_enabled=javascript)
    tab = context.new_page()
    tab.set_default_timeout(20000)
    tab.goto(demo.url)
    return context, tab


def every_page(tab, url):
    """Every page with a table, the preview and the result of one revocation included."""
    yield "overview"
    tab.goto(url + "?page=sweep")
    yield "policy-preview"
    tab.goto(url + "?page=incident&used_from=203.0.113.0%2F24")
    yield "incident"
    tab.goto(url + "?page=settings")
    yield "settings"
    tab.goto(url)
    tab.get_by_label("Select token tmp-debug of root").check()
    tab.get_by_role("button", name=re.compile(r"^Preview revocation")).first.click()
    tab.wait_for_selector("#ts-to-revoke")
    yield "preview"
    tab.get_by_role("button", name="Revoke 1 token").click()
    tab.wait_for_selector("#ts-outcomes")
    yield "result"
    tab.goto(url + "?page=audit")
    tab.locator(".ts-run summary").first.click()
    yield "audit"


@pytest.mark.parametrize("in_chrome", [True, False], ids=["whm-chrome", "standalone"])
def test_at_375px_no_column_is_narrower_than_its_longest_word(browser, demo, in_chrome):
    if not in_chrome:
        standalone(demo)
    context, tab = open_at(browser, demo, PHONE)
    try:
        problems, tables = {}, 0
        for name in every_page(tab, demo.url):
            tables += tab.locator(".ts-table").count()
            page_width = tab.evaluate("document.documentElement.scrollWidth")
            squeezed = tab.evaluate(SQUEEZED_WORDS)
            if page_width > PHONE["width"] or squeezed:
                problems[name] = (page_width, squeezed[:6])
            if name in ("overview", "policy-preview"):
                shot(tab, "30-%s-375px-%s" % (name, "whm" if in_chrome else "standalone"))
        assert tables >= 8  # the measure saw the tables it is about
        assert problems == {}
        # The token list is wider than the phone: it scrolls inside its own wrapper.
        tab.goto(demo.url)
        wrap = tab.locator("#ts-tokens").locator("xpath=..")
        assert wrap.evaluate("w => getComputedStyle(w).overflowX") == "auto"
        assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    finally:
        context.close()


def test_the_demo_whm_frame_collapses_its_sidebar_like_whm(browser, demo):
    context, tab = open_at(browser, demo, PHONE)
    try:
        viewport = tab.locator("meta[name=viewport]")
        assert viewport.count() == 1 and "width=device-width" in viewport.get_attribute("content")
        menu = tab.locator("#whm-nav")
        assert not menu.is_visible()  # collapsed: the plugin has the whole width
        assert tab.locator("#tokensweeper").bounding_box()["x"] < 20
        tab.get_by_text("Menu", exact=True).click()
        assert menu.is_visible() and menu.get_by_text("API Token Sweeper").is_visible()
        tab.set_viewport_size({"width": 1280, "height": 800})
        assert menu.is_visible() and not tab.get_by_text("Menu", exact=True).is_visible()
    finally:
        context.close()


PREVIEW_BANNER = "Preview mode: the nightly sweep only records what it would do"


def test_preview_mode_is_said_on_every_tab_that_previews_or_schedules(page, demo):
    for query in ("", "?page=sweep", "?page=settings"):
        page.goto(demo.url + query)
        assert PREVIEW_BANNER in page.locator("#ts-mode").inner_text(), query
    page.goto(demo.url + "?page=sweep")
    shot(page, "30-policy-preview-mode")
    config = demo.directory / "config.yaml"
    config.write_text(config.read_text().replace("mode: preview", "mode: enforce"))
    page.goto(demo.url + "?page=sweep")
    assert page.locator("#ts-mode").inner_text().startswith(
        "Enforce mode: the nightly sweep revokes the tokens the policy selects")
    assert PREVIEW_BANNER not in page.content()


def background(locator):
    return locator.evaluate("b => getComputedStyle(b).backgroundColor")


def test_a_disabled_preview_button_looks_disabled(page):
    button = page.locator(".ts-toolbar-buttons button.ts-btn-primary")
    assert button.is_disabled()  # nothing ticked yet
    disabled_look = (background(button), button.evaluate("b => getComputedStyle(b).cursor"))
    page.get_by_label("Select token tmp-debug of root").check()
    assert button.is_enabled()
    assert background(button) == "rgb(15, 115, 180)"  # cPanel blue, ready
    assert disabled_look[0] != background(button) and disabled_look[1] == "not-allowed"


def test_the_action_bar_comes_before_the_rows_and_stays_in_view(page):
    page.get_by_label("Select token tmp-debug of root").check()
    bar = page.locator("#ts-selbar")
    assert bar.is_visible()
    # From the toolbar, Tab reaches the bar's buttons before any row's checkbox.
    page.locator(".ts-toolbar-buttons a", has_text="Preview policy sweep").focus()
    reached = []
    while len(reached) < 30 and not (reached and reached[-1].startswith("Select token ")):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent.trim() || "
                                     "document.activeElement.getAttribute('aria-label')"))
    assert reached[-1].startswith("Select token "), reached  # the first row's box
    assert reached.index("Preview selected") + 1 == reached.index("Clear selection"), reached
    # Scrolled to the last row, the bar is still on the screen.
    page.locator("#ts-tokens tbody tr").last.scroll_into_view_if_needed()
    box, height = bar.bounding_box(), page.viewport_size["height"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= height
    page.get_by_role("button", name="Preview selected").click()
    page.wait_for_selector("#ts-to-revoke")
    assert page.locator("#ts-to-revoke tbody tr").count() == 1


@pytest.mark.parametrize("in_chrome", [True, False], ids=["whm-chrome", "standalone"])
def test_the_heading_and_footer_are_inside_a_landmark(browser, demo, in_chrome):
    from axe_playwright_python.sync_playwright import Axe

    if not in_chrome:
        standalone(demo)
    context, tab = open_at(browser, demo, {"width": 1280, "height": 800})
    try:
        results = Axe().run(tab, context={"exclude": WHM_CHROME} if in_chrome else None,
                            options={"runOnly": {"type": "rule", "values": ["region"]}})
        assert [v["nodes"] for v in results.response["violations"]] == []
        assert tab.locator("main h1").inner_text().startswith("API Token Sweeper")
        assert "reads and revokes tokens through whmapi1 only" in tab.locator(
            "main footer").inner_text()
        # The skip link lands on the plugin: the next Tab is its first tab.
        tab.keyboard.press("Tab")
        assert tab.locator(":focus").inner_text().startswith("Skip to API Token Sweeper")
        tab.keyboard.press("Enter")
        tab.keyboard.press("Tab")
        assert tab.locator(":focus").inner_text() == "Tokens"
    finally:
        context.close()
