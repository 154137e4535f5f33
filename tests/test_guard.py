"""The creation guard, run as cPanel runs it: the real hooks/tokensweeper-hook in its own
process, fed UAPI pre events shaped as cPanel's `_uapi_std_hook` sends them
(Cpanel/EventHandler.pm: data {"args", "result", "user"}; context with
"escalateprivs": 1). stdout decides: `1` allows, `0 MESSAGE` stops the creation and the
account owner reads MESSAGE (docs/cpanel-notes.md).

Runs on every Python of the matrix (3.6 syntax).
"""

import io
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import BIN, DAY, NOW
from tests.test_hook import HOOK, Hook, compact
from tokensweeper import guard
from tokensweeper.web import app

GUARD_90 = "guard:\n  require_expiry: true\n  max_lifetime_days: 90\n"
NO_EXPIRY_90 = b"0 Your host requires API tokens to expire within 90 days; choose an expiry date."


def creation(user, args, result=None):
    """A UAPI Tokens::create_full_access pre event, compact, no newline, as cPanel writes it."""
    where = {"category": "Cpanel", "event": "UAPI::Tokens::create_full_access", "stage": "pre"}
    context = dict(where, point="main", escalateprivs=1)
    registered = dict(where, hook=HOOK, exectype="script", weight="100", blocking="1",
                      escalateprivs="1", id="2a3e4c1e-6f1a-4c52-9a43-0d6b5c1a1f00")
    return compact({"context": context,
                    "data": {"args": args, "result": result, "user": user},
                    "hook": registered})


@pytest.fixture
def guarded(tmp_path):
    h = Hook(tmp_path)
    h.config(GUARD_90)
    return h


def blocked_records(h):
    return [r for r in h.audit() if r["event"] == "creation-blocked"]


# -- allowed and refused -----------------------------------------------------------


def test_an_expiry_within_the_limit_is_allowed_silently(guarded):
    out, err = guarded.run(creation("alice", {"name": "deploy",
                                              "expires_at": str(NOW + 30 * DAY)}))
    assert out == b"1"  # exactly: anything after the 1 would be shown to the account
    assert guarded.audit() == [] and err == ""
    assert guarded.server.calls() == []  # on the request path: no whmapi1


def test_no_expiry_is_refused_with_one_sentence_and_recorded(guarded):
    out, err = guarded.run(creation("alice", {"name": "deploy"}))
    assert out == NO_EXPIRY_90
    [record] = blocked_records(guarded)
    assert record["actor"] == "hook:UAPI::Tokens::create_full_access"
    assert record["epoch"] == NOW and record["mode"] == "guard"  # whatever mode: says
    [token] = record["tokens"]
    assert (token["owner"], token["name"], token["kind"], token["rule"], token["action"]) == (
        "alice", "deploy", "cpanel", "max_lifetime_days", "blocked")
    assert token["reason"] == NO_EXPIRY_90[2:].decode()
    assert guarded.server.calls() == []


@pytest.mark.parametrize("expires_at", ["", "0", 0, "00", None])
def test_never_is_said_every_way_cpanel_reads_it(guarded, expires_at):
    out, _ = guarded.run(creation("alice", {"name": "deploy", "expires_at": expires_at}))
    assert out == NO_EXPIRY_90


def test_an_expiry_past_the_limit_is_refused(guarded):
    out, _ = guarded.run(creation("alice", {"name": "ci", "expires_at": str(NOW + 91 * DAY)}))
    assert out == (b"0 Your host requires API tokens to expire within 90 days; choose an "
                   b"earlier expiry date.")
    [token] = [t for r in blocked_records(guarded) for t in r["tokens"]]
    assert (token["name"], token["expires_at"], token["full_access"], token["ip_limited"]) == (
        "ci", NOW + 91 * DAY, True, False)


