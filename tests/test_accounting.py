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
import zlib

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


def test_an_hour_off_is_no_match_outside_the_hour_a_dst_change_repeats(server, cli):
    # The first deploy's line, an hour before this one was restored (no line): in UTC no
    # local time is written twice, so the line is about another token.
    server.add_token("bob", "deploy", NOW - DAY)
    with open(log_path(cli), "a") as handle:
        handle.write(line(NOW - DAY - 3600, "bob", "bob", "deploy"))
    assert created_by(cli)[("bob", "deploy")] is None
    server.add_token("bob", "summer", NOW - 200 * DAY)  # July in Chicago: no repeated hour
    with open(log_path(cli), "a") as handle:
        handle.write(line(NOW - 200 * DAY + 3600, "bob", "bob", "summer", tz=CENTRAL))
    assert created_by(cli, TZ=CENTRAL)[("bob", "summer")] is None


def test_a_line_in_the_hour_a_dst_change_repeats_still_matches(server, cli):
    # 01:30 on 2026-11-01 happens twice in Chicago (CDT, then CST): the line cannot say
    # which, and the token was made at the second.
    second = 1793518200  # 2026-11-01T07:30:00Z, 01:30 CST
    server.add_token("bob", "fallback", second)
    with open(log_path(cli), "a") as handle:
        handle.write(line(second, "bob", "bob", "fallback", tz=CENTRAL))
    assert created_by(cli, TZ=CENTRAL)[("bob", "fallback")] == "bob"


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


# -- files others could have written --------------------------------------------------------


def test_a_log_others_can_write_adds_nothing(server, cli):
    # Anyone who can write the log could credit any token to anyone.
    server.add_token("bob", "deploy", NOW - 2 * DAY)
    with open(log_path(cli), "w") as handle:
        handle.write(line(NOW - 2 * DAY, "bob", "bob", "deploy"))
    os.chmod(log_path(cli), 0o600)
    assert created_by(cli)[("bob", "deploy")] == "bob"
    for mode in (0o620, 0o602):
        os.chmod(log_path(cli), mode)
        assert created_by(cli)[("bob", "deploy")] is None, oct(mode)


def test_a_log_owned_by_another_user_adds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    log = tmp_path / "accounting.log"
    log.write_text(line(NOW, "root", "root", "ci"))
    os.chmod(str(log), 0o600)
    assert [c.name for c in accounting.read(str(log))] == ["ci"]
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(str(log)).st_uid + 1)
    assert accounting.read(str(log)) == []


def test_an_archive_directory_others_can_write_adds_nothing(server, cli):
    server.add_token("root", "archived", NOW - 200 * DAY)
    archive = os.path.join(cli.cpanel_root, "var", "cpanel", "archive")
    os.makedirs(archive)
    with open(os.path.join(archive, "accounting.log-06-2026.gz"), "wb") as handle:
        handle.write(gzip.compress(line(NOW - 200 * DAY, "root", "root", "archived").encode()))
    os.chmod(archive, 0o700)
    assert created_by(cli)[("root", "archived")] == "root"
    os.chmod(archive, 0o777)
    assert created_by(cli)[("root", "archived")] is None



def test_a_gzip_bomb_in_the_archive_is_not_inflated(tmp_path, monkeypatch):
    # Gigabytes of newlines compress to a few MiB: an archive inflating past MAX_BYTES is
    # dropped (like a live log that big) instead of being inflated whole into memory.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(accounting, "MAX_BYTES", 1 << 20)
    archive = tmp_path / "archive"
    archive.mkdir()
    os.chmod(str(archive), 0o700)
    bomb = archive / "accounting.log-01-2026.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = compressor.compress(line(NOW, "root", "root", "early").encode())
    chunk = b"\n" * (1 << 20)
    for _ in range(4):
        data += compressor.compress(chunk)
    data += compressor.flush()
    bomb.write_bytes(data)
    os.chmod(str(bomb), 0o600)
    assert len(data) < (1 << 20)
    log = tmp_path / "accounting.log"
    log.write_text(line(NOW, "root", "root", "live"))
    os.chmod(str(log), 0o600)
    # The bomb's one real line is not believed either: an archive is read whole or not at all.
    assert [c.name for c in accounting.read(str(log))] == ["live"]


def test_a_live_log_past_the_read_limit_still_names_the_newest_creators(tmp_path,
                                                                         monkeypatch):
    # cPanel rotates accounting.log only past 300 MB: a log bigger than what is read must
    # still say who created the newest tokens (its end), not fall silent for every token.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(accounting, "MAX_BYTES", 4096)
    log = tmp_path / "accounting.log"
    old = "".join(line(NOW - 400 * DAY + i, "root", "root", "old-%d" % i) for i in range(100))
    log.write_text(old + line(NOW - 60, "bob", "bob", "newest"))
    os.chmod(str(log), 0o600)
    assert os.path.getsize(str(log)) > 4096
    found = accounting.read(str(log))
    assert found[-1].name == "newest" and found[-1].user == "bob"
    assert "old-0" not in [c.name for c in found]  # only the end is read
    # A cut line at the start of the window is never half-read as another name.
    assert all(c.name.startswith("old-") or c.name == "newest" for c in found)


