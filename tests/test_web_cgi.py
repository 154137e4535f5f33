"""The WHM page at the CGI boundary: environment + stdin in, status + headers + body out.

Each test runs the real front controller (tokensweeper.web.app.main) against the
fake whmapi1, with a fixed clock. One test at the end runs plugin/index.cgi as a
separate process, as cpsrvd does. Runs on every Python of the matrix.
"""

import errno
import io
import json
import os
import re
import stat
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from tests.fakes.fakeserver import FakeServer
from tests.helpers import DAY, NOW, REPO
from tokensweeper import paths
from tokensweeper.owners import valid_owner
from tokensweeper.web import app, request, security
from tokensweeper.whmapi import Client, WhmapiError

TOKEN = "/cpsess0123456789"
CGI = os.path.join(REPO, "plugin", "index.cgi")

# cPanel's DNS cluster trust token: reverse_trust_ + a lowercase v4 UUID, ACL clustering.
TRUST_NAME = "reverse_trust_9f8e7d6c-5b4a-4c3d-b2e1-f0a9b8c7d6e5"
CLUSTERING = {"clustering": 1}


class Reply(object):
    def __init__(self, raw):
        head, _, body = raw.partition(b"\r\n\r\n")
        self.headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.status = int(self.headers["status"].split()[0])
        self.body = body.decode("utf-8")

    def text(self):
        """The body without tags, whitespace collapsed: what a reader sees."""
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.body))


class Site(object):
    """A fake cPanel server plus a way to send requests to the page."""

    def __init__(self, tmp_path, monkeypatch):
        self.server = FakeServer(str(tmp_path / "fake"), now=NOW)
        self.server.apply_env(monkeypatch)
        self.root = tmp_path / "cpanel"
        self.state = tmp_path / "state"
        self.config = tmp_path / "config.yaml"
        monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(self.root))
        monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(self.state))
        monkeypatch.setenv("TOKENSWEEPER_CONFIG", str(self.config))
        self.write("var/cpanel/resellers", "# resellers\nboss:all\nhelper:list-accts,create-acct\n")
        for name in ("boss", "helper"):
            self.server.add_reseller(name)
        self.token("root", "old-ci", age=400, expires=-30)
        self.token("root", "monitoring", age=20)
        self.token("root", TRUST_NAME, age=900, expires=-5, acls=CLUSTERING)
        self.token("boss", "billing", age=50, expires=5)
        self.token("helper", "deploy", age=30)

    def write(self, relative, text):
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def token(self, owner, name, age=10, expires=None, acls=None):
        return self.server.add_token(owner, name, NOW - age * DAY,
                                     expires_at=None if expires is None else NOW + expires * DAY,
                                     acls=acls)

    def env(self, method="GET", query="", user="root", **extra):
        env = {
            "REQUEST_METHOD": method, "QUERY_STRING": query, "REMOTE_USER": user,
            "cp_security_token": TOKEN,
            "SCRIPT_NAME": TOKEN + "/cgi/tokensweeper/index.cgi",
            "HTTP_HOST": "server.example.com:2087", "REMOTE_ADDR": "192.0.2.10",
            "HTTP_COOKIE": "whostmgrsession=secret-cookie-value",
        }
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def get(self, query="", now=NOW, **extra):
        return self.send(self.env("GET", query, **extra), b"", now)

    def post(self, fields, nonce=True, follow=False, **extra):
        """POST a form; follow=True: then GET the page a 303 points to, as a browser does."""
        pairs = list(fields)
        if nonce is True:
            pairs.append(("nonce", self.nonce(extra.get("user", "root"))))
        elif nonce:
            pairs.append(("nonce", nonce))
        body = urlencode(pairs).encode("ascii")
        env = self.env("POST", extra.pop("query", ""), **extra)
        env.setdefault("CONTENT_TYPE", "application/x-www-form-urlencoded")
        env.setdefault("CONTENT_LENGTH", str(len(body)))
        reply = self.send(env, body)
        if follow and reply.status == 303:
            return self.follow(reply, user=extra.get("user", "root"))
        return reply

    def follow(self, reply, user="root"):
        location = reply.headers["location"]
        assert location.startswith("index.cgi?"), location  # relative: keeps /cpsess…
        return self.get(location.partition("?")[2], user=user)

    def send(self, env, body, now=NOW):
        out = io.BytesIO()
        assert app.main(env=env, stdin=io.BytesIO(body), stdout=out, now=now) == 0
        return Reply(out.getvalue())

    def nonce(self, user="root", token=TOKEN):
        return security.make_nonce(user, token)

    def revokes(self):
        return self.server.calls("api_token_revoke")


@pytest.fixture
def site(tmp_path, monkeypatch):
    return Site(tmp_path, monkeypatch)


def selection(*keys):
    return [("action", "preview")] + [("t", key) for key in keys]


def identity_of(key):
    """What the preview's confirmation form sends for a listed token (Token.identity), read
    through the fake whmapi1 without logging the call; the key itself when not listed."""
    owner, _, name = key.partition(":")
    log = os.environ.pop("TOKENSWEEPER_FAKE_LOG", None)
    try:
        listed = {t.name: t for t in Client().list_tokens(owner)} if valid_owner(owner) else {}
    except WhmapiError:
        listed = {}
    finally:
        if log is not None:
            os.environ["TOKENSWEEPER_FAKE_LOG"] = log
    return listed[name].identity() if name in listed else key


def revoke_form(*keys, **fields):
    """The preview's confirmation form for these OWNER:NAME keys, as the preview writes it."""
    form = [("action", "revoke"), ("mode", fields.pop("mode", "selection"))]
    form += [("t", identity_of(key)) for key in keys]
    form += sorted(fields.items())
    return form


# -- every response -------------------------------------------------------------------------------


def test_overview_lists_every_owners_tokens_with_states(site):
    reply = site.get()
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["cache-control"] == "no-store"
    text = reply.text()
    for owner, name in (("root", "old-ci"), ("root", "monitoring"), ("boss", "billing"),
                        ("helper", "deploy")):
        assert 'aria-label="Select token {} of {}"'.format(name, owner) in reply.body
    assert "Expired" in text and "Expiring soon" in text and "Active" in text
    # The protected trust token has no checkbox: it can never be selected.
    assert "Select token %s of root" % TRUST_NAME not in reply.body
    assert "Token %s of root is protected and cannot be selected" % TRUST_NAME in text
    # Summary counts: 5 in all, 1 expired (old-ci), 1 protected, 1 expiring, 2 active.
    counts = {label: int(n) for n, label in re.findall(
        r'ts-count-n">(\d+)</span> <span class="ts-count-label">(?:<svg.*?</svg> )?([A-Za-z ]+)<',
        reply.body)}
    assert counts == {"All tokens": 5, "Stale by policy": 0, "Expired": 1, "Expiring soon": 1,
                      "Active": 2, "Protected": 1}


def test_links_and_forms_are_relative_so_the_session_token_is_kept(site):
    body = site.get().body
    targets = re.findall(r'(?:href|src|action)="([^"]*)"', body)
    assert targets
    assert all(t.startswith(("index.cgi", "#")) for t in targets), targets


def test_age_chart_is_inline_svg_with_text_labels(site):
    body = site.get().body
    chart = body[body.index("<svg role=\"img\""):]
    chart = chart[:chart.index("</svg>")]
    assert "<title" in chart and "under 30 days" in chart and "1–2 years" in chart


