"""Issue 14.4: a page that must wait for whmapi1 shows its top and a progress bar at once.

cpsrvd streams a CGI's body as it is written (docs/performance.md), so when the page must
ask whmapi1 about more owners than one wave of parallel_owners, it writes the page's top
with a "Listing..." status first, one progress bar per owner listed, then the rest. Runs on
every Python of the matrix.
"""

import io
import os
import re
import subprocess
import sys
import threading

import pytest

from tests.helpers import NOW
from tests.test_web_cgi import CGI, Reply, Site
from tokensweeper.web import app, render

RESELLERS = ["res%d" % number for number in range(8)]  # root + boss + helper + 8 = 11 owners


class Writes(io.RawIOBase):
    """A stdout that keeps each flushed write apart, as cpsrvd's reads see them."""

    def __init__(self):
        self.chunks = [b""]

    def writable(self):
        return True

    def write(self, data):
        self.chunks[-1] += bytes(data)
        return len(data)

    def flush(self):
        if self.chunks[-1]:
            self.chunks.append(b"")

    def parts(self):
        return [chunk for chunk in self.chunks if chunk]


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    for name in RESELLERS:
        site.server.add_reseller(name)
        site.token(name, name + "-key", age=40)
    site.write("var/cpanel/resellers", "".join("%s:all\n" % n for n in ["boss"] + RESELLERS)
               + "helper:list-accts,create-acct\n")
    site.server.write_token_files(str(site.root))
    return site


def send(site, query="", method="GET"):
    out = Writes()
    assert app.main(env=site.env(method, query), stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
    parts = out.parts()
    return parts[0], parts[1:]


def test_a_first_visit_shows_the_page_top_and_a_status_before_any_token(site):
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert reply.status == 200
    first = body[0].decode("utf-8")
    assert "Listing the API tokens of 11 owners through whmapi1" in first
    assert 'role="status"' in first and 'aria-current="page"' in first  # the tabs are there
    assert "res0-key" not in first and "old-ci" not in first  # nothing listed yet
    # One write per owner listed: the bar advances, and the first part leaves cpsrvd with it.
    steps = [part for part in body if part.startswith(b"<progress ")]
    assert len(steps) == 11 and steps[-1] == b'<progress max="11" value="11"></progress>'
    assert "Listed 11 owners in" in reply.text()
    assert "res7-key" in reply.text() and "old-ci" in reply.text()


def test_the_listing_starts_before_the_page_top_is_rendered(site, monkeypatch):
    """Rendering the top (and, on a real first visit, importing Jinja2 for it) overlaps the
    first whmapi1 calls instead of delaying every one of them."""
    before = threading.active_count()
    listing_running = []
    environment = render.environment

    def noting_environment():
        listing_running.append(threading.active_count() > before)
        return environment()

    monkeypatch.setattr(render, "environment", noting_environment)
    _, body = send(site)
    assert b"Listing the API tokens of 11 owners" in body[0]
    assert listing_running and listing_running[0] is True


def test_the_streamed_page_has_the_same_content_as_a_page_answered_at_once(site):
    _, streamed = send(site)
    head, again = send(site)  # every owner's token file unchanged: no whmapi1 call, one write
    assert len(again) == 1 and b"Listing the API tokens" not in again[0]
    whole = b"".join(streamed)
    status_end = whole.index(b"</div>\n", whole.index(b"ts-listing-done")) + len(b"</div>\n")
    start = again[0].index(render.CONTENT_START) + len(render.CONTENT_START)
    assert whole[status_end:] == again[0][start:]
    assert whole[:whole.index(b'<div class="ts-listing"')] == again[0][:start]


def test_one_wave_of_owners_is_answered_in_one_piece(site):
    site.config.write_text("parallel_owners: 11\n")
    head, body = send(site)
    assert len(body) == 1 and b"Listing the API tokens" not in body[0]
    assert b"res7-key" in body[0]


def test_the_policy_preview_streams_too_and_a_refresh_lists_every_owner_again(site):
    site.config.write_text("policy:\n  expired: true\n")
    send(site, "page=sweep")
    site.server.reset_calls()
    _, body = send(site, "page=sweep&refresh=1")
    assert b"Listing the API tokens of 11 owners" in body[0]
    assert len(site.server.calls("api_token_list")) == 11
    assert b"old-ci" in b"".join(body)


def test_a_head_request_lists_nothing(site):
    head, body = send(site, method="HEAD")
    assert Reply(head).status == 200 and body == []
    assert site.server.calls("api_token_list") == []


def test_an_error_after_the_first_byte_is_shown_inside_the_page(site, monkeypatch, capsys):
    from tokensweeper.web import views

    def broken(*args, **kwargs):
        raise RuntimeError("rows went wrong")

    monkeypatch.setattr(views, "rows_from_plan", broken)
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert reply.status == 200  # decided before the first byte
    assert "Token Sweeper hit an unexpected error" in reply.text()
    assert reply.body.count("<html") <= 1 and reply.body.count("</html>") <= 1
    assert "rows went wrong" in capsys.readouterr().err  # the details go to cpsrvd's error_log


def test_the_cgi_process_writes_the_status_while_whmapi1_still_works(site):
    """Through plugin/index.cgi as cpsrvd runs it: the status arrives before the process ends,
    while the slow fake whmapi1 (a second per call) is still listing."""
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
        assert child.poll() is None  # 11 owners, 4 at a time, a second each: still listing
        rest = child.stdout.read()
    finally:
        child.wait()
    assert b"res7-key" in rest and re.search(br"Listed 11 owners in \d", rest)


@pytest.mark.timeout(60)  # before the fix, the page waited forever for the dead thread
def test_a_listing_that_exits_instead_of_raising_still_ends_the_page(site, monkeypatch, capsys):
    from tokensweeper.web import views

    def leaves(*args, **kwargs):
        raise SystemExit(3)  # not an Exception: a thread would die silently on it

    monkeypatch.setattr(views, "rows_from_plan", leaves)
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert "Token Sweeper hit an unexpected error" in reply.text()
    assert "the listing stopped: SystemExit(3)" in capsys.readouterr().err
