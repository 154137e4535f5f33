"""The new-token watch: the scheduled run (`tokensweeper sweep --scheduled`, what cron runs)
reports WHM tokens created since the previous run that break the config's guard: rules,
in its output (cron mails root) and on the page's Audit tab. It revokes nothing.

Runs on every Python of the matrix (3.6 syntax).
"""

import io
import json
import os

import pytest

from tests.helpers import DAY, NOW, Cli, new_server
from tokensweeper.web import app

GUARD = "guard:\n  max_lifetime_days: 90\n  exempt_names: [monitor-*]\n"
LIMITED = {"list-accts": 1}


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    with fake.batch():
        fake.add_token("root", "old-root", NOW - 400 * DAY)  # long before: not new
    return fake


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    run.config(GUARD)
    server.write_resellers_file(run.cpanel_root)  # a reseller's full access is its own ACLs
    return run


def scheduled(cli, now=NOW):
    cli.now = now
    run = cli("sweep", "--scheduled")
    assert run.status == 0, run
    return run


def watch_records(cli):
    return [r for r in cli.audit_records() if r["event"] == "new-token-watch"]


def test_new_tokens_that_break_the_rules_are_reported_once(server, cli):
    scheduled(cli, NOW - DAY)  # yesterday's run
    server.add_token("bob", "wide-open", NOW - 3600)  # full access, no expiry, any IP
    server.add_token("root", "root-forever", NOW - 7200, acls={"list-accts": 1})
    server.add_token("bob", "too-long", NOW - 60, expires_at=NOW + 200 * DAY, acls=LIMITED,
                     whitelist_ips=["192.0.2.1"])
    server.add_token("bob", "tidy", NOW - 60, expires_at=NOW + 30 * DAY, acls=LIMITED,
                     whitelist_ips=["192.0.2.0/24"])
    server.add_token("bob", "monitor-up", NOW - 60)  # the admin's exempt_names
    server.add_token("root", "reverse_trust_0f1e2d3c-4b5a-4697-8877-665544332211", NOW - 60,
                     acls={"clustering": 1})  # built-in: DNS cluster trust
    run = scheduled(cli)
    assert "New WHM API tokens that break the guard's rules" in run.out
    rows = {line.split()[1]: line for line in run.out.splitlines()
            if line.startswith(("bob ", "root "))}
    assert sorted(rows) == ["root-forever", "too-long", "wide-open"]
    assert "full access" in rows["wide-open"] and "no expiry" in rows["wide-open"]
    assert "no IP limit (a reseller's token)" in rows["wide-open"]
    assert "no IP limit" not in rows["root-forever"] and "no expiry" in rows["root-forever"]
    assert "expires 200 days after its creation (the limit is 90)" in rows["too-long"]
    [record] = watch_records(cli)
    assert record["actor"] == "cron"
    assert sorted(t["name"] for t in record["tokens"]) == ["root-forever", "too-long",
                                                           "wide-open"]
    assert {t["action"] for t in record["tokens"]} == {"watched"}
    # Nothing was revoked for it, and the next run does not say it again.
    assert server.calls("api_token_revoke") == []
    again = scheduled(cli, NOW + 3600)
    assert "break the guard's rules" not in again.out
    assert len(watch_records(cli)) == 1


def test_without_guard_there_is_no_watch(server, cli):
    cli.config("mode: preview\n")
    server.add_token("bob", "wide-open", NOW - 3600)
    run = scheduled(cli)
    assert "guard" not in run.out and watch_records(cli) == []
    assert not os.path.exists(os.path.join(cli.state_dir, "watch-state.json"))


def test_the_first_run_and_a_damaged_state_look_back_one_day(server, cli):
    server.add_token("bob", "last-night", NOW - DAY + 60)
    server.add_token("bob", "last-week", NOW - 7 * DAY)
    assert "last-night" in scheduled(cli).out
    with open(os.path.join(cli.state_dir, "watch-state.json"), "w") as handle:
        handle.write("{not json")
    run = scheduled(cli, NOW + 30)  # one day back from it: last-night is still in
    assert "last-night" in run.out and "last-week" not in run.out


def page(query):
    out = io.BytesIO()
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": query, "REMOTE_USER": "root",
           "cp_security_token": "/cpsess0123456789",
           "SCRIPT_NAME": "/cpsess0123456789/cgi/tokensweeper/index.cgi",
           "HTTP_HOST": "server.example.com:2087", "REMOTE_ADDR": "192.0.2.10"}
    assert app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
    return out.getvalue().decode("utf-8")


def test_the_overview_points_at_the_latest_findings_until_a_run_finds_none(server, cli,
                                                                          monkeypatch):
    server.add_token("bob", "wide-open", NOW - 3600)
    scheduled(cli)
    [record] = watch_records(cli)
    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    body = page("")
    assert 'id="ts-watched"' in body and "found <strong>1</strong> new WHM API token" in body
    link = "index.cgi?page=audit&amp;run=%s" % record["run_id"]
    assert link in body
    result = page(link.split("?", 1)[1].replace("&amp;", "&"))
    assert "wide-open" in result
    scheduled(cli, NOW + 3600)  # nothing new
    assert 'id="ts-watched"' not in page("")
    cli.config("mode: preview\n")  # guard off: no alert, whatever the state file says
    assert 'id="ts-watched"' not in page("")


def test_the_watch_is_on_the_audit_tab(server, cli, monkeypatch):
    server.add_token("bob", "wide-open", NOW - 3600)
    scheduled(cli)
    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    body = page("page=audit")
    assert "new tokens that break the guard" in body
    assert "wide-open" in body and "New, breaks the guard" in body
    assert "no IP limit (a reseller&#39;s token)" in body or \
        "no IP limit (a reseller's token)" in body
    # The JSON lines download carries it too.
    assert json.loads(json.dumps(watch_records(cli)))[0]["tokens"][0]["name"] == "wide-open"


