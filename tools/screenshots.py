#!/usr/bin/env python3
"""Retake the screenshots (docs/overview.png, docs/preview.png; README and docs/page.md)
from `make demo`'s page.

    .venv/bin/python tools/screenshots.py

Starts tools/demo_server.py over a freshly seeded fake server in a temporary directory and
drives Debian's Chromium with Playwright, as the browser tests do, at 1280 px wide.
Development tool: the images are committed, nothing runs this in `make test`.
"""

import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SHOTS = (
    # (file, query, height): the top of each page, where what it is for shows.
    ("overview.png", "", 940),
    ("preview.png", "?page=sweep", 1000),
)


def main():
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tools", "demo_server.py"), "--setup",
             os.path.join(directory, "demo"), "--port", "0"],
            stdout=subprocess.PIPE, env=env, universal_newlines=True)
        try:
            url = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", server.stdout.readline()).group(1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                for name, query, height in SHOTS:
                    tab = browser.new_page(viewport={"width": 1280, "height": height})
                    tab.goto(url + query)
                    tab.wait_for_load_state("load")
                    path = os.path.join(REPO, "docs", name)
                    tab.screenshot(path=path)
                    print("wrote", os.path.relpath(path, REPO))
                browser.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