@pytest.mark.parametrize("expires_at", ["99999999999999", "67767976233521999"])
def test_a_far_future_epoch_cpanel_accepts_is_refused(guarded, expires_at):
    out, _ = guarded.run(creation("alice", {"name": "ci", "expires_at": expires_at}))
    assert out.endswith(b"choose an earlier expiry date.")


@pytest.mark.parametrize("expires_at", ["0" * 18, "0" * 40, "0" * 5000])
def test_never_with_leading_zeros_is_still_never(guarded, expires_at):
    # cPanel's epoch_or_die reads any run of digits numerically: 18 zeros are 0, "never".
    out, _ = guarded.run(creation("alice", {"name": "deploy", "expires_at": expires_at}))
    assert out == NO_EXPIRY_90


@pytest.mark.parametrize("padding", [1, 20, 5000])
def test_leading_zeros_do_not_hide_a_far_expiry(guarded, padding):
    # "000...09999999999" is a valid epoch to cPanel (year 2286): the limit still applies.
    out, _ = guarded.run(creation("alice", {"name": "ci",
                                            "expires_at": "0" * padding + "9999999999"}))
    assert out.endswith(b"choose an earlier expiry date.")
    [token] = [t for r in blocked_records(guarded) for t in r["tokens"]]
    assert token["expires_at"] == 9999999999


def test_leading_zeros_within_the_limit_are_allowed(guarded):
    out, _ = guarded.run(creation("alice", {"name": "ci",
                                            "expires_at": "0" * 30 + str(NOW + 30 * DAY)}))
    assert out == b"1"


def test_an_epoch_past_cpanels_limit_is_left_to_cpanel(guarded):
    # epoch_or_die refuses anything above 67767976233521999 with its own message.
    for expires_at in ("67767976233522000", "9" * 18, "0" * 3 + "9" * 18):
        out, _ = guarded.run(creation("alice", {"name": "ci", "expires_at": expires_at}))
        assert out == b"1", expires_at


def test_a_number_for_a_name_is_still_a_name(guarded):
    out, _ = guarded.run(creation("alice", {"name": 2026}))
    assert out == NO_EXPIRY_90
    assert blocked_records(guarded)[0]["tokens"][0]["name"] == "2026"


def test_any_time_on_the_last_allowed_day_counts(guarded):
    last = NOW + 90 * DAY + DAY - 1
    out, _ = guarded.run(creation("alice", {"name": "ci", "expires_at": last}))
    assert out == b"1"
    out, _ = guarded.run(creation("alice", {"name": "ci", "expires_at": last + 1}))
    assert out.startswith(b"0 ")


def test_require_expiry_alone_takes_any_expiry(guarded):
    guarded.config("guard:\n  require_expiry: true\n")
    out, _ = guarded.run(creation("bob", {"name": "ci", "expires_at": str(NOW + 3000 * DAY)}))
    assert out == b"1"
    out, _ = guarded.run(creation("bob", {"name": "ci"}))
    assert out == b"0 Your host requires API tokens to expire; choose an expiry date."


def test_what_cpanel_refuses_itself_is_left_to_cpanel(guarded):
    # cPanel's own validation answers these (no name, an expiry that is not an epoch).
    for args in ({}, {"name": ""}, {"name": "ci", "expires_at": "next week"}):
        out, _ = guarded.run(creation("alice", args))
        assert out == b"1", args
    assert guarded.audit() == []


# -- exemptions ----------------------------------------------------------------------


# NOW is 2026-11-27T12:00:00Z: cPanel stamps its tokens' names with the time it makes them.
CPMOVE_NOW = "cpmove_2026-11-27T11_59_58Z_1c6b"      # Cpanel/RemoteAPI/cPanel/TemporaryToken.pm
MAIL_NODE_NOW = "MailNodeLinkage-2026-11-27T11-59-58Z"  # .../Convert/Common/Mail/ToRemote.pm


def child_account(h, user, workloads="Mail"):
    """cPanel's user file of a linked node's child account (PRIVATE_createacct_child)."""
    directory = os.path.join(h.cpanel_root, "var", "cpanel", "users")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, user), "w") as handle:
        handle.write("DNS=%s.example\nCHILD_WORKLOADS=%s\nOWNER=root\n" % (user, workloads))