def test_a_state_file_others_could_write_is_not_trusted(server, cli):
    server.add_token("bob", "last-night", NOW - DAY + 60)
    os.makedirs(cli.state_dir, mode=0o700)
    path = os.path.join(cli.state_dir, "watch-state.json")
    with open(path, "w") as handle:
        json.dump({"last_run": NOW - 60}, handle)  # would hide last-night
    os.chmod(path, 0o666)
    run = scheduled(cli)
    assert "last-night" in run.out  # looked back one day instead
    # Replaced (a new file renamed over it), never written through: ours again, 0600.
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as handle:
        assert json.load(handle)["last_run"] == NOW


# -- many findings, the second of the stamp, failed listings, preview -----------------------


def rows_of(run):
    """The names in the watch's table (after its heading; the sweep's own table is above)."""
    _, _, table = run.out.partition("New WHM API tokens that break the guard's rules")
    return [line.split()[1] for line in table.splitlines() if line.startswith(("bob ",
                                                                               "root "))]


def test_more_than_twenty_findings_are_summed_up_in_the_cron_mail(server, cli):
    scheduled(cli, NOW - DAY)
    with server.batch():
        for i in range(27):
            server.add_token("bob", "wide-%02d" % i, NOW - 3600 + i)
    run = scheduled(cli)
    assert rows_of(run) == ["wide-%02d" % i for i in range(20)]
    [record] = watch_records(cli)
    assert "... and 7 more (all of them in run %s on the Audit tab)." % record["run_id"] \
        in run.out
    assert len(record["tokens"]) == 27


def test_a_token_made_in_the_second_of_the_previous_run_is_reported_once(server, cli):
    server.add_token("bob", "listed-then", NOW - DAY)  # listed by the run at NOW - DAY
    first = scheduled(cli, NOW - DAY)
    assert "listed-then" not in first.out  # that second is the next run's
    server.add_token("bob", "after-the-listing", NOW - DAY)  # same second, listed later
    run = scheduled(cli)
    assert rows_of(run) == ["after-the-listing", "listed-then"]
    assert "break the guard" not in scheduled(cli, NOW + 60).out  # never twice


def test_an_owner_whose_listing_failed_is_not_checked_and_looked_at_next_run(server, cli):
    scheduled(cli, NOW - DAY)
    server.add_token("bob", "made-meanwhile", NOW - 3600)
    server.add_token("root", "root-new", NOW - 3600)
    server.add_fault("exit", function="api_token_list", owner="bob", status=1,
                     message="cpsrvd is restarting")
    cli.now = NOW
    run = cli("sweep", "--scheduled")
    assert rows_of(run) == ["root-new"]
    assert "Not checked for new tokens: bob (its listing failed: " in run.out
    [record] = watch_records(cli)
    assert list(record["owner_errors"]) == ["bob"] and "Not checked" in record["note"]
    server.clear_faults()
    later = scheduled(cli, NOW + 3600)  # bob again from the run before: nothing is lost
    assert rows_of(later) == ["made-meanwhile"]
    assert "break the guard" not in scheduled(cli, NOW + 7200).out


@pytest.mark.parametrize("mode, reported", [("preview", True), ("enforce", False)])
def test_tokens_the_policy_would_revoke_are_reported_unless_revoked(server, cli, mode,
                                                                    reported):
    cli.config(GUARD + "mode: %s\npolicy:\n  expired: true\n" % mode)
    scheduled(cli, NOW - DAY)
    server.add_token("bob", "short-lived", NOW - 3600, expires_at=NOW - 60)  # full access
    run = scheduled(cli)
    assert ("short-lived" in rows_of(run)) is reported
    assert ("short-lived" in server.token_names("bob")) is reported


def reseller_apps_file(cli, owner, text):
    """A reseller's own Connected Applications file: cPanel writes it for the reseller's
    `save_connected_application` calls, whatever `data` it sends."""
    directory = os.path.join(cli.cpanel_root, "var", "cpanel", "reseller-data", owner)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "conn-apps.json"), "w") as handle:
        handle.write(text)


@pytest.mark.parametrize("name, apps", [
    ("WP-Dashboard", None),  # a dashboard name any WHM user may take
    ("accesshash-%d" % (NOW - 3600), None),  # an access hash "converted" just now
    ("wide-open", '{"app": {"token_name": "wide-open"}}'),  # its own connected app
    ("wide-open", '{"app": {"token_name": "not a name"}}'),  # its own file made unreadable
])
def test_a_reseller_cannot_hide_its_new_token_from_the_watch(server, cli, name, apps):
    # A reseller can name its token in a protected shape and writes its own Connected
    # Applications file: neither is a fact cPanel gives, so neither keeps the token out of
    # the report (sweeps still never revoke it).
    scheduled(cli, NOW - DAY)
    if apps is not None:
        reseller_apps_file(cli, "bob", apps)
    server.add_token("bob", name, NOW - 3600)  # full access, no expiry, any IP
    run = scheduled(cli)
    assert rows_of(run) == [name]
    assert name in server.token_names("bob")


def test_root_built_in_tokens_and_protect_names_stay_out_of_the_watch(server, cli):
    cli.config(GUARD + "protect:\n  names: [billing-*]\n")
    scheduled(cli, NOW - DAY)
    server.add_token("root", "transfer-%d" % (NOW - 3600), NOW - 3600)  # a running transfer
    server.add_token("bob", "billing-link", NOW - 3600)  # the admin protected it
    assert "break the guard" not in scheduled(cli).out
