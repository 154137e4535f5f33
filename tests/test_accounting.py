"""Who created each token: cPanel's accounting.log (CREATEAPITOKEN lines, Whostmgr/API/1/
Tokens.pm and scripts/convert_accesshash_to_token), its `.bkup` and its cpanellogd archives,
shown by `list --json`, `list --wide`, the overview and the incident report.

Runs on every Python of the matrix (3.6 syntax).
"""

import gzip
import io
import json
import os
import subprocess
import time

import pytest

from tests.helpers import DAY, NOW, Cli, add, new_server
from tokensweeper import accounting
from tokensweeper.web import app

CENTRAL = "CST6CDT,M3.2.0,M11.1.0"  # a POSIX rule: no tz database needed


def stamp(epoch, tz):
    """Perl's scalar localtime() in zone tz, as cPanel writes it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(epoch))
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def line(epoch, remote, user, name, tz="UTC", action="CREATEAPITOKEN"):
    return "%s:%s:%s:%s:not-applicable:%s\n" % (stamp(epoch, tz), action, remote, user, name)


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    with fake.batch():
        add(fake, "root", "restored", age_days=30)  # no line: a restore or transfer
    return fake


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    os.makedirs(os.path.join(run.cpanel_root, "var", "cpanel"))
    return run


def log_path(cli):
    return os.path.join(cli.cpanel_root, "var", "cpanel", "accounting.log")


def whmapi1(server, cli, owner, *args):
    """The fake whmapi1 as cPanel's would run: it appends to the cPanel tree's log."""
    env = dict(server.full_env(), TOKENSWEEPER_FAKE_ACCOUNTING=log_path(cli), TZ="UTC")
    argv = [server.env["TOKENSWEEPER_WHMAPI1"], "--output=json"]
    if owner != "root":
        argv.append("--user=" + owner)
    answer = json.loads(subprocess.check_output(argv + list(args), env=env).decode())
    assert answer["metadata"]["result"] == 1, answer
    return answer


def created_by(cli, **env):
    run = cli("list", "--json", TZ=env.get("TZ", "UTC"))
    assert run.status == 0, run
    return {(t["owner"], t["name"]): t["created_by"] for t in run.json()["tokens"]}


# -- the line ---------------------------------------------------------------------------


def test_parse_line_reads_cpanels_format_with_its_padded_day(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    entry = accounting.parse_line("Sun Dec  6 01:23:01 2026:CREATEAPITOKEN:root:root:"
                                  "not-applicable:ci-deploy")
    assert (entry.epoch, entry.remote_user, entry.user, entry.name) == (
        1796520181, "root", "root", "ci-deploy")
    for other in ("Sun Dec  6 01:23:01 2026:REVOKEAPITOKEN:root:root:not-applicable:ci",
                  "Sun Dec  6 01:23:01 2026:CREATE:root:bob:example.com:bob",
                  "Sun Dec  6 01:23:01 2026:CREATEAPITOKEN:root:root:not-applicable:a:b",
                  "garbage", ""):
        assert accounting.parse_line(other) is None, other


# -- end to end -----------------------------------------------------------------------------


def test_list_names_who_created_a_token_and_unknown_stays_unknown(server, cli):
    whmapi1(server, cli, "root", "api_token_create", "token_name=ci")
    whmapi1(server, cli, "bob", "api_token_create", "token_name=deploy")
    assert created_by(cli) == {("root", "ci"): "root", ("bob", "deploy"): "bob",
                               ("root", "restored"): None}
    wide = cli("list", "--wide", TZ="UTC").out.splitlines()
    start, end = wide[0].index("CREATED_BY"), wide[0].index("ACCOUNT_OF")
    rows = {tuple(r.split()[:2]): r[start:end].strip() for r in wide[1:] if r.startswith(
        ("root ", "bob "))}
    assert rows[("root", "ci")] == "root" and rows[("bob", "deploy")] == "bob"
    assert rows[("root", "restored")] == "unknown"


def test_the_servers_local_time_is_read_as_cpanel_wrote_it(server, cli):
    # cPanel writes localtime(): the same zone must be used to read it back.
    server.add_token("root", "chicago", NOW - 3 * DAY)
    with open(log_path(cli), "a") as handle:
        handle.write(line(NOW - 3 * DAY, "root", "root", "chicago", tz=CENTRAL))
    assert created_by(cli, TZ=CENTRAL)[("root", "chicago")] == "root"


def test_a_re_created_token_is_not_credited_to_the_old_lines_creator(server, cli):
    server.add_token("bob", "deploy", NOW - DAY)  # re-created yesterday, by a restore
    with open(log_path(cli), "a") as handle:
        handle.write(line(NOW - 40 * DAY, "bob", "bob", "deploy"))  # the first deploy
    assert created_by(cli)[("bob", "deploy")] is None


def test_convert_accesshash_to_token_writes_root_for_a_resellers_token(server, cli):
    server.add_token("bob", "accesshash-1790000000", NOW - 5 * DAY)
    with open(log_path(cli), "a") as handle:
        handle.write(line(NOW - 5 * DAY + 1, "root", "root", "accesshash-1790000000"))
        # Another reseller's line for the same name and time names its own owner only.
        handle.write(line(NOW - 5 * DAY, "carol", "carol", "accesshash-1790000000"))
    assert created_by(cli)[("bob", "accesshash-1790000000")] == "root"


def test_rotated_copies_are_read(server, cli):
    server.add_token("root", "archived", NOW - 200 * DAY)
    server.add_token("bob", "interrupted", NOW - 20 * DAY)
    archive = os.path.join(cli.cpanel_root, "var", "cpanel", "archive")
    os.makedirs(archive)
    # cpanellogd appends one gzip member per rotation.
    with open(os.path.join(archive, "accounting.log-06-2026.gz"), "wb") as handle:
        handle.write(gzip.compress(line(NOW - 300 * DAY, "root", "root", "other").encode()))
        handle.write(gzip.compress(line(NOW - 200 * DAY, "root", "root", "archived").encode()))
    with open(log_path(cli) + ".bkup", "w") as handle:
        handle.write(line(NOW - 20 * DAY, "bob", "bob", "interrupted"))
    found = created_by(cli)
    assert found[("root", "archived")] == "root" and found[("bob", "interrupted")] == "bob"


def test_a_damaged_archive_or_a_symlinked_log_adds_nothing(server, cli, tmp_path):
    server.add_token("root", "planted", NOW - 2 * DAY)
    archive = os.path.join(cli.cpanel_root, "var", "cpanel", "archive")
    os.makedirs(archive)
    with open(os.path.join(archive, "accounting.log-11-2026.gz"), "wb") as handle:
        handle.write(b"\x1f\x8b not gzip")
    elsewhere = tmp_path / "planted.log"
    elsewhere.write_text(line(NOW - 2 * DAY, "root", "root", "planted"))
    os.symlink(str(elsewhere), log_path(cli))
    assert created_by(cli)[("root", "planted")] is None


def test_the_incident_report_says_who_created_each_token(server, cli):
    whmapi1(server, cli, "root", "api_token_create", "token_name=leaked")
    cli.config("mode: enforce\n")
    run = cli("revoke", "--owner", "root", "leaked", "--yes", "--json", TZ="UTC")
    assert run.status == 0, run
    run_id = run.json()["run_id"]
    report = cli("incident-report", "--run", run_id, "--json", TZ="UTC")
    [token] = [t for t in report.json()["tokens"] if t["name"] == "leaked"]
    assert token["created_by"] == "root"
    text = cli("incident-report", "--run", run_id, TZ="UTC").out
    assert "  created by: root" in text


def test_the_overview_says_who_created_each_token(server, cli, monkeypatch):
    whmapi1(server, cli, "root", "api_token_create", "token_name=ci")
    for key, value in cli.env(TZ="UTC").items():
        monkeypatch.setenv(key, value)
    time.tzset()
    out = io.BytesIO()
    env = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "REMOTE_USER": "root",
           "cp_security_token": "/cpsess0123456789",
           "SCRIPT_NAME": "/cpsess0123456789/cgi/tokensweeper/index.cgi",
           "HTTP_HOST": "server.example.com:2087", "REMOTE_ADDR": "192.0.2.10"}
    assert app.main(env=env, stdin=io.BytesIO(b""), stdout=out, now=NOW) == 0
    body = out.getvalue().decode("utf-8")
    rows = {name: row for row in body.split('<tr class="ts-row')[1:]
            for name in ("ci", "restored") if 'data-name="%s"' % name in row}
    assert 'ts-created-by">by root<' in rows["ci"]
    assert 'ts-created-by">by unknown<' in rows["restored"]
