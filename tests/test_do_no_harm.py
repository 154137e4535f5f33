"""Issue 25, "Do no harm": the tokens cPanel itself depends on are never swept, a notice
is a promise kept the same way everywhere, bad input is refused whole (never cut, never a
crash), and the two kinds of token stay apart in every output.

Each test here failed on the code before issue 25. Runs on every Python of the matrix.
"""

import importlib.util
import io
import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import DAY, NOW, REPO, Cli, new_server
from tests.test_notify import Server, by_recipient
from tests.test_web_cgi import Site
from tokensweeper import audit, notify
from tokensweeper.policy import (
    KEEP,
    PROTECTED,
    REVOKE,
    Notice,
    Protection,
    Selectors,
    confirmation_changes,
    make_plan,
    notice_states,
)
from tokensweeper.tokens import CPANEL, NAME_RE, Token, parse_token_list
from tokensweeper.usage import TokenUsage, UsageFacts

CREATED = NOW - 900 * DAY
EVERY_ROOT_ACL = {"all": 1, "list-accts": 1, "create-acct": 1, "clustering": 1}


def root_token(name, created=CREATED, expires=None, acls=None):
    """A root token as cPanel 11.120 lists it (full access: every ACL key 1, `all` too)."""
    return parse_token_list("root", {"tokens": {name: {
        "name": name, "create_time": created, "expires_at": expires,
        "acls": EVERY_ROOT_ACL if acls is None else acls}}})[0]


def protected(token, **kwargs):
    return Protection(**kwargs).reason(token) is not None


# -- 1. Tokens cPanel creates for itself ------------------------------------------------

LINKED = "PARENT-DO_NOT_DELETE-child_example-k3j9x2m1qz"  # main.js _generateTokenName


def test_a_linked_server_nodes_token_survives_the_riskiest_sweep():
    """`sweep --full-access --no-expiry --older-than 365` used to revoke the parent node's
    token on the child node: the link and every distributed account's mail broke."""
    tokens = [root_token(LINKED), root_token("forgotten-ci")]
    plan = make_plan(tokens, None, Selectors(full_access=True, no_expiry=True,
                                             older_than_days=365), Protection(), NOW)
    decisions = {item.token.name: item.decision for item in plan.items}
    assert decisions == {LINKED: PROTECTED, "forgotten-ci": REVOKE}
    assert plan.reason_of(tokens[0]).startswith(
        "protected: linked server node token (WHM » Link Server Nodes) (built-in rule "
        "PARENT-DO_NOT_DELETE-<host>-<id>)")
    # A long hostname: cPanel cuts the prefix to keep the name within 50 characters.
    cut = ("PARENT-DO_NOT_DELETE-" + "a-very-long-child-node-name")[:49 - 10] + "-0123456789"
    assert len(cut) == 50 and NAME_RE.match(cut) and protected(root_token(cut))


def test_a_linked_node_token_of_a_root_level_reseller_is_protected_too():
    """Cpanel/LinkedNode.pm: the credentials are a root-level administrator's."""
    token = Token("admin2", LINKED, CREATED, None, {"all": True})
    assert protected(token, reseller_acls={"admin2": ["all"]})
    assert protected(token)  # the resellers file cannot be read: nobody can tell
    assert not protected(Token("res1", LINKED, CREATED, None, {"list-accts": True}),
                         reseller_acls={"res1": ["list-accts"]})


@pytest.mark.parametrize("token", [
    root_token(LINKED, expires=NOW + DAY),  # cPanel's never expires
    root_token(LINKED, acls={"all": 0, "list-accts": 1}),  # cPanel's has ACL all
    root_token("PARENT-DO_NOT_DELETE"),
    root_token("PARENT-DO_NOT_DELETE-host-UPPER"),  # base36 digits are lowercase
    root_token("parent-do_not_delete-host-k3j9x2"),
])
def test_a_linked_node_lookalike_is_no_protection(token):
    assert not protected(token)