@pytest.mark.parametrize("args", [
    # the Transfer Tool: expires_at = time() + 86400, on the destination's clock
    {"name": CPMOVE_NOW, "expires_at": str(NOW - 2 + DAY)},
    {"name": "cpmove_2026-11-27T05_00_00Z_0", "expires_at": str(NOW - 7 * 3600 + DAY)},
    {"name": MAIL_NODE_NOW},                                # linked mail node, no expiry
    {"name": "MailNodeLinkage-2026-11-28T01-00-00Z"},       # the other node's clock ahead
])
def test_the_tokens_cpanel_creates_for_itself_are_always_allowed(guarded, args):
    out, _ = guarded.run(creation("alice", args))
    assert out == b"1"
    assert guarded.audit() == []


def test_plain_mail_node_linkage_is_allowed_on_a_child_account_only(guarded):
    # cPanel makes it right after PRIVATE_createacct_child (LinkedNode/Worker/WHM/Accounts.pm)
    child_account(guarded, "alice")
    assert guarded.run(creation("alice", {"name": "MailNodeLinkage"}))[0] == b"1"
    child_account(guarded, "bob", workloads="")
    assert guarded.run(creation("bob", {"name": "MailNodeLinkage"}))[0] == NO_EXPIRY_90
    assert guarded.run(creation("carol", {"name": "MailNodeLinkage"}))[0] == NO_EXPIRY_90


@pytest.mark.parametrize("args", [
    {"name": "MailNodeLinkage-evil"}, {"name": "MailNodeLinkage2"}, {"name": "cpmove_anything"},
    {"name": "mailnodelinkage"},
    {"name": "MailNodeLinkage"},                       # an ordinary account: never cPanel's
    # cPanel's shapes, but not made as cPanel makes them:
    {"name": CPMOVE_NOW},                              # no expiry
    {"name": CPMOVE_NOW, "expires_at": ""},
    {"name": "cpmove_2026-11-20T12_00_00Z_1c6b"},      # stamped a week ago
    {"name": "cpmove_2031-01-01T00_00_00Z_ab"},        # stamped years ahead
    {"name": "MailNodeLinkage-2026-11-20T12-00-00Z"},  # stamped a week ago
    {"name": "MailNodeLinkage-2026-11-29T12-00-00Z"},  # two days ahead
    {"name": "MailNodeLinkage-2026-10-58T12-00-00Z"},  # no date (read loosely: Nov 27th)
])
def test_names_that_only_look_like_cpanels_are_not_exempt(guarded, args):
    out, _ = guarded.run(creation("alice", args))
    assert out == NO_EXPIRY_90


def test_a_cpmove_name_with_an_expiry_cpanel_never_gives_is_refused(guarded):
    guarded.config("guard:\n  max_lifetime_days: 1\n")
    # a day ahead of its stamp is cPanel's; a week, a month or a stamp a day off is not
    assert guarded.run(creation("alice", {"name": CPMOVE_NOW,
                                          "expires_at": str(NOW + DAY)}))[0] == b"1"
    for expires in (NOW + 7 * DAY, NOW + 30 * DAY):
        out, _ = guarded.run(creation("alice", {"name": CPMOVE_NOW, "expires_at": expires}))
        assert out.startswith(b"0 Your host requires API tokens to expire within 1 day;")


def test_the_admins_exempt_names(guarded):
    guarded.config(GUARD_90 + "  exempt_names: [monitor-*]\n")
    assert guarded.run(creation("alice", {"name": "monitor-uptime"}))[0] == b"1"
    assert guarded.run(creation("alice", {"name": "deploy"}))[0] == NO_EXPIRY_90


# -- renames: an exempt name is no way around the rules ---------------------------------------