def test_roots_own_line_is_never_credited_to_a_resellers_token_of_the_same_name(server, cli):
    # Only convert_accesshash_to_token writes root for another owner, and only under its
    # own names (accesshash-<epoch>[-XXXXXXXX]); root's line for root's own "deploy" says
    # nothing about bob's "deploy" (restored, no line) made the same minute.
    server.add_token("root", "deploy", NOW - 3 * DAY)
    server.add_token("bob", "deploy", NOW - 3 * DAY + 30)
    server.add_token("bob", "accesshash-1790000000-7Q2ZK0AB", NOW - 3 * DAY)
    with open(log_path(cli), "a") as handle:
        handle.write(line(NOW - 3 * DAY, "root", "root", "deploy"))
        handle.write(line(NOW - 3 * DAY, "root", "root", "accesshash-1790000000-7Q2ZK0AB"))
    found = created_by(cli)
    assert found[("root", "deploy")] == "root"
    assert found[("bob", "deploy")] is None
    assert found[("bob", "accesshash-1790000000-7Q2ZK0AB")] == "root"


def big_log_text(lines_before, tz="UTC"):
    """cPanel's accounting.log as a busy server fills it: account lines by the hundred
    thousand (CREATE, REMOVE, ...), a token line now and then."""
    other = "Fri Nov 27 11:00:00 2026:CREATE:root:root:shop%06d.example:192.0.2.7:shop%06d\n"
    parts = [line(NOW - 300 * DAY, "root", "root", "first-token")]
    for i in range(lines_before):
        parts.append(other % (i, i))
        if i % 50000 == 0:
            parts.append(line(NOW - 200 * DAY + i, "bob", "bob", "t-%d" % i))
    parts.append(line(NOW - 60, "bob", "bob", "newest"))
    return "".join(parts)


def peak_reading(path):
    import tracemalloc

    tracemalloc.start()
    try:
        found = accounting.read(str(path))
        return found, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_big_log_and_its_archive_are_read_in_bounded_memory(tmp_path, monkeypatch):
    # A 300 MB accounting.log (cPanel rotates it only then) was read whole into memory, and an
    # archive inflated whole: here ~20 MB of each, read with a peak of a few MiB.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    text = big_log_text(300000).encode()
    assert len(text) > 20 << 20
    log = tmp_path / "accounting.log"
    log.write_bytes(text)
    os.chmod(str(log), 0o600)
    found, peak = peak_reading(log)
    names = [c.name for c in found]
    assert names[0] == "first-token" and names[-1] == "newest" and len(names) == 8
    assert peak < 6 << 20, peak
    # The same lines rotated into an archive (several gzip members, as cpanellogd appends).
    archive = tmp_path / "archive"
    archive.mkdir()
    os.chmod(str(archive), 0o700)
    half = len(text) // 2
    packed = gzip.compress(text[:half]) + gzip.compress(text[half:])
    (archive / "accounting.log-10-2026.gz").write_bytes(packed)
    os.chmod(str(archive / "accounting.log-10-2026.gz"), 0o600)
    log.write_bytes(b"")
    found, peak = peak_reading(log)
    assert [c.name for c in found] == names  # a line split between members is whole again
    assert peak < 6 << 20, peak


def test_naming_every_tokens_creator_reads_the_log_lines_once_not_once_per_token(
        tmp_path, monkeypatch):
    # `list --json`, `list --wide`, the CSV download, the watch and the incident report ask
    # for every token's creator: each went through every line of the log again (10,000
    # tokens and 100,000 token lines: 80 s). Now the lines are looked up by name.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    reads = []

    class Counted(accounting.Creation):
        __slots__ = ("_name",)

        @property
        def name(self):
            reads.append(1)
            return self._name

        @name.setter
        def name(self, value):
            self._name = value

    monkeypatch.setattr(accounting, "Creation", Counted)
    log = tmp_path / "accounting.log"
    log.write_text("".join(line(NOW - DAY + i, "bob", "bob", "tok-%d" % i) for i in range(2000)))
    os.chmod(str(log), 0o600)
    creations = accounting.read(str(log))
    found = {accounting.creator_of("whm", "bob", "tok-%d" % i, NOW - DAY + i, creations)
             for i in range(0, 2000, 4)}  # 500 tokens, as `list` asks: one by one
    assert found == {"bob"}
    assert len(reads) <= 3 * 2000, len(reads)
