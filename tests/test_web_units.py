"""Pieces of the WHM page on their own: the overview's states, sorting and chart,
the resellers file, request parsing. Runs on every Python of the matrix."""

import io
import os

import pytest

from tests.helpers import DAY, NOW
from tokensweeper import policy
from tokensweeper.policy import KEEP, PROTECTED, REVOKE, Plan, PlanItem, Protection, Selectors
from tokensweeper.tokens import Token
from tokensweeper.usage import UsageFacts
from tokensweeper.web import request, security, views


def token(name, owner="root", age=10, expires=None):
    return Token(owner, name, NOW - age * DAY, None if expires is None else NOW + expires * DAY)


def state_of(tok, decision=KEEP, reason=""):
    return policy.state_of(PlanItem(tok, decision, reason), Protection(), NOW)


def test_states_follow_the_plan_and_the_token():
    assert state_of(token("a"))[0] == "active"
    assert state_of(token("a", expires=30))[0] == "active"
    assert state_of(token("a", expires=3)) == ("expiring", "expires in 3 days")
    assert state_of(token("a", expires=-1))[0] == "expired"
    stale = state_of(token("a", age=900), REVOKE, "created long ago")
    assert stale == ("stale", "created long ago")
    # Protection wins over everything, even when the plan did not select the token.
    assert state_of(token("WP-Dashboard", expires=-1))[0] == "protected"
    assert state_of(token("x"), PROTECTED, "protected: matches 'x'")[0] == "protected"


def rows(*tokens):
    plan = Plan([PlanItem(t, KEEP, "") for t in tokens], Selectors(), NOW)
    return views.rows_from_plan(plan, UsageFacts.empty(), Protection(), NOW)


def test_never_expiring_tokens_sort_last_both_ways():
    shown = rows(token("never"), token("soon", expires=2), token("later", expires=40))
    ascending = [r.name for r in views.sort_rows(shown, "expires")]
    descending = [r.name for r in views.sort_rows(shown, "expires", descending=True)]
    assert ascending == ["soon", "later", "never"]
    assert descending == ["later", "soon", "never"]


def test_age_sorts_youngest_first_ascending():
    shown = rows(token("old", age=400), token("new", age=1), token("mid", age=50))
    assert [r.name for r in views.sort_rows(shown, "age")] == ["new", "mid", "old"]
    assert [r.name for r in views.sort_rows(shown, "age", True)] == ["old", "mid", "new"]


def test_filters_combine():
    shown = rows(token("ci-a"), token("ci-b", owner="bob"), token("web", owner="bob"))
    assert [r.name for r in views.filter_rows(shown, owner="bob", text="CI")] == ["ci-b"]
    assert [r.name for r in views.filter_rows(shown, state="expired")] == []


def test_age_chart_counts_every_token_once():
    shown = rows(token("a", age=1), token("b", age=45), token("c", age=45), token("d", age=800),
                 token("e", age=800, expires=-3))
    bars = views.age_chart(shown)
    assert [(b.label, b.total, b.stale) for b in bars if b.total] == [
        ("under 30 days", 1, 0), ("30–90 days", 2, 0), ("over 2 years", 2, 1)]
    assert max(b.width for b in bars) == 360 and sum(b.total for b in bars) == 5


def test_resellers_file_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path))
    (tmp_path / "var" / "cpanel").mkdir(parents=True)
    (tmp_path / "var" / "cpanel" / "resellers").write_text(
        "# comment\n\n  spaced : list-accts , all \nnarrow:list-accts\nallish:all-ish\n")
    assert security.check_access({"REMOTE_USER": "spaced"}).allowed
    assert not security.check_access({"REMOTE_USER": "narrow"}).allowed
    assert not security.check_access({"REMOTE_USER": "allish"}).allowed
    assert not security.check_access({"REMOTE_USER": ""}).allowed


def test_no_resellers_file_means_root_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path))
    assert security.check_access({"REMOTE_USER": "root"}).allowed
    assert not security.check_access({"REMOTE_USER": "bob"}).allowed


def test_nonce_depends_on_secret_user_and_session():
    base = security.make_nonce("root", "/cpsess0000000001", b"k" * 32)
    assert base != security.make_nonce("root", "/cpsess0000000001", b"j" * 32)
    assert base != security.make_nonce("bob", "/cpsess0000000001", b"k" * 32)
    assert base != security.make_nonce("root", "/cpsess0000000002", b"k" * 32)
    assert security.check_nonce("root", "/cpsess0000000001", base, b"k" * 32)
    assert not security.check_nonce("root", "", base, b"k" * 32)
    assert not security.check_nonce("root", "/cpsess0000000001", base + "0", b"k" * 32)


def test_form_fields_keep_repeats_and_blanks():
    fields = request.parse_fields("t=a&t=b&empty=&x=%E2%9C%93")
    assert fields == {"t": ["a", "b"], "empty": [""], "x": ["\u2713"]}


@pytest.mark.parametrize("text", ["a=%ff", "a=%00", "%00=1", "a=\udcff"])
def test_bad_encoding_or_nul_is_400(text):
    with pytest.raises(request.HttpError) as raised:
        request.parse_fields(text)
    assert raised.value.status == 400


def test_too_many_fields_is_400():
    with pytest.raises(request.HttpError):
        request.parse_fields("&".join(["t=x"] * (request.MAX_FIELDS + 1)))


def test_body_is_read_to_the_declared_length_only():
    env = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3",
           "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=UTF-8"}
    parsed = request.parse_request(env, io.BytesIO(b"a=1&b=2"))
    assert parsed.form == {"a": ["1"]}


def test_compiled_templates_are_never_loaded_from_a_directory_others_can_write(tmp_path,
                                                                               monkeypatch):
    from tokensweeper.web import render
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    assert render._bytecode_cache() is not None
    state.chmod(0o777)
    assert render._bytecode_cache() is None


def test_a_compiled_template_someone_else_planted_is_never_run(tmp_path, monkeypatch):
    """Compiled templates are code run as root: one that is not root's alone (here a file
    owned by nobody in the cache) is compiled again from its source, never loaded."""
    import jinja2
    from jinja2.bccache import Bucket

    from tokensweeper.web import render
    state = tmp_path / "state"
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    cache = render._bytecode_cache()

    def environment():
        return jinja2.Environment(loader=jinja2.DictLoader({"page.html": "genuine"}),
                                  autoescape=True, bytecode_cache=cache)

    assert environment().get_template("page.html").render() == "genuine"
    (planted,) = list((state / "template-cache").iterdir())
    # The same key and source checksum, but other code: what an attacker would write.
    env = environment()
    source = env.loader.get_source(env, "page.html")[0]
    bucket = Bucket(env, cache.get_cache_key("page.html"), cache.get_source_checksum(source))
    bucket.code = env.compile("PWNED", "page.html")
    with open(str(planted), "wb") as handle:
        bucket.write_bytecode(handle)
    assert environment().get_template("page.html").render() == "PWNED"  # root's file: used
    with open(str(planted), "wb") as handle:
        bucket.write_bytecode(handle)
    os.chown(str(planted), 65534, 65534)
    assert environment().get_template("page.html").render() == "genuine"