def rename(user, name, new_name):
    """A UAPI Tokens::rename pre event (Cpanel/API/Tokens.pm: name, new_name)."""
    document = json.loads(creation(user, {}).decode())
    for part in ("context", "hook"):
        document[part]["event"] = "UAPI::Tokens::rename"
    document["data"]["args"] = {"name": name, "new_name": new_name}
    return compact(document)


@pytest.fixture
def account_tokens(guarded):
    server = guarded.server
    server.add_account("alice")
    server.add_cpanel_token("alice", "MailNodeLinkage", NOW - DAY)  # made without expiry
    server.add_cpanel_token("alice", "monitor-x", NOW - DAY, expires_at=NOW + 30 * DAY)
    server.write_token_files(guarded.cpanel_root)
    guarded.config(GUARD_90 + "  exempt_names: [monitor-*]\n")
    return guarded


def test_renaming_an_exempt_token_without_expiry_away_from_its_name_is_refused(account_tokens):
    out, _ = account_tokens.run(rename("alice", "MailNodeLinkage", "deploy"))
    assert out == (b"0 Your host requires API tokens to expire within 90 days; create a new "
                   b"token with an expiry date instead of renaming this one.")
    [record] = blocked_records(account_tokens)
    [token] = record["tokens"]
    assert (token["name"], token["renamed_to"], token["expires_at"]) == (
        "MailNodeLinkage", "deploy", None)
    assert record["actor"] == "hook:UAPI::Tokens::rename"  # the Audit tab's "by" column


@pytest.mark.parametrize("name, new_name", [
    ("monitor-x", "deploy"),                    # it has an expiry within the limit
    ("MailNodeLinkage", "monitor-y"),           # to another exempt name
    ("deploy-old", "deploy"),                   # not exempt: judged when it was created
    ("MailNodeLinkage", "MailNodeLinkage"),     # cPanel refuses it itself
    ("no-such-token", "deploy"),
])
def test_other_renames_are_allowed(account_tokens, name, new_name):
    out, _ = account_tokens.run(rename("alice", name, new_name))
    assert out == b"1"
    assert blocked_records(account_tokens) == []


def test_a_rename_whose_token_file_cannot_be_read_is_allowed(account_tokens):
    path = os.path.join(account_tokens.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2",
                        "cpanel", "alice.json")
    os.unlink(path)
    os.symlink("/etc/passwd", path)  # never followed
    out, err = account_tokens.run(rename("alice", "MailNodeLinkage", "deploy"))
    assert out == b"1" and "internal error, the request is allowed" in err
    out, err = account_tokens.run(rename("../alice", "MailNodeLinkage", "deploy"))
    assert out == b"1"


# -- off, broken, hostile --------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "mode: enforce\n", "guard:\n", "guard: null\n"])
def test_without_guard_every_creation_is_allowed(tmp_path, text):
    h = Hook(tmp_path)
    if text is not None:
        h.config(text)
    out, err = h.run(creation("alice", {"name": "deploy"}))
    assert out == b"1" and err == ""
    assert h.audit() == []


def test_an_unreadable_config_allows_and_says_so(guarded):
    os.unlink(guarded.config_path)
    os.mkdir(guarded.config_path)  # unreadable even for root
    out, err = guarded.run(creation("alice", {"name": "deploy"}))
    assert out == b"1"
    assert "the config cannot be read, the creation is allowed" in err
    [record] = guarded.audit()
    assert record["event"] == "guard-error" and "alice" in record["note"]


def test_a_broken_config_allows_and_says_so(guarded):
    guarded.config("guard:\n  max_lifetime_days: ninety\n")
    out, err = guarded.run(creation("alice", {"name": "deploy"}))
    assert out == b"1"
    assert "max_lifetime_days" in err
    assert [r["event"] for r in guarded.audit()] == ["guard-error"]


def test_an_internal_error_allows_the_creation(guarded):
    out, err = guarded.run(creation("alice", {"name": "deploy"}), TOKENSWEEPER_NOW="soon")
    assert out == b"1"
    assert "internal error, the request is allowed" in err