def test_filter_by_state_owner_and_name(site):
    assert _names(site.get("state=expired")) == ["old-ci"]
    assert _names(site.get("owner=boss")) == ["billing"]
    assert _names(site.get("q=DEP")) == ["deploy"]
    assert _names(site.get("owner=root&q=zzz")) == []


def test_sort_by_any_column_both_ways(site):
    assert _names(site.get("sort=name")) == ["billing", "deploy", "monitoring", "old-ci"]
    assert _names(site.get("sort=name&dir=desc")) == ["old-ci", "monitoring", "deploy", "billing"]
    assert _names(site.get("sort=age")) == ["monitoring", "deploy", "billing", "old-ci"]
    assert _names(site.get("sort=expires")) == ["old-ci", "billing", "deploy", "monitoring"]
    assert _names(site.get("sort=owner"))[0] == "billing"


def _names(reply):
    assert reply.status == 200
    return re.findall(r'aria-label="Select token ([^"]+) of [^"]+"', reply.body)


@pytest.mark.parametrize("query", ["sort=secret", "state=bogus", "dir=up", "p=0", "p=x",
                                   "q=%ff", "page=audit&format=xml", "p=%C2%B2",
                                   "p=" + "9" * 5000, "page=audit&p=" + "9" * 5000])
def test_malformed_parameters_get_a_400_page(site, query):
    reply = site.get(query)
    assert reply.status == 400
    assert "Bad request" in reply.text()


def test_raw_non_utf8_bytes_in_the_query_string_get_a_400_page(site):
    # os.environ hands undecodable bytes to Python as lone surrogates.
    raw = os.fsdecode(b"q=\xff&owner=\xfe")
    reply = site.get(raw)
    assert reply.status == 400
    assert "not valid URL-encoded UTF-8" in reply.text()


def test_unknown_parameters_are_ignored(site):
    assert site.get("colour=blue&utm=x").status == 200


def test_unknown_page_is_404(site):
    assert site.get("page=../../etc/passwd").status == 404


# -- who may use it -------------------------------------------------------------------------------


def test_reseller_with_all_may_use_the_page(site):
    assert site.get(user="boss").status == 200


def test_reseller_without_all_is_refused_with_the_reason(site):
    reply = site.get(user="helper")
    assert reply.status == 403
    assert "“helper” does not have the “all” privilege" in reply.text()
    assert "deploy" not in reply.text()


def test_user_who_is_not_a_reseller_is_refused(site):
    reply = site.get(user="mallory")
    assert reply.status == 403 and "neither root nor a reseller" in reply.text()


def test_api_token_request_by_a_reseller_is_refused_even_with_all(site):
    reply = site.get(user="boss", WHM_API_TOKEN_NAME="automation")
    assert reply.status == 403
    assert "API token are accepted from root only" in reply.text()


def test_api_token_request_by_root_with_a_full_access_token_is_allowed(site):
    site.token("root", "automation")  # created without acls: full access
    assert site.get(WHM_API_TOKEN_NAME="automation").status == 200


def test_api_token_request_with_a_narrowed_or_unknown_root_token_is_refused(site):
    site.server.add_token("root", "readonly", NOW - DAY, acls={"list-accts": 1})
    reply = site.get(WHM_API_TOKEN_NAME="readonly")
    assert reply.status == 403 and "has limited privileges" in reply.text()
    assert site.get(WHM_API_TOKEN_NAME="nosuchtoken").status == 403
    refused = site.post(revoke_form("root:old-ci"), WHM_API_TOKEN_NAME="readonly")
    assert refused.status == 403 and site.revokes() == []


def test_request_without_whm_session_token_is_refused(site):
    assert site.get(cp_security_token=None).status == 403
    assert site.get(cp_security_token="/cpsess12").status == 403


def test_refused_reseller_cannot_revoke_either(site):
    reply = site.post(revoke_form("root:old-ci"), user="helper")
    assert reply.status == 403
    assert site.revokes() == []


# -- state changes: POST + nonce only -------------------------------------------------------------


def test_get_never_revokes(site):
    for query in ("page=revoke", "page=preview", "action=revoke&mode=selection&t=root:old-ci",
                  "page=overview&action=revoke&t=root:old-ci"):
        reply = site.get(query)
        assert reply.status == 405, query
    assert site.revokes() == []
    assert "old-ci" in site.server.token_names("root")


@pytest.mark.parametrize("nonce", [None, "", "0" * 64, "forged"])
def test_missing_or_forged_nonce_is_refused(site, nonce):
    reply = site.post(revoke_form("root:old-ci"), nonce=nonce if nonce is not None else False)
    assert reply.status == 403
    assert "nonce does not match" in reply.text()
    assert site.revokes() == []


def test_nonce_of_another_session_or_user_is_refused(site):
    other_session = site.nonce("root", "/cpsess9999999999")
    assert site.post(revoke_form("root:old-ci"), nonce=other_session).status == 403
    other_user = site.nonce("boss")
    assert site.post(revoke_form("root:old-ci"), nonce=other_user).status == 403
    assert site.revokes() == []


def test_page_carries_the_nonce_of_the_session(site):
    body = site.get().body
    assert 'name="nonce" value="{}"'.format(site.nonce()) in body


def test_csrf_secret_is_private_to_root(site):
    site.get()
    secret = os.path.join(str(site.state), security.SECRET_NAME)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(site.state)).st_mode) == 0o700
    # A secret left readable by others is tightened on the next request.
    os.chmod(secret, 0o644)
    site.get()
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600


def test_a_failed_first_write_of_the_csrf_secret_does_not_break_the_page(site, monkeypatch):
    def disk_full(count):
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as patch:
        patch.setattr(security.os, "urandom", disk_full)
        assert site.get().status == 500
    # No empty ("damaged") secret was left behind: the next request makes a whole one.
    reply = site.get()
    assert reply.status == 200
    assert 'name="nonce" value="{}"'.format(site.nonce()) in reply.body


def test_unknown_action_is_400(site):
    assert site.post([("action", "drop-tables")]).status == 400


# -- preview and revoke a selection ---------------------------------------------------------------


def test_preview_of_a_selection_revokes_nothing_and_explains(site):
    reply = site.post(selection("root:old-ci", "root:monitoring", "root:" + TRUST_NAME))
    assert reply.status == 200
    text = reply.text()
    assert "2 tokens will be revoked" in text
    assert "Will be kept: protected (1)" in text
    assert "DNS cluster trust token" in text
    assert "Revoke 2 tokens" in text
    assert site.revokes() == []


def test_revoke_of_a_selection_revokes_verifies_and_records(site):
    reply = site.post(revoke_form("root:old-ci", "boss:billing"), follow=True)
    assert reply.status == 200
    text = reply.text()
    assert "Done. 2 tokens revoked and verified gone" in text
    assert "old-ci" not in site.server.token_names("root")
    assert "billing" not in site.server.token_names("boss")
    assert "monitoring" in site.server.token_names("root")
    runs = [json.loads(line) for line in open(paths.audit_log())]
    outcome = runs[-1]
    assert outcome["event"] == "outcome" and outcome["actor"] == "whm:root"
    assert sorted(t["name"] for t in outcome["tokens"]) == ["billing", "old-ci"]


def test_protected_token_is_never_revoked_even_when_posted(site):
    reply = site.post(revoke_form("root:old-ci", "root:" + TRUST_NAME))
    # The posted list differs from what may be revoked: nothing happens, a new preview shows.
    assert reply.status == 409
    assert "Nothing was revoked" in reply.text()
    assert site.revokes() == []
    assert TRUST_NAME in site.server.token_names("root")