def cpmove(created, hex_part="1c6b", expires=None):
    """cPanel's transfer token: "${prefix}_${isotime}_$hex" with every ':' made '_',
    valid for 24 hours (Cpanel/RemoteAPI/cPanel/TemporaryToken.pm)."""
    import time

    name = "cpmove_%s_%s" % (time.strftime("%Y-%m-%dT%H_%M_%SZ", time.gmtime(created)),
                             hex_part)
    return Token("shop1", name, created, created + DAY if expires is None else expires,
                 kind=CPANEL, full_access=True)


def test_a_cpanel_transfer_token_is_matched_in_the_shape_cpanel_gives_it():
    token = cpmove(NOW - 3600)
    assert token.name == "cpmove_2026-11-27T11_00_00Z_1c6b"
    assert Protection().reason(token) == (
        "protected: cPanel transfer token (built-in rule cpmove_<creation time>_<hex>)")
    # Lookalikes: the hyphens the old rule expected, a stamp that is not its creation, a
    # token that never expires or is limited.
    assert not protected(Token("shop1", "cpmove_2026-11-27T11-00-00Z_1c6b", NOW - 3600,
                               NOW - 3600 + DAY, kind=CPANEL, full_access=True))
    assert not protected(cpmove(NOW - 3600, expires=None) if False else Token(
        "shop1", token.name, NOW - 3600, None, kind=CPANEL, full_access=True))
    assert not protected(Token("shop1", token.name, NOW - 3600, NOW - 3600 + DAY,
                               kind=CPANEL, full_access=False))
    assert not protected(Token("shop1", token.name, NOW - 5 * DAY, NOW - 4 * DAY,
                               kind=CPANEL, full_access=True))


def test_a_converted_access_hash_is_protected_for_root_and_resellers():
    stamp = CREATED + 2
    for owner in ("root", "res1"):
        token = Token(owner, "accesshash-%d" % stamp, CREATED, None, {"all": True})
        assert Protection().reason(token) == (
            "protected: converted access hash (billing systems such as WHMCS may still use it) "
            "(built-in rule accesshash-<creation epoch>)")
    # The name cPanel falls back to when the first is taken.
    assert protected(Token("root", "accesshash-%d-7QZ0K2AB" % stamp, CREATED, None,
                           {"all": True}))
    # Lookalikes: a number that is not its creation time, a limited token, an expiry.
    assert not protected(Token("root", "accesshash-%d" % (stamp - 5 * DAY), CREATED, None,
                               {"all": True}))
    assert not protected(root_token("accesshash-%d" % stamp, acls={"all": 0, "x": 1}))
    assert not protected(Token("root", "accesshash-%d" % stamp, CREATED, NOW + DAY,
                               {"all": True}))
    assert not protected(Token("root", "accesshash-%d-lower123" % stamp, CREATED, None,
                               {"all": True}))


TRUST = "reverse_trust_3f2b8c1e-9d4a-4c6b-8e2f-1a2b3c4d5e6f"
CLUSTER_ONLY = {"all": 0, "clustering": 1, "list-accts": 0}


@pytest.mark.parametrize("name,acls,expected", [
    (TRUST, CLUSTER_ONLY, True),
    (TRUST, {"clustering": "1", "list-accts": "0"}, True),  # values as strings
    (TRUST, EVERY_ROOT_ACL, False),  # cPanel's holds clustering only
    (TRUST, {"all": 0, "clustering": 1, "list-accts": 1}, False),
    ("reverse_trust_ns1", CLUSTER_ONLY, False),  # not a UUID
    (TRUST.upper().replace("REVERSE_TRUST_", "reverse_trust_"), CLUSTER_ONLY, False),
    ("reverse_trust_3f2b8c1e-9d4a-1c6b-8e2f-1a2b3c4d5e6f", CLUSTER_ONLY, False),  # v1
    ("reverse_trust_3f2b8c1e-9d4a-4c6b-7e2f-1a2b3c4d5e6f", CLUSTER_ONLY, False),  # variant
])
def test_dns_cluster_trust_is_the_exact_uuid_shape_and_acl_set(name, acls, expected):
    assert protected(root_token(name, acls=acls)) is expected