def test_an_audit_log_that_cannot_be_written_still_refuses(guarded):
    os.makedirs(guarded.state_dir)
    os.mkdir(os.path.join(guarded.state_dir, "audit.log"))  # a directory in the way
    out, err = guarded.run(creation("alice", {"name": "deploy"}))
    assert out == NO_EXPIRY_90
    assert "could not record it" in err


@pytest.mark.parametrize("stdin", [
    b"create_full_access",
    b'{"context":{"event":"UAPI::Tokens::create_full_access"',
    b"\xff\xfe create_full_access \x00",
    creation("alice", {"name": "deploy"})[:-1],
])
def test_garbage_on_stdin_never_refuses(guarded, stdin):
    out, _ = guarded.run(stdin)
    assert not out.startswith(b"0")
    assert blocked_records(guarded) == []


def oversized(args, context_last=False):
    """A creation event padded past the hook's 10 MiB read limit by an argument cPanel
    ignores (Cpanel::Args passes every form field to the hook; _create reads two)."""
    raw = creation("alice", dict(args, padding="x" * (11 << 20)))
    if context_last:  # Perl's hash order is random: the context may come after the data
        document = json.loads(raw.decode())
        raw = compact({"data": document["data"], "hook": document["hook"],
                       "context": document["context"]})
    return raw


@pytest.mark.parametrize("context_last", [False, True])
def test_padding_a_creation_past_the_read_limit_does_not_slip_past_the_guard(guarded,
                                                                           context_last):
    # Without a check, the hook answered "too large, nothing to do" (allowed) and cPanel
    # created a token without expiry: 11 MiB of an ignored argument beat every rule.
    out, err = guarded.run(oversized({"name": "deploy"}, context_last))
    assert out == (b"0 Your host cannot check an API token request this large; send only "
                   b"the token's name and expiry date.")
    [record] = blocked_records(guarded)
    assert record["tokens"][0]["rule"] == "oversized_request"
    assert record["tokens"][0]["owner"] == "?"  # nothing of the event is trusted
    assert "larger than 10 MiB" in err


def test_padding_a_rename_past_the_read_limit_gets_a_renames_sentence(account_tokens):
    # It read the creation's "send only the token's name and expiry date": a rename has
    # no expiry date to send.
    event = json.loads(rename("alice", "MailNodeLinkage", "deploy").decode())
    event["data"]["args"]["padding"] = "x" * (11 << 20)
    out, _ = account_tokens.run(compact(event))
    assert out == (b"0 Your host cannot check an API token rename request this large; send "
                   b"only the token's name and its new name.")
    [record] = blocked_records(account_tokens)
    assert record["actor"] == "hook:UAPI::Tokens::rename"
    assert record["tokens"][0]["rule"] == "oversized_request"
    assert record["tokens"][0]["renamed_to"] == "?"  # nothing of the event is trusted


def test_the_guide_quotes_every_sentence_an_oversized_request_gets():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "creation-guard.md"), encoding="utf-8") as handle:
        rows = [line for line in handle if line.startswith("| ")]
    for sentence in (guard.OVERSIZED_MESSAGE, guard.OVERSIZED_RENAME_MESSAGE):
        assert any(line.rstrip().endswith("| `%s` |" % sentence) for line in rows), sentence


def test_an_oversized_creation_without_guard_is_allowed(tmp_path):
    h = Hook(tmp_path)
    h.config("mode: preview\n")
    out, _ = h.run(oversized({"name": "deploy"}))
    assert out.startswith(b"1")
    assert h.audit() == []


@pytest.mark.parametrize("config", ["guard: {}\n", "guard:\n  exempt_names: [ci-*]\n"])
def test_an_oversized_creation_is_allowed_when_no_rule_could_refuse_it(tmp_path, config):
    # guard: without require_expiry or max_lifetime_days turns on the watch of WHM tokens
    # only: no creation breaks it, however large, so none is refused as too large to check.
    h = Hook(tmp_path)
    h.config(config)
    out, _ = h.run(oversized({"name": "deploy"}))
    assert out == b"1"
    assert blocked_records(h) == []