@pytest.mark.parametrize("key", ["root:nope", "boss:old-ci", "ghost:old-ci"])
def test_a_token_or_owner_no_longer_there_gives_a_new_preview_not_a_dead_end(site, key):
    """Issue 11.3: this was a 400 page; now the preview of what still exists says what went."""
    preview = site.post(selection(key, "root:old-ci"))
    assert preview.status == 200, preview.text()
    text = preview.text()
    assert "No longer listed, so not in this preview: {}".format(key.replace(":", "/")) in text
    assert "1 token will be revoked" in text and "Revoke 1 token" in text
    reply = site.post(revoke_form(key, "root:old-ci"))
    assert reply.status == 409
    text = reply.text()
    assert "Nothing was revoked" in text
    assert "{} is no longer listed".format(key.replace(":", "/")) in text
    assert "Revoke 1 token" in text  # the new preview can be confirmed as it is
    assert site.revokes() == []


def confirmation_values(reply):
    return re.findall(r'<input type="hidden" name="t" value="([^"]+)">', reply.body)


def test_a_token_re_created_between_preview_and_confirmation_is_not_revoked(site):
    """Issue 11.3: confirmation bound only owner and name, so the new token was revoked."""
    preview = site.post(selection("root:old-ci", "root:monitoring"))
    values = confirmation_values(preview)
    assert len(values) == 2 and all(v.count(":") == 3 for v in values)
    site.server.remove_token("root", "old-ci")
    new = site.token("root", "old-ci", age=0)  # someone re-creates it, a new secret in use
    reply = site.post([("action", "revoke"), ("mode", "selection")] + [("t", v) for v in values])
    assert reply.status == 409
    text = reply.text()
    assert "Nothing was revoked" in text
    assert "root/old-ci was re-created under the same name" in text
    assert site.revokes() == []
    assert "old-ci" in site.server.token_names("root")
    # The new preview binds the new token: confirming it is a decision about that one.
    again = confirmation_values(reply)
    assert "root:old-ci:{}:".format(new["create_time"]) in " ".join(again)
    done = site.post([("action", "revoke"), ("mode", "selection")] + [("t", v) for v in again],
                     follow=True)
    assert done.status == 200 and "2 tokens revoked" in done.text()


def test_a_policy_sweep_confirmed_for_a_token_since_re_created_revokes_nothing(site):
    site.token("boss", "old-deploy", age=300, expires=-3)
    preview = site.get("page=sweep")
    values = confirmation_values(preview)
    site.server.remove_token("boss", "old-deploy")
    site.token("boss", "old-deploy", age=0, expires=-1)  # re-created, and already expired
    reply = site.post([("action", "revoke"), ("mode", "policy")] + [("t", v) for v in values])
    assert reply.status == 409 and "boss/old-deploy was re-created" in reply.text()
    assert site.revokes() == []


def test_a_confirmation_without_identities_is_asked_again(site):
    """A hand-made form with OWNER:NAME only does not say which token it means."""
    reply = site.post([("action", "revoke"), ("mode", "selection"), ("t", "root:old-ci")])
    assert reply.status == 409 and site.revokes() == []
    assert "root/old-ci" in reply.text()


@pytest.mark.parametrize("key", ["root:<script>", "root:a b", "root:" + "x" * 51, "no-colon",
                                 "<b>:x", "root:", ":name"])
def test_names_outside_cpanels_rule_are_refused(site, key):
    reply = site.post(revoke_form(key))
    assert reply.status == 400
    assert "<script>" not in reply.body
    assert site.revokes() == []


@pytest.mark.parametrize("key", ["root@whm:old-ci", "boss@whm:billing"])
def test_a_whm_token_is_named_by_its_owner_alone(site, key):
    """A WHM token's holder is its owner ("bob"); "bob@whm" names no holder the page lists,
    so the preview would call a listed token "no longer listed" (revoked or removed):
    refused whole instead, like any other selection that is not OWNER:NAME."""
    reply = site.post(selection(key))
    assert reply.status == 400, reply.text()
    assert "is not a token of this server" in reply.text()
    assert "No longer listed" not in reply.text()
    assert site.revokes() == []


def test_empty_selection_is_refused(site):
    reply = site.post(selection())
    assert reply.status == 400 and "Nothing was ticked" in reply.text()
    assert site.revokes() == []


def test_more_than_ten_tokens_need_the_typed_number(site):
    for i in range(12):
        site.token("boss", "bulk-{:02d}".format(i), age=5)
    keys = ["boss:bulk-{:02d}".format(i) for i in range(12)]
    preview = site.post(selection(*keys))
    assert 'name="confirm"' in preview.body and "Type 12 to confirm" in preview.text()
    for wrong in (None, "", "11", "twelve"):
        fields = {} if wrong is None else {"confirm": wrong}
        reply = site.post(revoke_form(*keys, **fields))
        assert reply.status == 400
        assert "Nothing was revoked" in reply.text()
    assert site.revokes() == []
    reply = site.post(revoke_form(*keys, confirm="12"), follow=True)
    assert reply.status == 200 and "12 tokens revoked" in reply.text()
    assert not [n for n in site.server.token_names("boss") if n.startswith("bulk-")]


def test_ten_tokens_or_fewer_need_no_typed_number(site):
    preview = site.post(selection("root:old-ci"))
    assert 'name="confirm"' not in preview.body


def test_failed_revocation_is_explained(site):
    site.server.add_fault("keep_token", function="api_token_revoke", name="old-ci")
    reply = site.post(revoke_form("root:old-ci", "root:monitoring"), follow=True)
    text = reply.text()
    assert "Finished with problems" in text and "1 failed" in text
    assert "answered OK but the token is still listed" in text


def test_a_revocation_that_could_not_be_verified_is_never_called_still_valid(site):
    """Issue 11.4: the page said "still valid" for a token that was revoked."""
    form = revoke_form("root:old-ci")
    # Listed for the plan and right before the revoke; the verifying listing fails.
    site.server.add_fault("fail", function="api_token_list", owner="root", after=2)
    reply = site.post(form, follow=True)
    text = reply.text()
    assert "old-ci" not in site.server.token_names("root")
    assert "Could not verify 1 token" in text and "Unknown: not verified" in text
    assert "tokensweeper list --owner root" in text
    assert "still valid" not in text and "verified gone" not in text


def test_an_outcome_the_audit_log_could_not_take_is_said_on_the_page(site, monkeypatch):
    from tokensweeper import audit
    real = audit.write

    def full_disk(record, path=None):
        if record.get("event") == "outcome":
            raise audit.AuditError("cannot write the audit log: No space left on device")
        return real(record, path)
    monkeypatch.setattr(audit, "write", full_disk)
    reply = site.post(revoke_form("root:old-ci"))
    assert "Audit log not written" in reply.text() and "No space left" in reply.text()


def test_another_sweep_running_gives_409(site):
    from tokensweeper.lock import SweepLock
    with SweepLock(paths.lock_file()):
        reply = site.post(revoke_form("root:old-ci"))
    assert reply.status == 409 and "Another sweep is running" in reply.text()
    assert site.revokes() == []


# -- policy sweep ---------------------------------------------------------------------------------


def test_policy_sweep_preview_and_revoke(site):
    preview = site.get("page=sweep")
    assert preview.status == 200
    text = preview.text()
    # Default policy: expired. old-ci is revoked, the expired trust token kept.
    assert "1 token will be revoked" in text and TRUST_NAME in text
    assert site.revokes() == []
    reply = site.post(revoke_form("root:old-ci", mode="policy"), follow=True)
    assert reply.status == 200 and "1 token revoked" in reply.text()
    assert TRUST_NAME in site.server.token_names("root")