def test_a_resellers_full_access_token_is_judged_from_its_listing():
    """cPanel drops the ACLs of disabled dynamic components from a reseller's listing
    (Whostmgr/ACLS.pm get_filtered_reseller_privs): the resellers file names one more ACL
    than the listing shows, and the token still has full access."""
    listed = {"list-accts": "1", "create-acct": "1"}  # granted ACLs as strings, too
    owner_acls = ("list-accts", "create-acct", "software-ConfigServer-csf")
    (token,) = parse_token_list("res1", {"tokens": {"deploy": {
        "name": "deploy", "create_time": CREATED, "expires_at": None, "acls": listed}}},
        owner_acls)
    assert token.full_access
    plan = make_plan([token], None, Selectors(full_access=True), Protection(), NOW)
    assert plan.to_revoke() == [token]
    (narrow,) = parse_token_list("res1", {"tokens": {"ro": {
        "name": "ro", "create_time": CREATED, "acls": {"list-accts": 1, "create-acct": 0}}}},
        owner_acls)
    assert not narrow.full_access


# -- 2. A notice is a promise, kept the same way everywhere ------------------------------


def unused_usage(uses, oldest=NOW - 400 * DAY):
    return UsageFacts(tokens=uses, oldest=oldest, newest=NOW)


def test_use_does_not_cancel_a_notice_when_the_token_stays_selected():
    """An age rule on a token in daily use: the notice stands (it used to be voided every
    night and sent again, 24 mails in 12 days, never a revocation); the hook, which reads
    no usage log for this policy, judges the same."""
    token = Token("root", "nightly", NOW - 400 * DAY, None, {"all": True})
    sent = NOW - 8 * DAY
    notices = {token.identity(): Notice(token.identity(), sent, sent + 7 * DAY)}
    daily = unused_usage({("root", "nightly"): TokenUsage(NOW - 3600, "10.0.0.1", 300)})
    selectors = Selectors(older_than_days=365)
    for usage in (daily, None):  # cron and the page read the log; the hook does not
        plan = make_plan([token], usage, selectors, Protection(), NOW)
        state = notice_states(plan, notices, 7, NOW)[token.key()]
        assert not state.new and state.is_due(NOW)
    from tokensweeper.sweep import evidence_for

    assert evidence_for(selectors) is None  # nothing about it depends on use


def test_use_cancels_a_notice_only_when_it_takes_the_token_out_of_the_selection():
    token = Token("root", "ci", NOW - 400 * DAY, None, {"all": True})
    sent = NOW - 40 * DAY
    notices = {token.identity(): Notice(token.identity(), sent, sent + 7 * DAY)}
    used = unused_usage({("root", "ci"): TokenUsage(NOW - 35 * DAY, None, 1)})
    unused = Selectors(unused_for_days=30)
    plan = make_plan([token], used, unused, Protection(), NOW)
    assert plan.to_revoke() == [token]  # unused for 30 days again
    assert notice_states(plan, notices, 7, NOW)[token.key()].new  # the use ended the notice
    # The policy's other criterion (combine any) selected it all along: the notice stands.
    both = Selectors(unused_for_days=30, no_expiry=True, combine="any")
    plan = make_plan([token], used, both, Protection(), NOW)
    assert not notice_states(plan, notices, 7, NOW)[token.key()].new