def test_an_oversized_other_event_is_not_the_guards(guarded):
    # The guard's event name as an argument's VALUE is JSON-escaped: never taken for it.
    event = {"context": {"category": "Passwd", "event": "ChangePasswd", "stage": "post"},
             "data": {"user": "alice", "note": '"event":"UAPI::Tokens::create_full_access"',
                      "padding": "x" * (11 << 20)}}
    out, _ = guarded.run(compact(event))
    assert out == b"1"
    assert blocked_records(guarded) == []


@pytest.mark.parametrize("data", ["x", [], {"args": "name=deploy", "user": "alice"},
                                  {"args": {"name": ["deploy"]}, "user": ["alice"]}])
def test_misshapen_data_is_allowed(guarded, data):
    document = json.loads(creation("alice", {}).decode())
    document["data"] = data
    out, _ = guarded.run(compact(document))
    assert out == b"1"


def test_a_hostile_account_name_is_kept_out_of_the_record(guarded):
    out, _ = guarded.run(creation("alice\n<script>x", {"name": "de\u202eploy"}))
    assert out == NO_EXPIRY_90
    [token] = blocked_records(guarded)[0]["tokens"]
    assert token["owner"] == "alicescriptx" and token["name"] == "deploy"


def test_the_same_creation_in_a_post_stage_is_not_the_guards(guarded):
    document = json.loads(creation("alice", {"name": "deploy"}).decode())
    document["context"]["stage"] = document["hook"]["stage"] = "post"
    out, _ = guarded.run(compact(document))
    assert out == b"1"  # a UAPI event: any words after the 1 would be shown to the account


# -- the pure decision and the config ---------------------------------------------------------


def test_decide_is_off_without_rules():
    assert guard.decide({"name": "x"}, None, NOW) is None
    assert guard.decide({"name": "x"}, {}, NOW) is None


def test_a_refusal_is_on_the_audit_tab(guarded, monkeypatch):
    guarded.run(creation("alice", {"name": "deploy"}))
    for key, value in guarded.env().items():
        monkeypatch.setenv(key, value)
    out = io.BytesIO()
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "page=audit", "REMOTE_USER": "root",
           "cp_security_token": "/cpsess0123456789",
           "SCRIPT_NAME": "/cpsess0123456789/cgi/tokensweeper/index.cgi",
           "HTTP_HOST": "server.example.com:2087", "REMOTE_ADDR": "192.0.2.10"}
    assert app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
    body = out.getvalue().decode("utf-8")
    assert "token creation blocked" in body and "Blocked at creation" in body
    assert "alice" in body and "deploy" in body
    assert "Your host requires API tokens to expire within 90 days" in body


def page(h, monkeypatch, query):
    """The page's body for a GET of `query`, as root, against the hook's server."""
    for key, value in h.env().items():
        monkeypatch.setenv(key, value)
    out = io.BytesIO()
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": query, "REMOTE_USER": "root",
           "cp_security_token": "/cpsess0123456789",
           "SCRIPT_NAME": "/cpsess0123456789/cgi/tokensweeper/index.cgi",
           "HTTP_HOST": "server.example.com:2087", "REMOTE_ADDR": "192.0.2.10"}
    assert app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
    return out.getvalue().decode("utf-8")