def test_policy_revoke_refuses_a_list_that_differs_from_the_policy(site):
    reply = site.post(revoke_form("root:old-ci", "root:monitoring", mode="policy"))
    assert reply.status == 409
    assert site.revokes() == []


def test_policy_sweep_with_empty_policy_says_so(site):
    site.config.write_text("policy:\n  expired: false\n")
    reply = site.get("page=sweep")
    assert reply.status == 409 and "selects nothing" in reply.text()


def test_broken_config_stops_planning_and_settings_show_why(site):
    site.config.write_text("mode: sometimes\n")
    assert site.get("page=sweep").status == 500
    reply = site.get("page=settings")
    assert reply.status == 200
    assert "The configuration has problems" in reply.text() and "sometimes" in reply.text()


def test_settings_show_effective_config_and_source(site):
    text = site.get("page=settings").text()
    assert "defaults (no file at" in text
    site.config.write_text("policy:\n  older_than_days: 90\nprotect:\n  names: [keep-*]\n")
    text = site.get("page=settings").text()
    assert str(site.config) in text and "90 days" in text and "keep-*" in text
    # The built-in rules as they are, never the invented *-trust glob.
    assert ("reverse_trust_&lt;uuid&gt;, PARENT-DO_NOT_DELETE-&lt;host&gt;-&lt;id&gt;, "
            "accesshash-&lt;creation epoch&gt;, transfer-&lt;creation epoch&gt;") in text
    assert "*-trust" not in text and "conn-apps.json" in text


# -- audit ----------------------------------------------------------------------------------------


def test_audit_lists_runs_newest_first_with_their_tokens(site):
    site.post(revoke_form("root:old-ci"))
    site.post(revoke_form("boss:billing"))
    reply = site.get("page=audit")
    assert reply.status == 200
    body = reply.body
    assert body.count("<details>") == 2
    assert body.index("billing") < body.index("old-ci")
    assert "2 runs recorded" in reply.text()


def test_audit_is_paged(site):
    from tokensweeper import audit
    for i in range(25):
        audit.write({"event": "outcome", "epoch": NOW + i, "time": "t%02d" % i,
                     "run_id": "run-%02d" % i, "actor": "cli", "mode": "enforce",
                     "tokens": []})
    first = site.get("page=audit")
    assert first.body.count("<details>") == 20 and "run-24" in first.body
    second = site.get("page=audit&p=2")
    assert second.body.count("<details>") == 5 and "run-00" in second.body
    assert "run-24" not in second.body


def test_audit_page_lists_runs_beside_a_record_whose_time_is_not_a_number(site):
    from tokensweeper import audit
    audit.write({"event": "outcome", "epoch": NOW, "time": "x", "run_id": "r1", "actor": "cli",
                 "tokens": []})
    audit.write({"event": "note", "epoch": "soon", "time": "y", "run_id": "r2", "actor": "vi"})
    reply = site.get("page=audit")
    assert reply.status == 200 and "r1" in reply.text() and "r2" in reply.text()


def test_audit_marks_an_interrupted_run(site):
    from tokensweeper import audit
    audit.write({"event": "intent", "epoch": NOW, "time": "x", "run_id": "r1", "actor": "cli",
                 "mode": "enforce", "tokens": [{"owner": "root", "name": "old-ci"}]})
    assert "interrupted" in site.get("page=audit").text()


def test_audit_download_as_json_lines(site):
    site.post(revoke_form("root:old-ci"))
    reply = site.get("page=audit&format=jsonl")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in reply.headers["content-disposition"]
    records = [json.loads(line) for line in reply.body.splitlines()]
    assert [r["event"] for r in records] == ["intent", "outcome"]


# -- request limits -------------------------------------------------------------------------------


def test_oversized_body_is_refused_unread(site):
    env = site.env("POST", CONTENT_TYPE="application/x-www-form-urlencoded",
                   CONTENT_LENGTH=str(request.MAX_BODY + 1))
    reply = site.send(env, b"")
    assert reply.status == 413