def test_a_use_of_bobs_whm_token_never_voids_the_notice_of_his_cpanel_token():
    cp_token = Token("bob", "deploy", NOW - 300 * DAY, NOW - DAY, kind=CPANEL, full_access=True)
    notices = {cp_token.identity(): Notice(cp_token.identity(), NOW - 8 * DAY, NOW - DAY)}
    whm_use = unused_usage({("bob", "deploy"): TokenUsage(NOW - 3600, "10.0.0.1", 5)})
    for selectors in (Selectors(expired=True), Selectors(expired=True, unused_for_days=30,
                                                         combine="any")):
        plan = make_plan([cp_token], whm_use, selectors, Protection(), NOW)
        assert plan.to_revoke() == [cp_token]
        assert not notice_states(plan, notices, 7, NOW)[cp_token.key()].new
    assert whm_use.last_use(cp_token) is None


AGE_NOTICE_CONFIG = """\
mode: enforce
policy:
  older_than_days: 365
notify:
  notice_days: 7
  recipients: [owner]
"""


def test_an_age_rule_on_a_token_in_daily_use_mails_once_and_revokes_when_due(tmp_path):
    """Reproduced in issue 25: 24 mails in 12 days and never a revocation."""
    box = Server(tmp_path)
    box.cli.config(AGE_NOTICE_CONFIG)
    box.fake.add_token("root", "nightly", NOW - 400 * DAY)
    for day in range(13):
        box.use(NOW + day * DAY - 3600, "root", "nightly")  # used every night
        run = box.run(day)
        assert run.status == 0, run
        if "nightly" not in box.fake.token_names("root"):
            break
    assert day == 7  # due 7 days after the one notice
    assert len(box.messages()) == 1
    assert by_recipient(box.messages())["admin@example.com"]["Subject"].endswith(
        "] 1 API token will be revoked on 2026-12-04")


# -- 3. Bad input is refused whole, never cut, never a crash -----------------------------


def incident_form(**values):
    from tokensweeper.web.incident import Form

    return Form(lambda name: values.get(name, ""), NOW)


def test_the_incident_form_reads_49_long_networks_whole():
    """The form cut `used_from` at 2,000 characters: 49 networks under the 50-network limit
    silently lost the last ones."""
    typed = ["2001:db8:aaaa:bbbb:cccc:dddd:eeee:%04x/128" % n for n in range(49)]
    text = " ".join(typed)
    assert len(text) > 2000
    form = incident_form(used_from=text)
    assert form.errors == []
    assert len(form.selectors.used_from) == 49
    assert form.selectors.used_from[-1] == "2001:db8:aaaa:bbbb:cccc:dddd:eeee:30/128"


def test_an_incident_field_over_its_limit_is_refused_never_cut():
    """Cut at 2,000 characters, `... 203.0.113.77` became 203.0.113.7 (another host)."""
    text = " " * (2000 - len("203.0.113.7")) + "203.0.113.77"
    assert text[:2000].split() == ["203.0.113.7"]
    form = incident_form(used_from=text + " " * 1000)
    assert form.selectors is None
    assert form.errors == ["used from: longer than 2600 characters (3001), so not read"]
    form = incident_form(created_after="2026-11-20" + " " * 95 + "x")
    assert form.selectors is None
    assert form.errors == ["created after: longer than 100 characters (106), so not read"]