def cli(h, *args):
    child = subprocess.run([sys.executable, BIN] + list(args), env=h.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert child.returncode == 0, child.stderr
    return child.stdout.decode("utf-8")


def test_a_refused_rename_says_the_rename_was_blocked(account_tokens, monkeypatch):
    # It said "Blocked at creation" (page) and "blocked" (audit): the token was made long
    # before; what the guard stopped was its rename.
    account_tokens.run(rename("alice", "MailNodeLinkage", "deploy"))
    [record] = blocked_records(account_tokens)
    body = page(account_tokens, monkeypatch, "page=audit")
    assert "token rename blocked" in body and "1 rename blocked" in body
    assert "Rename blocked" in body
    assert "Blocked at creation" not in body and "token creation blocked" not in body
    body = page(account_tokens, monkeypatch, "page=audit&run=" + record["run_id"])
    assert "Rename blocked" in body and "Blocked at creation" not in body
    listing = cli(account_tokens, "audit")
    assert "1 rename-blocked" in listing
    shown = cli(account_tokens, "audit", "--run", record["run_id"])
    assert "rename-blocked" in shown and "deploy" in shown
    # A refused creation still says so.
    account_tokens.run(creation("alice", {"name": "wide"}))
    body = page(account_tokens, monkeypatch, "page=audit")
    assert "token creation blocked" in body and "Blocked at creation" in body
    assert "1 blocked" in cli(account_tokens, "audit")


def test_settings_say_what_the_guard_does(guarded, monkeypatch):
    for key, value in guarded.env().items():
        monkeypatch.setenv(key, value)
    out = io.BytesIO()
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "page=settings", "REMOTE_USER": "root",
           "cp_security_token": "/cpsess0123456789",
           "SCRIPT_NAME": "/cpsess0123456789/cgi/tokensweeper/index.cgi",
           "HTTP_HOST": "server.example.com:2087", "REMOTE_ADDR": "192.0.2.10"}
    assert app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
    assert "cPanel accounts' new tokens must expire within 90 days" in \
        out.getvalue().decode("utf-8")


def test_settings_say_the_guard_needs_its_hook_registered_and_enabled(guarded, monkeypatch):
    # The row said the rules held, full stop; cPanel runs no hook whose registration is
    # missing or switched off in WHM » Manage Hooks (Cpanel/Hooks.pm skips `disabled`), and
    # the page does not read cPanel's registry: it says what the rules depend on.
    body = " ".join(page(guarded, monkeypatch, "page=settings").split())
    assert ("only while its hook is registered and enabled for UAPI::Tokens::create_full_access "
            "and UAPI::Tokens::rename in WHM » Development » Manage Hooks") in body
    guarded.config("guard:\n  exempt_names: [ci-*]\n")  # no rule: nothing for the hook to do
    body = page(guarded, monkeypatch, "page=settings")
    assert "Manage Hooks" not in body


def test_renaming_into_a_cpanel_shape_is_judged_as_its_creation(account_tokens):
    # A cpmove name is exempt only with cPanel's one-day expiry, not for a token with none.
    out, _ = account_tokens.run(rename("alice", "MailNodeLinkage", CPMOVE_NOW))
    assert out.startswith(b"0 Your host requires API tokens to expire within 90 days;")
    out, _ = account_tokens.run(rename("alice", "MailNodeLinkage", "monitor-z"))
    assert out == b"1"  # the admin's exempt_names


# -- events the guard is not for ---------------------------------------------------------


def through_guard_registration(category, name, stage, data):
    """An event as cPanel writes it, run through the guard's own (blocking, escalated)
    registry entry: the context names the event, the entry the guard's."""
    document = json.loads(creation("alice", {}).decode())
    document["context"] = {"category": category, "event": name, "stage": stage,
                           "point": "main", "escalateprivs": 1}
    document["data"] = data
    return compact(document)


FOREIGN = [
    # A blocking pre stage aborts on ANY message (cpanel-facts §3: suspendacct pre).
    ("Whostmgr", "Accounts::suspendacct", "pre",
     {"args": {"user": "alice", "reason": "unpaid", "disallowun": 0}, "user": "root"}),
    ("Whostmgr", "Accounts::Create", "pre",
     {"user": "alice", "domain": "alice.example", "owner": "root", "pass": "s3cret",
      "is_restore": 0}),
    ("Whostmgr", "Accounts::Remove", "post",  # post, but through the guard's entry
     {"user": "alice", "killdns": 1, "keep_remote_databases": 0, "if_child": None}),
    # UAPI events: a message after the 1 is shown to the account.
    ("Cpanel", "UAPI::Tokens::create_full_access", "post",
     {"args": {"name": "deploy"}, "result": {"token": "X" * 32}, "user": "alice"}),
    ("Cpanel", "UAPI::Tokens::revoke", "pre", {"args": {"name": "deploy"}, "result": None,
                                              "user": "alice"}),
    ("Cpanel", "UAPI::Tokens::list", "pre", {"args": {}, "result": None, "user": "alice"}),
]