def test_body_other_than_a_form_is_refused(site):
    body = b'{"action": "revoke"}'
    env = site.env("POST", CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    assert site.send(env, body).status == 415


def test_truncated_or_undeclared_body_is_refused(site):
    form = "action=preview&t=root%3Aold-ci"
    env = site.env("POST", CONTENT_TYPE="application/x-www-form-urlencoded", CONTENT_LENGTH="500")
    assert site.send(env, form.encode()).status == 400
    env = site.env("POST", CONTENT_TYPE="application/x-www-form-urlencoded")
    assert site.send(env, form.encode()).status == 411


@pytest.mark.parametrize("length, status", [("\u00b2", 411), ("\u0661", 411),
                                            ("9" * 5000, 413)])
def test_content_length_other_than_ascii_digits_or_absurdly_long_is_refused(site, length, status):
    env = site.env("POST", CONTENT_TYPE="application/x-www-form-urlencoded", CONTENT_LENGTH=length)
    assert site.send(env, b"action=preview&t=root%3Aold-ci").status == status


def test_invalid_utf8_in_form_is_400(site):
    body = b"action=preview&t=root%3A%ff%fe"
    env = site.env("POST", CONTENT_TYPE="application/x-www-form-urlencoded",
                   CONTENT_LENGTH=str(len(body)))
    assert site.send(env, body).status == 400


def test_other_methods_are_405(site):
    assert site.send(site.env("DELETE"), b"").status == 405


# -- hostile names from whmapi1 -------------------------------------------------------------------

HOSTILE = ('<script>alert("x")</script>', "o'brien\"q", "ключ-доступа",
           "<img src=x onerror=alert(1)>")


def test_hostile_token_names_are_escaped_everywhere(site):
    # cPanel would refuse these names; the page must still never emit them as markup.
    site.server.replace_tokens("boss", {name: {
        "name": name, "create_time": NOW - 400 * DAY, "expires_at": NOW - DAY,
        "acls": {"list-accts": 1}, "whitelist_ips": None} for name in HOSTILE})
    for reply in (site.get(), site.get("state=expired"), site.get("page=sweep")):
        assert reply.status == 200
        assert "<script>alert" not in reply.body and "<img src=x" not in reply.body
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in reply.body
        assert "ключ-доступа" in reply.body
        assert "o&#39;brien&#34;q" in reply.body


def test_hostile_owner_name_is_refused_and_escaped(site):
    site.server.add_reseller("<script>evil</script>")
    reply = site.get()
    assert reply.status == 200
    assert "<script>evil" not in reply.body
    assert "&lt;script&gt;evil&lt;/script&gt;" in reply.body
    assert "not a valid cPanel user name" in reply.text()


def test_hostile_names_in_the_audit_log_are_escaped(site):
    from tokensweeper import audit
    audit.write({"event": "outcome", "epoch": NOW, "time": "<b>t</b>", "run_id": "<i>r</i>",
                 "actor": "<script>a()</script>", "mode": "enforce",
                 "tokens": [{"owner": "o\"<x>", "name": "<script>n()</script>", "action": "revoked",
                             "reason": "<u>why</u>"}]})
    body = site.get("page=audit").body
    for raw in ("<script>a()", "<script>n()", "<u>why", "<b>t</b>", "<i>r</i>", 'o"<x>'):
        assert raw not in body


def test_a_failing_owner_is_reported_and_the_others_still_listed(site):
    site.server.add_fault("fail", function="api_token_list", owner="boss",
                          reason="<b>disk</b> full")
    reply = site.get()
    assert reply.status == 200
    assert "The tokens of boss could not be listed" in reply.text()
    assert "&lt;b&gt;disk&lt;/b&gt; full" in reply.body
    assert "old-ci" in reply.body


def test_overview_names_a_resellers_full_access_as_its_owners_privileges(site):
    # helper's line in the resellers file is list-accts,create-acct: its token created
    # without ACLs lists both granted (and never `all`).
    site.server.add_token("helper", "narrow", NOW - DAY, acls={"list-accts": 1})
    body = site.get().body
    rows = {name: row for row in re.findall(r"<tr.*?</tr>", body, re.S)
            for name in ("deploy", "narrow", "monitoring") if ">%s<" % name in row}

    assert "owner&#39;s privileges" in rows["deploy"] or "owner's privileges" in rows["deploy"]
    assert "Yes" in rows["deploy"]
    assert "privileges" not in rows["narrow"] and "Yes" not in rows["narrow"]
    assert "Yes" in rows["monitoring"] and "privileges" not in rows["monitoring"]  # root's


# -- look: WHM chrome or the fallback -------------------------------------------------------------


def write_chrome(site, header):
    site.write("var/cpanel/caches/_generated_header_files/cache_keys.json", '{"root": "k1"}')
    site.write("var/cpanel/caches/_generated_header_files/k1_0_0.html", header)
    site.write("var/cpanel/caches/_generated_footer_files/footer.html",
               '<footer id="whm-footer"><a href="/cpsess0000000000/x">x</a></footer></body></html>')


def test_whm_chrome_is_used_with_its_placeholders_replaced(site):
    write_chrome(site, '<html><head><script nonce="00000000000"></script><title>Results of Your '
                       'Request</title></head><body><div id="whm-header">cpuser00000000000 '
                       '<a href="/cpsess0000000000/scripts/command">Home</a></div>')
    reply = site.get()
    body = reply.body
    # The page's own title (WCAG 2.4.2) and a skip link past WHM's menu (2.4.1), issue 14.9.
    assert body.startswith("<html><head><script></script><title>Tokens · API Token Sweeper"
                           "</title></head><body><a class=\"ts-skip\" href=\"#tokensweeper\">")
    assert '<div id="whm-header">root <a href="{}/scripts/command">'.format(TOKEN) in body
    assert '<footer id="whm-footer"><a href="{}/x">'.format(TOKEN) in body
    assert "0000000000" not in body
    # WHM's chrome brings inline scripts: only the framing rule, no script policy.
    assert reply.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert "ts-topbar" not in body


def test_chrome_cache_directory_named_by_the_environment_wins_as_in_whm_php(
        site, tmp_path, monkeypatch):
    # cPanel's WHM.php reads whm_chrome_cache_directory; unset, empty or "0" = /var/cpanel/caches.
    write_chrome(site, '<div id="whm-header">default cache</div>')
    elsewhere = tmp_path / "chrome-elsewhere"
    (elsewhere / "_generated_header_files").mkdir(parents=True)
    (elsewhere / "_generated_footer_files").mkdir()
    (elsewhere / "_generated_header_files" / "cache_keys.json").write_text('{"root": "k9"}')
    (elsewhere / "_generated_header_files" / "k9_0_0.html").write_text(
        '<div id="whm-header">named cache</div>')
    (elsewhere / "_generated_footer_files" / "footer.html").write_text("<footer></footer>")

    monkeypatch.setenv("whm_chrome_cache_directory", str(elsewhere))
    assert site.get().body.startswith('<div id="whm-header">named cache</div>')
    for unset in ("", "0"):
        monkeypatch.setenv("whm_chrome_cache_directory", unset)
        assert site.get().body.startswith('<div id="whm-header">default cache</div>')
    monkeypatch.setenv("whm_chrome_cache_directory", str(tmp_path / "missing"))
    assert site.get().body.startswith("<!DOCTYPE html>")  # named but empty: the fallback


def test_fallback_layout_when_the_chrome_cache_is_missing_or_broken(site):
    reply = site.get()
    assert reply.body.startswith("<!DOCTYPE html>")
    assert "ts-breadcrumb" in reply.body
    assert "default-src 'self'" in reply.headers["content-security-policy"]
    site.write("var/cpanel/caches/_generated_header_files/cache_keys.json", "{not json")
    assert site.get().body.startswith("<!DOCTYPE html>")


def test_assets_are_served_by_the_cgi(site):
    css = site.get("asset=style.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert ".ts-table" in css.body
    js = site.get("asset=app.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert site.get("asset=../routes.py").status == 404
    # Issue 14.8: nothing secret in them, and a refused user's 403 page needs its style.
    assert site.get("asset=style.css", user="helper").status == 200
    assert site.get("asset=../routes.py", user="helper").status == 404


def test_internal_error_gives_a_500_page_without_details(site, monkeypatch, capsys):
    from tokensweeper.web import routes

    def explode(ctx):
        raise RuntimeError("secret detail")
    monkeypatch.setitem(routes.GET_PAGES, "settings", explode)
    reply = site.get("page=settings")
    assert reply.status == 500
    assert "secret detail" not in reply.body
    assert "secret detail" in capsys.readouterr().err


# -- the real entry point, as cpsrvd runs it ------------------------------------------------------


def test_index_cgi_runs_as_a_cgi_process(site):
    env = dict(os.environ)
    env.update(site.env(query="page=settings"))
    child = subprocess.run([sys.executable, CGI], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    assert child.returncode == 0, child.stderr
    reply = Reply(child.stdout)
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert "Effective configuration" in reply.text()
    assert b"secret-cookie-value" not in child.stdout + child.stderr


def test_the_page_honours_tokensweeper_now_like_the_command(site):
    """Issue 11.7: one clock for every front end. monitoring is 20 days old at NOW."""
    later = NOW + 1000 * DAY
    out = io.BytesIO()
    app.main(env=site.env(TOKENSWEEPER_NOW=str(later)), stdin=io.BytesIO(b""), stdout=out)
    reply = Reply(out.getvalue())
    assert reply.status == 200
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*monitoring(?:(?!</tr>).)*</tr>", reply.body, re.S)
    assert "1020 days" in row.group(0)


@pytest.mark.parametrize("pinned", ["99999999999999999999", "-5", "soon"])
def test_an_unusable_tokensweeper_now_is_a_clear_error_page(site, pinned):
    out = io.BytesIO()
    app.main(env=site.env(TOKENSWEEPER_NOW=pinned), stdin=io.BytesIO(b""), stdout=out)
    reply = Reply(out.getvalue())
    assert reply.status == 500 and "TOKENSWEEPER_NOW" in reply.text()
    assert "Traceback" not in reply.body and site.server.calls() == []


def test_head_request_sends_headers_only(site):
    out = io.BytesIO()
    app.main(env=site.env("HEAD"), stdin=io.BytesIO(b""), stdout=out, now=NOW)
    assert out.getvalue().endswith(b"\r\n\r\n")
    assert out.getvalue().startswith(b"Status: 200 OK\r\n")


def test_overview_is_paged_and_pages_keep_the_filters(site, monkeypatch):
    from tokensweeper.web.tabs import overview as overview_tab
    monkeypatch.setattr(overview_tab, "PAGE_SIZE", 3)
    first = site.get("sort=name")
    assert _names(first) == ["billing", "deploy", "monitoring"]
    assert "Page 1 of 2" in first.text()
    assert 'href="index.cgi?sort=name&amp;p=2"' in first.body
    second = site.get("sort=name&p=2")
    assert _names(second) == ["old-ci"] and TRUST_NAME in second.body
    assert "monitoring" not in second.body
    # A page past the end shows the last page.
    assert _names(site.get("sort=name&p=9")) == ["old-ci"]


def test_audit_shows_when_each_revoked_token_was_last_used(site):
    site.write("usr/local/cpanel/logs/api_tokens_log",
               "[2026-11-20 10:01:00 +0000] info [whostmgrd] Host: ['198.51.100.9'] HTTP Status: "
               "['200'], User: ['root'], Token Name: ['old-ci'], Request: ['GET /json-api/x']\n")
    site.post(revoke_form("root:old-ci"))
    text = site.get("page=audit").text()
    assert "Last used" in text and "2026-11-20 10:01 UTC from 198.51.100.9" in text


# -- framing, the session token on error pages, the state directory -------------------------


def every_kind_of_response(site):
    write_chrome(site, "<html><body>cpuser00000000000")
    yield "page in WHM's chrome", site.get()
    yield "error page", site.get("page=nope")
    yield "refused request", site.get(user="nobody-at-all")
    yield "asset", site.get("asset=style.css")
    yield "download", site.get("page=audit&format=jsonl")
    yield "head", site.send(site.env("HEAD"), b"")
    yield "form answer", site.post([("action", "drop-tables")])
    os.remove(str(site.root / "var/cpanel/caches/_generated_footer_files/footer.html"))
    yield "fallback layout", site.get()


def test_every_response_forbids_framing_by_other_sites(site):
    for kind, reply in every_kind_of_response(site):
        assert reply.headers.get("x-frame-options") == "SAMEORIGIN", kind
        assert "frame-ancestors 'self'" in reply.headers.get("content-security-policy", ""), kind


@pytest.mark.parametrize("token", [
    '/cpsess0123456789"><script>alert(1)</script>',
    "/cpsess0123456789/../../evil",
    "/cpsess12345",
    "/cpsessABCDEFGHIJ",
    "/cpsess0123456789\n",
])
def test_an_invalid_session_token_never_reaches_whms_header(site, token):
    write_chrome(site, '<html><body><a href="/cpsess0000000000/scripts/command">Home</a>')
    reply = site.get(cp_security_token=token)
    assert reply.status == 403
    assert "<script>alert(1)" not in reply.body and "evil" not in reply.body
    # The fallback layout, not WHM's header (the 403 page's own relative WHM Home link is fine).
    assert 'scripts/command">Home</a>' not in reply.body
    assert "ts-breadcrumb" in reply.body


def test_a_missing_state_dir_is_created_private_whatever_the_umask(site):
    old = os.umask(0o022)
    try:
        assert site.get().status == 200
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(str(site.state)).st_mode) == 0o700


def test_a_state_dir_others_can_write_is_refused_and_named(site):
    site.get()
    os.chmod(str(site.state), 0o777)
    reply = site.get()
    assert reply.status == 500
    assert "refusing to use {}".format(site.state) in reply.text()
    assert "writable by group or others" in reply.text()


def test_a_csrf_secret_someone_else_owns_is_refused(site):
    site.get()
    secret = os.path.join(str(site.state), security.SECRET_NAME)
    os.chown(secret, 65534, 65534)  # as if a local user had planted the key
    reply = site.get()
    assert reply.status == 500 and "owned by uid 65534, not by root" in reply.text()
    assert "refusing to use {}".format(secret) in reply.text()


def test_the_overview_says_which_rule_protects_a_token(site):
    site.token("helper", TRUST_NAME, age=900, expires=-5, acls=CLUSTERING)  # cannot cluster
    site.token("boss", "linked", age=900, expires=-5)
    site.write("var/cpanel/reseller-data/boss/conn-apps.json",
               '{"cp-cloud": {"token_name": "linked"}}')
    reply = site.get()
    # The badge says Protected; the reason under it does not say it again (issue 30.7).
    assert ('<div class="ts-reason">DNS cluster trust token (built-in rule '
            'reverse_trust_&lt;uuid&gt;)</div>' in reply.body)
    assert '<div class="ts-reason">used by connected application cp-cloud' in reply.body
    assert "protected: " not in reply.body
    # A reseller's lookalike name is no protection: it can be selected like any token.
    assert "Select token %s of helper" % TRUST_NAME in reply.body
    assert "Select token linked of boss" not in reply.body


def test_a_broken_connected_applications_file_is_shown_as_a_warning(site):
    site.write("root/conn-apps.json", "[1, 2")
    reply = site.get()
    assert reply.status == 200
    text = reply.text()
    assert "the Connected Applications file" in text and "is kept as protected" in text
    assert "Select token old-ci of root" not in reply.body  # root's tokens are all kept meanwhile


# -- issue 14.1: post-redirect-get, and a second press of the same Revoke button ----------------


def confirm_form(preview, **fields):
    """The preview's confirmation form as the browser sends it (without the nonce)."""
    form = preview.body[preview.body.index('id="ts-confirm"'):]
    form = form[:form.index("</form>")]
    pairs = [(name, value) for name, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form) if name != "nonce"]
    return pairs + sorted(fields.items())


def test_a_confirmation_answers_303_to_a_run_page_that_can_be_reloaded(site):
    preview = site.post(selection("root:old-ci"))
    reply = site.post(confirm_form(preview))
    assert reply.status == 303
    assert re.match(r"^index\.cgi\?page=audit&run=[0-9TZ]+-[0-9a-f]+$", reply.headers["location"])
    first = site.follow(reply)
    again = site.follow(reply)  # a reload, or a bookmark opened later
    for page in (first, again):
        assert page.status == 200
        assert "Done. 1 token revoked and verified gone" in page.text()
        assert "old-ci" in page.text()
    assert len(site.revokes()) == 1


def test_pressing_revoke_twice_shows_the_first_runs_result_and_revokes_once(site):
    """Issue 14.1: the second POST met a changed server (or the lock) and showed an error."""
    preview = site.post(selection("root:old-ci", "boss:billing"))
    form = confirm_form(preview)
    first = site.post(form)
    second = site.post(form)  # double click, or back and resubmit
    assert first.status == second.status == 303
    assert second.headers["location"] == first.headers["location"]
    assert "Done. 2 tokens revoked" in site.follow(second).text()
    assert len(site.revokes()) == 2  # one call per owner, once
    records = [json.loads(line) for line in open(paths.audit_log())]
    assert [r["event"] for r in records] == ["intent", "outcome"]
    confirmation = dict(form)["confirmation"]
    assert all(r["confirmation"] == confirmation for r in records)


def test_a_second_press_waits_for_the_first_still_holding_the_lock(site, monkeypatch):
    from tokensweeper.lock import SweepLock
    from tokensweeper.web.tabs import revoke as revoke_tab

    preview = site.post(selection("root:old-ci"))
    form = confirm_form(preview)
    first = {}
    held = SweepLock(paths.lock_file()).acquire()  # the first press, still at work

    def first_press_finishes(seconds):
        held.release()
        first["reply"] = site.post(form)
    monkeypatch.setattr(revoke_tab, "_pause", first_press_finishes)
    second = site.post(form)
    assert first["reply"].status == 303
    assert second.status == 303 and second.headers["location"] == first["reply"].headers["location"]
    assert len(site.revokes()) == 1


def test_a_second_press_that_outwaits_the_lock_says_what_to_do(site, monkeypatch):
    from tokensweeper.lock import SweepLock
    from tokensweeper.web.tabs import revoke as revoke_tab

    monkeypatch.setattr(revoke_tab, "LOCK_WAIT_SECONDS", 0)
    preview = site.post(selection("root:old-ci"))
    with SweepLock(paths.lock_file()):
        reply = site.post(confirm_form(preview))
    assert reply.status == 409 and "Nothing was revoked by this request" in reply.text()
    assert "audit log" in reply.text() and site.revokes() == []


def test_a_confirmation_id_finds_only_its_own_users_run(site):
    preview = site.post(selection("root:old-ci"))
    form = confirm_form(preview)
    site.post(form)
    # boss (Root Access) replays root's form with its own nonce: not root's run.
    replay = site.post(form, user="boss")
    assert replay.status != 303


@pytest.mark.parametrize("value", ["x", "0" * 31, "<b>" + "0" * 29, "A" * 32])
def test_a_malformed_confirmation_id_is_refused(site, value):
    form = revoke_form("root:old-ci") + [("confirmation", value)]
    reply = site.post(form)
    assert reply.status == 400 and site.revokes() == []


def test_a_run_page_for_an_unknown_run_is_a_404_with_the_tabs(site):
    reply = site.get("page=audit&run=%3Cscript%3Ex")
    assert reply.status == 404 and "<script>x" not in reply.body
    assert "&lt;script&gt;x" in reply.body
    assert 'class="ts-tabs"' in reply.body


def test_a_run_page_shows_a_cron_preview_as_a_preview(site):
    from tokensweeper import audit
    audit.write({"event": "preview", "epoch": NOW, "time": "t", "run_id": "r-cron",
                 "actor": "cron", "mode": "preview",
                 "tokens": [{"owner": "root", "name": "old-ci", "action": "would-revoke",
                             "reason": "expired"}]})
    text = site.get("page=audit&run=r-cron").text()
    assert "Preview only. Nothing was revoked: 1 token would have been" in text


# -- issue 14.7: error pages are not dead ends ----------------------------------------------------


def test_a_broken_config_leaves_the_token_list_readable_with_the_problems_listed(site):
    site.config.write_text("mode: sometimes\npolicy:\n  older_than_days: -3\n")
    reply = site.get()
    assert reply.status == 200
    text = reply.text()
    assert "The configuration has problems" in text and str(site.config) in text
    problems = re.findall(r"<li>([^<]*)</li>", reply.body[reply.body.index('ts-problems'):])
    assert len(problems) == 2 and any("sometimes" in p for p in problems)
    assert 'href="index.cgi?page=settings"' in reply.body
    assert 'aria-current="page">Tokens<' in reply.body  # the tabs
    # Every token is listed, read-only: nothing to tick, no preview buttons.
    for name in ("old-ci", "monitoring", "billing", "deploy", TRUST_NAME):
        assert ">{}<".format(name) in reply.body
    assert 'name="t"' not in reply.body and "Preview revocation" not in reply.body
    assert "Preview policy sweep" not in reply.body


def test_a_planning_page_with_a_broken_config_shows_tabs_problems_and_settings(site):
    site.config.write_text("mode: sometimes\n")
    for reply in (site.get("page=sweep"), site.post(selection("root:old-ci"))):
        assert reply.status == 500
        assert 'class="ts-tabs"' in reply.body
        assert re.search(r'<ul class="ts-problems"><li>[^<]*sometimes', reply.body)
        assert 'href="index.cgi?page=settings">Open Settings<' in reply.body
    assert site.revokes() == []


def test_every_error_of_an_allowed_user_keeps_the_tabs(site):
    for reply in (site.get("page=nope"), site.get("sort=secret"),
                  site.post(revoke_form("root:old-ci"), nonce="forged")):
        assert reply.status in (400, 403, 404)
        assert 'class="ts-tabs"' in reply.body and "Back to the token list" in reply.text()


def test_a_preview_with_nothing_ticked_shows_the_list_again_with_what_to_do(site):
    reply = site.post(selection(), query="state=expired&sort=name")
    assert reply.status == 400
    assert "Nothing was ticked, so there is nothing to preview" in reply.text()
    # The same filtered list, to tick from.
    assert re.findall(r'aria-label="Select token ([^"]+) of', reply.body) == ["old-ci"]
    assert 'action="index.cgi?state=expired&amp;sort=name"' in reply.body


def test_an_unknown_owner_filter_is_said(site):
    reply = site.get("owner=nobody")
    assert reply.status == 200 and _names(reply) == []
    assert "No token owner is named “nobody”" in reply.text()
    assert 'href="index.cgi"' in reply.body and "Show every owner" in reply.text()
    assert "No token owner is named" not in site.get("owner=boss").text()


# -- issue 14.8: the 403 page -----------------------------------------------------------------


def test_the_403_page_is_styled_leads_to_whm_home_and_says_who_grants_root_access(site):
    reply = site.get(user="helper")
    assert reply.status == 403
    text = reply.text()
    assert 'href="index.cgi?asset=style.css' in reply.body
    assert site.get("asset=style.css", user="helper").status == 200
    assert 'href="../../scripts/command?PFILE=main"' in reply.body and "WHM Home" in text
    assert "Root Access" in text and "Edit Reseller Nameservers and Privileges" in text
    # No way back into the page that refused it: no tabs, no token-list link.
    assert 'class="ts-tabs"' not in reply.body and "Back to the token list" not in text


# -- issue 14.2: what the preview shows -----------------------------------------------------------


def use_line(when, owner, name, host="198.51.100.9"):
    stamp = __import__("time").strftime("%Y-%m-%d %H:%M:%S +0000", __import__("time").gmtime(when))
    return ("[{}] info [whostmgrd] Host: ['{}'] HTTP Status: ['200'], User: ['{}'], Token Name: "
            "['{}'], Request: ['GET /json-api/x']\n".format(stamp, host, owner, name))


def preview_rows(reply, table="ts-to-revoke"):
    body = reply.body[reply.body.index('id="{}"'.format(table)):]
    body = body[:body.index("</table>")]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr[^>]*>.*?</tr>", body[body.index("<tbody>"):], re.S)]


def test_a_hand_picked_preview_shows_each_tokens_facts_recent_use_first_under_a_warning(site):
    """Issue 14.2: hand-picked previews said only "chosen by hand"."""
    site.server.add_token("root", "narrow-ip", NOW - 90 * DAY, acls={"list-accts": 1},
                          whitelist_ips=["192.0.2.7"])
    site.write("usr/local/cpanel/logs/api_tokens_log",
               use_line(NOW - 100 * DAY, "root", "old-ci")
               + use_line(NOW - 2 * DAY, "boss", "billing")
               + use_line(NOW - 3 * DAY, "helper", "deploy", host="203.0.113.5"))
    reply = site.post(selection("root:old-ci", "root:narrow-ip", "boss:billing", "helper:deploy"))
    text = reply.text()
    assert ("2 of these tokens were used in the last 7 days; whatever uses them will stop "
            "working") in text
    rows = preview_rows(reply)
    # Used lately first (full access first among them, then by owner: both listings grant
    # every ACL they show), then still working (narrow-ip), then the expired one.
    assert [row.split()[1] for row in rows] == ["WHM"] * 4  # the Kind column
    assert [row.split()[2] for row in rows] == ["billing", "deploy", "narrow-ip", "old-ci"]
    billing, deploy, narrow, old = rows
    assert "Expiring soon" in billing and "Used in the last 7 days" in billing
    assert "from 203.0.113.5" in deploy and "Active" in deploy
    assert "Yes" in deploy and "owner's privileges" in deploy.replace("&#39;", "'")
    assert "192.0.2.7" in narrow and " No " in " " + narrow + " " and "never used" in narrow
    assert "Expired" in old and "Used in the last" not in old and "None" in old


def test_a_policy_preview_shows_each_tokens_facts_too(site):
    reply = site.get("page=sweep")
    (old,) = preview_rows(reply)
    assert "Expired" in old and "unknown (no usage data)" in old and "Yes" in old
    kept = preview_rows(reply, "ts-kept")
    assert len(kept) == 1 and "Protected" in kept[0] and "DNS cluster trust" in kept[0]
    assert "used in the last 7 days" not in reply.text()


# -- issue 14.6: one count, one time format, plain words -----------------------------------------


def test_the_overview_says_in_one_headline_what_the_policy_would_revoke(site):
    site.config.write_text("policy:\n  expired: true\n  older_than_days: 45\n")
    site.token("boss", "ancient", age=300)  # old, not expired
    reply = site.get()
    text = reply.text()
    # old-ci (expired), billing (50 days) and ancient (old); ns1-trust is protected.
    assert "The policy would revoke 3 tokens (1 expired, 2 old)" in text
    preview = site.get("page=sweep").text()
    assert "3 tokens will be revoked" in preview


def test_no_expires_in_0_days_and_times_carry_the_exact_time_and_how_long_ago_on_hover(site):
    site.server.add_token("root", "last-hours", NOW - 5 * DAY, expires_at=NOW + 5 * 3600)
    reply = site.get()
    assert "in 0 days" not in reply.text() and "expires in 5 hours" in reply.text()
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*last-hours(?:(?!</tr>).)*</tr>", reply.body, re.S)
    created = time_title(NOW - 5 * DAY)
    assert created in row.group(0) and "5 days ago" in created
    assert 'title="{}, today"'.format(datetime_of(NOW + 5 * 3600)) in row.group(0)


def datetime_of(epoch):
    import time
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def time_title(epoch):
    days = NOW // DAY - epoch // DAY
    return 'title="{}, {} days ago">{}</time>'.format(
        datetime_of(epoch), days, datetime_of(epoch)[:10])


def test_the_audit_log_tells_runs_in_words_not_selector_json_or_action_ids(site):
    from tokensweeper import audit
    audit.write({"event": "outcome", "epoch": NOW, "time": "x", "run_id": "r1", "actor": "cron",
                 "mode": "enforce", "selectors": {"expired": True, "older_than_days": 730,
                                                  "combine": "any"},
                 "tokens": [{"owner": "root", "name": "a", "action": "already-gone"},
                            {"owner": "root", "name": "b", "action": "kept-protected"}]})
    site.post(revoke_form("root:old-ci"))
    reply = site.get("page=audit")
    text = reply.text()
    assert "Tokens chosen: expired or older than 730 days." in text
    assert "Tokens chosen: picked by hand; owner root." in text
    assert "1 already gone, 1 kept (protected)" in text
    assert "already-gone" not in re.sub(r'class="[^"]*"', "", reply.body)
    assert "{&#34;" not in reply.body and '{"expired"' not in reply.body
    assert datetime_of(NOW) in text and "revocation" in text


# -- issue 14.5: bulk selection -------------------------------------------------------------------


def test_select_all_matching_previews_every_token_the_filter_matches_on_every_page(
        site, monkeypatch):
    from tokensweeper.web.tabs import overview as overview_tab
    monkeypatch.setattr(overview_tab, "PAGE_SIZE", 2)
    for i in range(5):
        site.token("boss", "ci-{}".format(i), age=5)
    site.config.write_text("protect:\n  names: [ci-keep]\n")
    site.token("boss", "ci-keep", age=5)  # protected: never chosen
    overview = site.get("owner=boss&q=ci")
    assert "Select all 5 matching tokens" in overview.text() and "Page 1 of 3" in overview.text()
    assert 'action="index.cgi?owner=boss&amp;q=ci"' in overview.body
    reply = site.post([("action", "preview"), ("scope", "matching")], query="owner=boss&q=ci")
    assert reply.status == 200
    text = reply.text()
    assert "All 5 tokens matching the filter: of boss, whose name contains “ci”" in text
    assert sorted(re.findall(r'<td class="ts-name">([^<]+)</td>', reply.body[
        reply.body.index('id="ts-to-revoke"'):reply.body.index("</table>", reply.body.index(
            'id="ts-to-revoke"'))])) == ["ci-{}".format(i) for i in range(5)]
    assert site.revokes() == []
    done = site.post(confirm_form(reply, confirm=""), follow=True)
    assert "Done. 5 tokens revoked" in done.text()
    assert site.server.token_names("boss") == {"billing", "ci-keep"}


def test_the_pager_is_above_and_below_with_first_last_and_page_numbers(site, monkeypatch):
    from tokensweeper.web.tabs import overview as overview_tab
    monkeypatch.setattr(overview_tab, "PAGE_SIZE", 1)
    for i in range(6):
        site.token("root", "p-{}".format(i), age=5)
    body = site.get("sort=name&p=6").body  # 11 tokens: pages 1..11
    assert body.count('class="ts-pager"') == 2
    pager = body[body.index('class="ts-pager"'):]
    pager = pager[:pager.index("</nav>")]
    assert re.findall(r">(?:<span[^>]*>Page </span>)?(\d+|…)<", pager) == \
        ["1", "…", "4", "5", "6", "7", "8", "…", "11"]
    assert 'href="index.cgi?sort=name">&laquo; First' in pager
    assert 'href="index.cgi?sort=name&amp;p=11">Last' in pager
    assert 'aria-current="page" class="ts-pager-current"' in pager


def test_policy_preview_shows_where_unattended_runs_stand_with_notices(site):
    """Issue 17: the policy preview says when a notice went out and when cron revokes;
    a person's revocation from the page does not wait for it."""
    from tokensweeper import audit

    site.config.write_text("mode: enforce\nnotify:\n  notice_days: 7\n")
    text = site.get("page=sweep").text()
    assert "would send a notice now; revocation due on 2026-12-04" in text
    assert "gives 7 days&#39; notice" in text or "gives 7 days' notice" in text
    from tokensweeper.whmapi import Client
    [old] = [t for t in Client().list_tokens("root") if t.name == "old-ci"]
    audit.write({"event": "notice", "epoch": NOW - 3 * DAY, "run_id": "n1", "actor": "cron",
                 "tokens": [{"identity": old.identity(), "action": "notice",
                             "due_epoch": NOW - NOW % DAY + 4 * DAY}]})
    text = site.get("page=sweep").text()
    assert "notice sent on 2026-11-24, revocation due on 2026-12-01" in text
    run_page = site.get("page=audit&run=n1")
    assert run_page.status == 200 and "Notice sent" in run_page.text()
    reply = site.post(revoke_form("root:old-ci", mode="policy"), follow=True)
    assert reply.status == 200 and "1 token revoked" in reply.text()


def test_a_tampered_filter_in_select_all_matchings_confirmation_revokes_nothing(site):
    """Break-it on issue 30.7: the audit record's "chosen by filter: ..." comes from the
    confirmation's address; a filter that does not choose the previewed tokens is refused,
    so the record can never name a rule that did not choose them."""
    for i in range(3):
        site.token("boss", "ci-{}".format(i), age=5)
    reply = site.post([("action", "preview"), ("scope", "matching")], query="owner=boss&q=ci-0")
    assert reply.status == 200
    form = confirm_form(reply, confirm="")
    done = site.post(form, query="owner=boss&chosen=filter")  # the q= taken out
    assert done.status == 409 and "Nothing was revoked" in done.text()
    assert site.revokes() == []
    assert "ci-0" in site.server.token_names("boss")
