"""Breaking the streamed page (issue 14.4): a browser that leaves mid-stream, listings
that fail or hang mid-stream, POSTs, the page cache. Runs on every Python of the matrix."""

import io
import os
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from tests.helpers import NOW
from tests.test_web_cgi import CGI, TOKEN, Reply, Site
from tests.test_web_progress import RESELLERS, Writes, send


@pytest.fixture
def site(tmp_path, monkeypatch):
    """11 owners, more than one wave of parallel_owners: a first visit streams."""
    site = Site(tmp_path, monkeypatch)
    for name in RESELLERS:
        site.server.add_reseller(name)
        site.token(name, name + "-key", age=40)
    site.write("var/cpanel/resellers", "".join("%s:all\n" % n for n in ["boss"] + RESELLERS)
               + "helper:list-accts,create-acct\n")
    site.server.write_token_files(str(site.root))
    return site


def test_a_browser_that_leaves_mid_stream_leaves_no_traceback_and_a_good_cache(site):
    """cpsrvd closes the pipe when the admin clicks away during a slow listing: the CGI
    must end quietly (no traceback in cPanel's error_log), and the next visit is right."""
    site.server.add_fault("latency", function="api_token_list", seconds=1)
    env = dict(os.environ)
    env.update(site.env())
    child = subprocess.Popen([sys.executable, CGI], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        seen = b""
        while b"Listing the API tokens" not in seen:
            chunk = os.read(child.stdout.fileno(), 65536)
            assert chunk, child.stderr.read()
            seen += chunk
        child.stdout.close()  # the browser went away
        err = child.stderr.read().decode("utf-8", "replace")
    finally:
        child.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    site.server.clear_faults()
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert reply.status == 200 and "res7-key" in reply.text() and "old-ci" in reply.text()


def test_owners_whose_listing_fails_mid_stream_are_named_and_the_bar_completes(site,
                                                                              monkeypatch):
    from tokensweeper.web.tabs import common
    from tokensweeper.whmapi import Client

    monkeypatch.setattr(common, "client", lambda: Client(timeout=2))
    site.server.add_fault("garbage", function="api_token_list", owner="res2",
                          text="<html>cPanel is restarting</html>")
    site.server.add_fault("exit", function="api_token_list", owner="res5", status=255,
                          message="Killed")
    site.server.add_fault("hang", function="api_token_list", owner="res6", seconds=30)
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert reply.status == 200
    steps = [part for part in body if part.startswith(b"<progress ")]
    assert steps[-1] == b'<progress max="11" value="11"></progress>'
    text = reply.text()
    for owner in ("res2", "res5", "res6"):
        assert owner in text
    assert "res7-key" in text and "res2-key" not in text
    assert "no answer after 2 seconds" in text and "not JSON" in text


def test_a_config_error_on_a_slow_first_visit_streams_the_read_only_list(site):
    site.config.write_text("policy:\n  unused_for_days: many\n")
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert reply.status == 200
    assert b"Listing the API tokens of 11 owners" in body[0]
    text = reply.text()
    assert "unused_for_days" in text and "res7-key" in text
    assert 'name="action" value="preview"' not in text  # read-only: nothing to select


def test_a_post_that_shows_the_list_again_never_streams(site):
    from tokensweeper.web import app, security

    body = urlencode([("action", "preview"),
                      ("nonce", security.make_nonce("root", TOKEN))]).encode("ascii")
    env = site.env("POST", CONTENT_TYPE="application/x-www-form-urlencoded",
                   CONTENT_LENGTH=str(len(body)))
    out = Writes()
    assert app.main(env=env, stdin=io.BytesIO(body), stdout=out, now=NOW) == 0
    head, parts = out.parts()[0], out.parts()[1:]
    reply = Reply(head + b"".join(parts))
    assert reply.status == 400 and len(parts) == 1
    assert b"Listing the API tokens" not in parts[0] and b"Nothing was ticked" in parts[0]
    assert b"res7-key" in parts[0]