FOREIGN_OVERSIZED = FOREIGN[:1] + FOREIGN[3:4]  # suspendacct pre; create_full_access post


@pytest.mark.parametrize("category, name, stage, data", FOREIGN)
def test_an_event_the_guard_is_not_for_is_allowed_without_a_word(guarded, category, name,
                                                                  stage, data):
    for raw in (through_guard_registration(category, name, stage, data),
                compact({"context": {"category": category, "event": name, "stage": stage,
                                     "point": "main"}, "data": data})):
        out, err = guarded.run(raw)
        if stage == "post" and category != "Cpanel" and b'"hook"' not in raw:
            assert out.startswith(b"1 tokensweeper: ")  # an admin's post stage: said
        else:
            assert out == b"1", out  # nothing that cPanel could take for a refusal
        assert "is not an event this hook handles" in err or out != b"1"
        assert "Traceback" not in err and "internal error" not in err
    assert guarded.audit() == [] and guarded.server.calls() == []


# -- many exempt_names -------------------------------------------------------------------------


def test_hundreds_of_exempt_names_match_exactly_as_globs_do():
    import fnmatch
    import random

    rng = random.Random(29)
    globs = ["%s-*" % "".join(rng.choice("abcxyz") for _ in range(4)) for _ in range(480)]
    globs += ["*-svc%02d-[0-9]?" % i for i in range(10)] + ["ci", "ci-?", "[!a-m]*-ro",
                                                            "dep[a-c]oy*", "x[*]y", "a]b"]
    names = ["ci", "ci-1", "ci-12", "web-svc03-7x", "web-svc03-x7", "zz-ro", "aa-ro", "depboy",
             "deploy", "x*y", "a]b", "ab"] + [g.replace("*", "tail") for g in globs[:50]]
    exempt = guard.ExemptNames(globs)
    for name in names + ["".join(rng.choice("abcxyz-") for _ in range(7)) for _ in range(300)]:
        assert (name in exempt) == any(fnmatch.fnmatchcase(name, g) for g in globs), name
    rules = {"max_lifetime_days": 90, "exempt_names": globs}
    assert guard.decide({"name": "web-svc03-7x"}, rules, NOW) is None
    assert guard.decide({"name": "web-svc03-x7"}, rules, NOW)[0] == "max_lifetime_days"


@pytest.mark.parametrize("category, name, stage, data", FOREIGN_OVERSIZED)
def test_an_oversized_event_through_the_guards_registration_is_not_refused(
        guarded, category, name, stage, data):
    # Its registry entry ("hook") names the guard's event; only the context says which
    # event this is. Before, the entry's name made it the guard's: refused, with guard: set.
    out, err = guarded.run(through_guard_registration(category, name, stage,
                                                      dict(data, padding="x" * (11 << 20))))
    assert out == b"1"
    assert blocked_records(guarded) == [] and "Traceback" not in err


def test_the_readme_quotes_the_sentence_an_account_owner_reads():
    """The README and the guide promise the owner one exact sentence: the one decide() gives."""
    _, sentence = guard.decide({"name": "deploy"}, {"max_lifetime_days": 90}, NOW)
    assert sentence.encode() in NO_EXPIRY_90
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for doc in ("README.md", os.path.join("docs", "creation-guard.md")):
        with open(os.path.join(root, doc), encoding="utf-8") as handle:
            text = " ".join(handle.read().split())  # the README wraps it over lines
        assert sentence in text, doc
