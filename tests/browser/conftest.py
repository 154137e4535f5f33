"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium, never
a downloaded browser) against tools/demo_server.py serving the real index.cgi
over a freshly seeded fake server. Screenshots go to test-artifacts/browser/.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO

CHROMIUM = os.environ.get("TOKENSWEEPER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = os.path.join(REPO, "test-artifacts", "browser")
DEMO_SERVER = os.path.join(REPO, "tools", "demo_server.py")


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium at {}".format(CHROMIUM))
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Demo(object):
    def __init__(self, process, url, directory):
        self.process = process
        self.url = url
        self.directory = directory


@pytest.fixture
def demo(tmp_path):
    """The demo server on a free port, over a fake server seeded for this test only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
    process = subprocess.Popen(
        [sys.executable, DEMO_SERVER, "--setup", str(tmp_path / "demo"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True)
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
    if not match:
        process.kill()
        raise AssertionError("demo server did not start: {!r} {}".format(
            line, process.stderr.read()))
    yield Demo(process, match.group(1), tmp_path / "demo")
    process.terminate()
    process.wait(timeout=10)


def _open(browser, demo, javascript):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True,
                                  java_script_enabled=javascript)
    tab = context.new_page()
    tab.set_default_timeout(20000)
    tab.goto(demo.url)
    return context, tab


@pytest.fixture
def page(browser, demo):
    context, tab = _open(browser, demo, javascript=True)
    yield tab
    context.close()


@pytest.fixture
def page_without_js(browser, demo):
    context, tab = _open(browser, demo, javascript=False)
    yield tab
    context.close()


def shot(page, name):
    """Keep a full-page screenshot as a test artifact."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name + ".png")
    page.screenshot(path=path, full_page=True)
    return path