def test_the_incident_page_answers_400_naming_the_limit(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    from urllib.parse import urlencode

    reply = site.get("page=incident&" + urlencode({"used_from": "203.0.113.77 " * 250}))
    assert reply.status == 400
    assert "longer than 2600 characters" in reply.text()


def test_an_overview_filter_over_its_limit_is_refused(tmp_path, monkeypatch):
    site = Site(tmp_path, monkeypatch)
    assert site.get("q=" + "a" * 101).status == 400
    assert site.get("q=" + "a" * 100).status == 200


@pytest.mark.parametrize("value", ["foo\n", "root\n"])
def test_a_trailing_newline_is_no_valid_name(value):
    from tokensweeper.config import OWNER_RE as CONFIG_OWNER_RE
    from tokensweeper.owners import OWNER_RE, valid_owner

    assert not NAME_RE.match(value) and not OWNER_RE.match(value)
    assert not CONFIG_OWNER_RE.match(value) and not valid_owner(value.replace("root", "bob"))


def test_the_pinned_clock_pattern_takes_digits_only():
    from tokensweeper import clock

    assert clock.PINNED_RE.match("1795000000")
    assert not clock.PINNED_RE.match("1795000000\n")


@pytest.mark.parametrize("args,message", [
    (("--created-after", "999999w"), "'999999w' is more than 36500 days back"),
    (("--used-after", "36000d"), "'36000d' reaches back before 1970-01-01"),
    (("--older-than", "99999999"), "expected a whole number of days (1 to 36500)"),
    (("--unused-for", "\u00b2"), "expected a whole number of days (1 to 36500)"),
])
def test_a_value_outside_a_sane_range_is_a_usage_error(tmp_path, args, message):
    """`--created-after 999999w` printed a year -17139; `--unused-for ²` was a traceback."""
    cli = Cli(new_server(tmp_path / "server"), tmp_path / "run")
    run = cli("plan", *args)
    assert run.status == 2, run
    assert message in run.err and "Traceback" not in run.err


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8)
RECORD_FIELDS = ("event", "time", "epoch", "run_id", "actor", "mode", "selectors", "tokens",
                 "owner_errors", "refused", "problems", "held_back", "confirmation", "mail",
                 "note")
TOKEN_FIELDS = ("owner", "name", "action", "reason", "kind", "create_time", "expires_at",
                "full_access", "ip_limited", "identity", "seen_from", "seen_from_truncated",
                "last_used", "account_owner", "recipients", "due_epoch", "reminder_days")
GOOD_TOKEN = {"owner": "root", "name": "ci", "action": "revoked", "reason": "expired",
              "kind": "whm", "create_time": CREATED, "expires_at": None, "full_access": True,
              "ip_limited": False, "last_used": "never used",
              "seen_from": [{"ip": "203.0.113.7", "uses": 2, "first": None,
                             "last": "2026-11-20T10:00:00Z"}]}


@st.composite
def damaged_records(draw):
    token = dict(GOOD_TOKEN)
    for field in draw(st.lists(st.sampled_from(TOKEN_FIELDS), max_size=4, unique=True)):
        token[field] = draw(JSON)
    record = {"event": draw(st.sampled_from(["outcome", "intent", "preview", "notice",
                                             "refused", "snapshot", "hook"])),
              "time": "2026-11-27T12:00:00Z", "epoch": NOW, "run_id": "20261127T120000Z-abc123",
              "actor": "root", "mode": "enforce", "selectors": {"expired": True},
              "tokens": [token], "owner_errors": {}, "refused": None}
    for field in draw(st.lists(st.sampled_from(RECORD_FIELDS), max_size=4, unique=True)):
        record[field] = draw(JSON)
    return record


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
@given(records=st.lists(damaged_records(), min_size=1, max_size=3))
def test_every_reader_of_the_audit_log_survives_any_json_in_any_field(tmp_path_factory,
                                                                       monkeypatch, records):
    """A hand-edited line (`selectors` a string, a token's `action` a list, `seen_from` with
    string counts) gave a 500 on the Audit tab and a traceback in incident-report."""
    from tests.test_web_cgi import TOKEN
    from tokensweeper import cli
    from tokensweeper.web import app

    state = str(tmp_path_factory.mktemp("state"))
    os.chmod(state, 0o700)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", state)
    monkeypatch.setenv("TOKENSWEEPER_NOW", str(NOW))
    log = os.path.join(state, "audit.log")
    with open(log, "w") as handle:
        handle.write("".join(json.dumps(record) + "\n" for record in records))
    os.chmod(log, 0o600)
    run_ids = {r.run_id for r in audit.runs(records) if r.run_id} | {"20261127T120000Z-abc123"}
    for run_id in sorted(run_ids):
        for query in ("page=audit", "page=audit&run=" + run_id,
                      "page=incident-report&run=" + run_id,
                      "page=incident-report&format=json&run=" + run_id):
            out = io.BytesIO()
            env = {"REQUEST_METHOD": "GET", "QUERY_STRING": query, "REMOTE_USER": "root",
                   "cp_security_token": TOKEN, "HTTP_HOST": "h:2087",
                   "SCRIPT_NAME": TOKEN + "/cgi/tokensweeper/index.cgi"}
            assert app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
            status = int(out.getvalue().split(b"\r\n", 1)[0].split()[1])
            assert status < 500, out.getvalue()[-2000:]
        given = "--run=" + run_id  # a damaged id may start with "-"
        for argv in (["audit"], ["audit", "--json"], ["audit", given],
                     ["audit", given, "--json"], ["incident-report", given],
                     ["incident-report", given, "--json"]):
            saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
            try:
                status = cli.main(argv)
            finally:
                sys.stdout, sys.stderr = saved
            assert status in (0, 1, 2, 3)
    notify.history(audit.read()[0])
    notify.undelivered(audit.read()[0])


