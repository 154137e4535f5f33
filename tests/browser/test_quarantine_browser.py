"""Issue 28: a quarantined token on the overview, filtered by its state, and restored with
its Restore button (a POST with the page's nonce, bound to the token as listed)."""

import os
import re
import subprocess
import sys

import pytest

from tests.browser.conftest import shot
from tests.fakes.fakeserver import FakeServer
from tests.helpers import BIN

pytestmark = pytest.mark.browser


def quarantine_by_cli(demo, owner, name):
    directory = str(demo.directory)
    server = FakeServer(os.path.join(directory, "fake"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
    env.update(server.full_env(), TOKENSWEEPER_STATE_DIR=os.path.join(directory, "state"),
               TOKENSWEEPER_CONFIG=os.path.join(directory, "config.yaml"),
               TOKENSWEEPER_CPANEL_ROOT=os.path.join(directory, "cpanel-root"))
    run = subprocess.run([sys.executable, BIN, "quarantine", "--owner", owner, "--name", name,
                          "--created-before", "1m", "--yes"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.returncode == 0, run
    server.write_token_files(os.path.join(directory, "cpanel-root"))
    return server


def test_restore_a_quarantined_token_from_the_overview(page, demo):
    server = quarantine_by_cli(demo, "root", "tmp-debug")
    before = server.tokens("root")["tmp-debug"]
    assert before["whitelist_ips"] == ["192.0.2.1"]
    page.reload()
    page.get_by_label("State").select_option("quarantined")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile("state=quarantined"))
    shot(page, "28-quarantined")
    rows = page.locator("#ts-tokens tbody tr")
    assert rows.count() == 1 and "tmp-debug" in rows.first.inner_text()
    assert "Quarantined" in rows.first.inner_text()
    page.get_by_role("button", name="Restore token tmp-debug of root: put its own IP list "
                     "back").click()
    page.wait_for_url(re.compile(r"[?&]page=audit&run="))
    shot(page, "28-restored")
    assert "restored" in page.locator("main").inner_text()
    assert server.tokens("root")["tmp-debug"].get("whitelist_ips") is None
