"""The overview's page cache: a reload whose every value is unchanged is answered
with the bytes rendered before, without Jinja2; anything that would change a
byte of the page (a token, the clock, the session, the code) renders afresh."""

import io
import os
import re
import shutil

import pytest

from tests.helpers import DAY, NOW
from tests.test_web_cgi import TOKEN, Reply, Site
from tokensweeper.web import app, pagecache, render

HEADER = ('<html><head><title>Results of Your Request</title></head><body>'
          '<a href="/cpsess0000000000/scripts/command">WHM</a> cpuser00000000000\n')
FOOTER = '<footer><a href="/cpsess0000000000/logout">Log out</a></footer></body></html>\n'


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    site.server.write_token_files(str(site.root))
    return site


def no_rendering(monkeypatch):
    """From now on, rendering a template is an error the page would show as a 500."""
    def refuse():
        raise AssertionError("rendered a template")
    monkeypatch.setattr(render, "environment", refuse)


def fresh(site, tmp_path, monkeypatch, query="", now=NOW):
    """The same request rendered with an empty page cache (the same CSRF secret)."""
    other = tmp_path / "fresh-state"
    other.mkdir(mode=0o700, exist_ok=True)
    secret = site.state / "csrf.secret"
    (other / "csrf.secret").write_bytes(secret.read_bytes())
    (other / "csrf.secret").chmod(0o600)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(other))
    try:
        return get(site, query, now)
    finally:
        monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(site.state))
        shutil.rmtree(str(other))


def get(site, query="", now=NOW, token=TOKEN):
    out = io.BytesIO()
    env = site.env("GET", query)
    env["cp_security_token"] = token
    env["SCRIPT_NAME"] = token + "/cgi/tokensweeper/index.cgi"
    app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=now)
    return out.getvalue()


def with_chrome(site):
    site.write("var/cpanel/caches/_generated_header_files/cache_keys.json", '{"root": "k1"}')
    site.write("var/cpanel/caches/_generated_header_files/k1_0_0.html", HEADER)
    site.write("var/cpanel/caches/_generated_footer_files/footer.html", FOOTER)


def test_a_reload_of_an_unchanged_server_renders_nothing_and_is_byte_identical(
        site, tmp_path, monkeypatch):
    first = get(site, "sort=age&dir=desc")
    expected = fresh(site, tmp_path, monkeypatch, "sort=age&dir=desc")
    no_rendering(monkeypatch)
    again = get(site, "sort=age&dir=desc")
    assert Reply(again).status == 200
    assert again == first == expected


def test_another_filter_or_page_is_rendered_for_itself(site, monkeypatch):
    first = get(site)
    stale = get(site, "state=expired")
    assert stale != first and "old-ci" in Reply(stale).text() and "monitoring" not in Reply(
        stale).text()


def test_a_token_revoked_or_created_in_whm_shows_at_once(site, monkeypatch):
    assert "monitoring" in Reply(get(site)).text()
    site.server.remove_token("root", "monitoring")
    site.token("boss", "brand-new", age=1)
    site.server.write_token_files(str(site.root))
    text = Reply(get(site)).text()
    assert "monitoring" not in text and "brand-new" in text


def test_a_day_later_ages_and_states_move_on(site, tmp_path, monkeypatch):
    today = get(site)
    later = get(site, now=NOW + 6 * DAY)  # boss's billing token expired meanwhile
    assert later != today
    # Equal but for when the tokens were listed (issue 14.4): the server is unchanged, so
    # this page still shows the listing made today, the fresh one a listing made just now.
    assert without_listing_time(later) == without_listing_time(
        fresh(site, tmp_path, monkeypatch, now=NOW + 6 * DAY))
    assert b"Listed at 2026-11-27 12:00 UTC" in later


def without_listing_time(page):
    return re.sub(rb'<p class="ts-listed[^"]*">.*?</p>', b"", page, flags=re.S)


def test_a_minute_later_with_nothing_shown_changed_is_still_a_hit(site, monkeypatch):
    # The seeded times are whole days from NOW: an hour later, no age or state has moved.
    first = get(site, now=NOW + 3600)
    no_rendering(monkeypatch)
    assert get(site, now=NOW + 3660) == first


def test_another_session_gets_its_own_nonce_and_links(site, monkeypatch):
    with_chrome(site)
    first = get(site)
    other_token = "/cpsess9999999999"
    second = get(site, token=other_token)
    assert TOKEN.encode() in first and other_token.encode() not in first
    assert other_token.encode() in second and TOKEN.encode() not in second
    assert first.replace(TOKEN.encode(), other_token.encode()) != second  # the nonce differs too


def test_the_session_token_is_never_stored(site, monkeypatch):
    with_chrome(site)
    first = get(site)
    assert TOKEN.encode() in first
    directory = site.state / pagecache.DIRECTORY
    stored = [path.read_bytes() for path in directory.iterdir()]
    assert stored and not any(TOKEN.encode() in data for data in stored)
    assert not any(TOKEN.encode() in name.encode() for name in os.listdir(str(directory)))
    no_rendering(monkeypatch)
    assert get(site) == first


def test_a_page_others_could_have_written_is_not_served(site, monkeypatch):
    first = get(site)
    (path,) = (site.state / pagecache.DIRECTORY).iterdir()
    path.write_bytes(first.replace(b"old-ci", b"<script>x</script>"))
    path.chmod(0o666)
    assert get(site) == first


def test_other_code_renders_again(site, monkeypatch):
    first = get(site)
    renders = []
    real = render.environment
    monkeypatch.setattr(render, "environment", lambda: renders.append(1) or real())
    monkeypatch.setattr(pagecache, "_IDENTITY", ["another version of the code"])
    assert get(site) == first and renders == [1]  # the old page was not reused


def test_code_identity_follows_the_templates(site, tmp_path, monkeypatch):
    package = tmp_path / "package"
    (package / "web" / "templates").mkdir(parents=True)
    template = package / "web" / "templates" / "overview.html"
    template.write_text("one")
    monkeypatch.setattr(pagecache, "PACKAGE", str(package))
    monkeypatch.setattr(pagecache, "_IDENTITY", [])
    before = pagecache.code_identity()
    template.write_text("two, longer")
    monkeypatch.setattr(pagecache, "_IDENTITY", [])
    assert pagecache.code_identity() != before


def test_only_the_newest_pages_are_kept(site):
    for number in range(pagecache.KEEP + 5):
        get(site, "q=%d" % number)
    assert len(os.listdir(str(site.state / pagecache.DIRECTORY))) == pagecache.KEEP


def test_values_that_cannot_be_described_exactly_are_not_remembered():
    class Foreign(object):
        pass
    assert pagecache.key("t.html", {"x": Foreign()}, "") is None
    assert pagecache.key("t.html", {"x": [1, "a", None]}, "") is not None
    loop = []
    loop.append(loop)
    assert pagecache.key("t.html", {"x": loop}, "") is None


def test_keys_tell_apart_what_renders_differently():
    from markupsafe import Markup

    key = pagecache.key
    assert key("t", {"x": 1}, "") != key("t", {"x": "1"}, "") != key("t", {"x": True}, "")
    assert key("t", {"x": "<b>"}, "") != key("t", {"x": Markup("<b>")}, "")
    assert key("t", {"a": 1, "b": 2}, "") != key("t", {"b": 2, "a": 1}, "")  # loop order
    assert key("t", {"x": [1, 2]}, "") != key("t", {"x": (1, 2)}, "")
    assert key("t", {"x": 1}, "") != key("u", {"x": 1}, "")