# -- 4. Kinds stay apart everywhere ------------------------------------------------------


def test_the_page_never_acts_on_a_kind_the_config_leaves_out(tmp_path, monkeypatch):
    """An upgrade never widens: with `kinds:` left at whm, a hand-picked cPanel token is
    refused by the page as by the command line."""
    site = Site(tmp_path, monkeypatch)
    site.server.add_account("shop1", owner="root")
    site.server.add_cpanel_token("shop1", "deploy", NOW - 90 * DAY, expires_at=NOW - DAY)
    site.server.write_token_files(str(site.root))
    reply = site.post([("action", "preview"), ("t", "shop1@cpanel:deploy")])
    assert reply.status == 400
    assert "kinds: is whm, so this page does not act on cpanel tokens" in reply.text()
    reply = site.post([("action", "revoke"), ("t", "shop1@cpanel:deploy")])
    assert reply.status == 400
    assert site.server.cpanel_token_names("shop1") == {"deploy"}
    assert site.server.calls("uapi_cpanel") == [] and site.server.calls("batch") == []


def fleet_filters():
    path = os.path.join(REPO, "ansible", "plugins", "filter", "fleet_report.py")
    spec = importlib.util.spec_from_file_location("fleet_report_issue25", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fleet_report_keeps_bobs_whm_and_cpanel_tokens_apart():
    filters = fleet_filters()
    tokens = [{"owner": "bob", "name": "foo", "kind": "whm", "state": "stale"},
              {"owner": "bob", "name": "foo", "kind": "cpanel", "state": "active"},
              {"owner": "root", "name": "ci", "state": "active"}]  # before kinds: WHM
    plan = {"tokens": [dict(tokens[0], decision="revoke", reason="expired"),
                       dict(tokens[1], decision="revoke", reason="expired")]}
    result = {"rc": 0, "stdout": json.dumps(plan)}
    listing = {"rc": 0, "stdout": json.dumps({"tokens": tokens})}
    report = filters.server_report("web1", result, listing)
    assert sorted(report["owners"]) == ["bob", "bob@cpanel", "root"]
    assert report["owners"]["bob"]["stale"] == 1 and report["owners"]["bob@cpanel"]["active"] == 1
    assert [(t["holder"], t["kind"]) for t in report["stale"]] == [("bob", "whm"),
                                                                    ("bob@cpanel", "cpanel")]
    page = filters.fleet_report_html(filters.fleet_report(
        {"web1": {"tokensweeper_plan_result": result, "tokensweeper_list_result": listing}},
        ["web1"]))
    assert "<td>bob@cpanel</td>" in page


def test_confirmation_changes_name_a_cpanel_token_by_its_holder():
    whm = Token("bob", "foo", CREATED, NOW - DAY, {"all": True})
    cp_token = Token("bob", "foo", CREATED, NOW - DAY, kind=CPANEL, full_access=True)
    plan = make_plan([whm, cp_token], None, Selectors(expired=True), Protection(), NOW)
    changes = confirmation_changes([whm.identity()], plan)
    assert changes == ["bob@cpanel/foo is newly selected: expired on 2026-11-26, 1 day ago"]
    assert KEEP not in [item.decision for item in plan.items]


def test_the_page_shows_a_notice_that_reached_nobody(tmp_path, monkeypatch):
    """The admin sees it on the page: the policy preview says the token waits for a
    delivered notice, not "notice sent"."""
    from tests.test_web_cgi import identity_of

    site = Site(tmp_path, monkeypatch)
    site.config.write_text("mode: enforce\npolicy:\n  expired: true\nnotify:\n"
                           "  notice_days: 7\n  recipients: [owner]\n")
    audit.write({"event": "notice", "time": audit.iso(NOW - DAY), "epoch": NOW - DAY,
                 "run_id": "20261126T120000Z-aaaaaa", "actor": "cron", "mode": "enforce",
                 "tokens": [{"owner": "root", "name": "old-ci", "kind": "whm",
                             "identity": identity_of("root:old-ci"),
                             "action": "notice-not-delivered", "recipients": [],
                             "reason": "not delivered: notify.recipients found no valid "
                                       "address"}]})
    text = site.get("page=sweep").text()
    assert ("no notice yet: the notice of 2026-11-26 reached nobody (not delivered: "
            "notify.recipients found no valid address)") in text


def hook_sweep(box, day, account):
    """The account hook's `sweep` (suspension, the default event) at `day`, as cPanel runs
    it: a separate process reading the event on stdin."""
    import subprocess

    from tests.test_hook import HOOK, suspend

    box.cli.now = NOW + day * DAY
    env = box.cli.env(TOKENSWEEPER_SENDMAIL=os.path.join(REPO, "tests", "fakes", "sendmail"),
                      TOKENSWEEPER_FAKE_MAIL_DIR=box.mail_dir)
    proc = subprocess.run([sys.executable, HOOK], input=suspend(account),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120)
    return proc.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize("policy,kept", [
    ("  older_than_days: 365\n", False),  # stays selected however often it is used
    ("  unused_for_days: 30\n", True),  # the use takes it out of the selection
])
def test_the_hook_and_cron_judge_a_noticed_token_alike(tmp_path, policy, kept):
    """Reproduced in issue 25: cron kept the token, the hook revoked it at the same moment
    (the hook read no usage log unless the policy had unused_for_days)."""
    fates = {}
    for front in ("cron", "hook"):
        box = Server(tmp_path / front)
        box.cli.config("mode: enforce\npolicy:\n" + policy
                       + "notify:\n  notice_days: 7\n  recipients: [owner]\n")
        box.fake.add_token("res1", "nightly", NOW - 400 * DAY)
        box.fake.write_token_files(box.cli.cpanel_root)  # the hook's fast path reads them
        box.use(NOW - 40 * DAY, "res1", "nightly")  # stale for unused_for_days at day 0
        assert box.run(0).status == 0
        assert [t["name"] for t in box.notices()[0]["tokens"]] == ["nightly"]
        for day in range(1, 9):
            box.use(NOW + day * DAY - 3600, "res1", "nightly")  # in daily use since
        if front == "cron":
            box.run(8)
        else:
            hook_sweep(box, 8, "res1")
        fates[front] = "nightly" in box.fake.token_names("res1")
    assert fates == {"cron": kept, "hook": kept}


def test_a_config_day_count_outside_a_sane_range_is_refused(tmp_path):
    from tokensweeper import config

    path = tmp_path / "config.yaml"
    path.write_text("policy:\n  older_than_days: 99999999999\n")
    with pytest.raises(config.ConfigError, match="from 1 to 36500"):
        config.load(str(path))
