"""Issues 25 and 26, a break-it pass: state files and listings as a hostile reseller or a
damaged disk leaves them, and every answer cPanel's own code gives. Bad input is refused
whole (never a crash, nothing else changed) and never steers what the sweeper revokes.

Each test here failed on the code before it. Runs on every Python of the matrix.
"""

import json
import os

import pytest

from tests.helpers import DAY, NOW, Cli, new_server

PAST_9999 = 253402300800  # 10000-01-01T00:00:00Z: no clock of the platform can show it


@pytest.fixture
def server(tmp_path):
    return new_server(tmp_path / "fake", resellers=["bob"])


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    run.config("mode: enforce\n")
    return run


# -- 1. the hook's queue: a time no clock can show ------------------------------------


def queue_file(cli, name, epoch, account="bob"):
    queue = os.path.join(cli.state_dir, "hook-queue")
    os.makedirs(queue, mode=0o700, exist_ok=True)
    os.chmod(cli.state_dir, 0o700)
    path = os.path.join(queue, name)
    with open(path, "w") as handle:
        json.dump({"account": account, "event": "Accounts::suspendacct", "key": "suspend",
                   "action": "revoke_all", "epoch": epoch}, handle)
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("epoch", [PAST_9999, 10 ** 30, -1, -10 ** 30],
                         ids=["year-10000", "huge", "before-1970", "huge-negative"])
def test_a_queued_event_with_a_time_past_any_clock_is_skipped_not_a_crash(cli, epoch):
    good = queue_file(cli, "1790000000-000000-11-aaaaaaaaaaaa.json", NOW)
    bad = queue_file(cli, "1790000001-000000-12-bbbbbbbbbbbb.json", epoch)
    said = "ignored %s in the hook queue: not a queued event this version wrote" % bad
    for argv in (["queue"], ["audit"]):
        run = cli(*argv)
        assert run.status == 0, run
        assert "Traceback" not in run.err and said in run.err
        assert "2026-11-27T12:00:00Z" in run.out  # the good event is listed still
    run = cli("queue", "--json")
    assert run.status == 0 and [e["queued"] for e in run.json()["queued"]] == [
        os.path.basename(good)]
    assert [said in p for p in run.json()["problems"]] == [True]
    assert os.path.exists(bad) and os.path.exists(good)  # nothing else changed


# -- 2. the new-token watch's state: a time that is no time ---------------------------

GUARD = "mode: preview\nguard:\n  max_lifetime_days: 90\n"
BAD_TIMES = ["1790000000", 10 ** 30, -DAY, -10 ** 30, None, [NOW - 60], 1.5e9, True]
BAD_IDS = ["string", "huge", "negative", "huge-negative", "null", "list", "float", "bool"]


def watch_state(cli, last_run, latest=None):
    os.makedirs(cli.state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(cli.state_dir, "watch-state.json")
    with open(path, "w") as handle:
        json.dump({"last_run": last_run, "latest": latest}, handle)
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize("last_run", BAD_TIMES, ids=BAD_IDS)
def test_a_bad_last_run_is_no_previous_run_with_a_warning(server, cli, last_run):
    server.add_token("bob", "last-night", NOW - DAY + 60)  # within the one day looked back
    server.add_token("bob", "last-week", NOW - 7 * DAY)  # only a replayed history shows it
    cli.config(GUARD)
    path = watch_state(cli, last_run)
    run = cli("sweep", "--scheduled")
    assert run.status == 0 and "Traceback" not in run.err, run
    assert "last-night" in run.out and "last-week" not in run.out
    assert "warning: the new-token watch: %s holds no usable last_run" % path in run.err
    assert "treated as no previous run: this run looks back one day" in run.err
    with open(path) as handle:
        assert json.load(handle)["last_run"] == NOW  # put right for the next run
    again = cli("sweep", "--scheduled")
    assert again.status == 0 and "new-token watch" not in again.err, again


@pytest.mark.parametrize("epoch", BAD_TIMES, ids=BAD_IDS)
def test_the_tokens_tab_shows_despite_a_bad_time_in_the_watch_state(server, cli, epoch,
                                                                   monkeypatch):
    from tests.test_watch import page

    server.add_token("bob", "wide-open", NOW - 3600)
    cli.config(GUARD)
    watch_state(cli, NOW - 60, {"run_id": "20261127T115900Z-abcdef", "count": 1,
                                "epoch": epoch})
    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    body = page("")
    assert "wide-open" in body and "Traceback" not in body
    assert 'id="ts-watched"' not in body  # what that run found is not known


# -- 3. a listing's expires_at: "", "00" and what is no time ---------------------------


def test_an_odd_expiry_never_hides_an_owner_and_a_damaged_one_decides_nothing(server, cli,
                                                                              monkeypatch):
    """cPanel lists expires_at as the digit string it was created with: "" (created with
    `expires_at=`) never expires, "00" is 1970 (cPanel's own login check reads it as
    expired); a value that is no time (a damaged token file) is shown as damaged and no
    policy revokes that token, while the owner's other tokens list and sweep as ever."""
    created = NOW - 400 * DAY
    server.add_token("bob", "blank", created, expires_at="")
    server.add_token("bob", "zeros", created, expires_at="00")
    server.add_token("bob", "weird", created, expires_at="soon")
    server.add_token("bob", "fine", created, expires_at=NOW + 30 * DAY)
    run = cli("list", "--owner", "bob", "--json")
    assert run.status == 0, run
    rows = {row["name"]: row for row in run.json()["tokens"]}
    assert {name: rows[name]["expires"] for name in rows} == {
        "blank": "never", "zeros": "1970-01-01", "weird": 'damaged: "soon"',
        "fine": "2026-12-27"}
    assert rows["zeros"]["state"] == "expired" and rows["weird"]["state"] == "protected"
    assert "cPanel lists its expiry as \"soon\", which is no time" in rows["weird"][
        "protected_by"]
    csv = cli("list", "--owner", "bob", "--csv")
    assert csv.status == 0 and 'damaged: ""soon""' in csv.out, csv
    from tests.test_watch import page

    for key, value in cli.env().items():
        monkeypatch.setenv(key, value)
    body = page("")
    assert 'weird' in body and '<span class="ts-muted">damaged</span>' in body
    for selector, revoked in (("--expired", "zeros"), ("--no-expiry", "blank")):
        run = cli("sweep", selector, "--older-than", "1", "--yes")
        assert run.status == 0, run
        assert revoked not in server.token_names("bob")
    assert server.token_names("bob") == {"weird", "fine"}


# -- 4. MailNodeLinkage: cPanel's own only on a linked node's child account -------------


@pytest.fixture
def accounts(server, cli):
    """shop (a reseller's account, hostile), child (a linked node's child account, as cPanel
    makes it: root's), blind (its users file cannot be read): each with a full-access
    MailNodeLinkage and MailNodeLinkage-<time> made when stamped, never expiring."""
    stamp = "2026-01-02T03-04-05Z"
    made = 1767323045  # that stamp's time
    with server.batch():
        for user, owner in (("shop", "bob"), ("child", "root"), ("blind", "bob")):
            server.add_account(user, owner=owner)
            server.add_cpanel_token(user, "MailNodeLinkage", made)
            server.add_cpanel_token(user, "MailNodeLinkage-" + stamp, made)
            server.add_cpanel_token(user, "ordinary", made)
    server.write_token_files(cli.cpanel_root)
    server.write_users_file(cli.cpanel_root, "shop")  # CHILD_WORKLOADS= (none)
    server.write_users_file(cli.cpanel_root, "child", child_workloads=["Mail"])
    blind = server.write_users_file(cli.cpanel_root, "blind")
    os.remove(blind)
    os.symlink(os.path.join(cli.cpanel_root, "var", "cpanel", "users", "child"), blind)
    cli.config("mode: enforce\nkinds: [cpanel]\n")
    return stamp


def test_a_mail_node_token_name_hides_nothing_on_an_account_that_is_no_child(cli, server,
                                                                            accounts):
    run = cli("sweep", "--kind", "cpanel", "--older-than", "30", "--yes")
    assert run.status == 0, run
    # shop is no linked node's child account: its MailNodeLinkage names are its own.
    assert server.cpanel_token_names("shop") == set()
    # child's are cPanel's; blind's users file cannot be read (a link): kept, fail safe.
    kept = {"MailNodeLinkage", "MailNodeLinkage-" + accounts}
    assert server.cpanel_token_names("child") == kept
    assert server.cpanel_token_names("blind") == kept
    listed = {(t["owner"], t["name"]): t for t in cli("list", "--json").json()["tokens"]}
    assert "linked mail node token (built-in rule MailNodeLinkage)" in listed[
        ("child", "MailNodeLinkage")]["protected_by"]


USERS_FILES = [
    ("CHILD_WORKLOADS=Mail\n", True),
    ("USER=x\nCHILD_WORKLOADS=Mail,Web\n", True),
    ("CHILD_WORKLOADS  =Mail\n", True),  # LoadCpUserFile: split /\s*=/
    ("CHILD_WORKLOADS=\n", False),  # Cpanel::LinkedNode::ChildWorkloads::unset
    ("CHILD_WORKLOADS=Mail\nCHILD_WORKLOADS=\n", False),  # the last line of a key wins
    ("# CHILD_WORKLOADS=Mail\nUSER=x\n", False),  # a comment
    ("  #CHILD_WORKLOADS=Mail\n", False),
    ("USER=x\nOWNER=root\n", False),  # no such line: no workloads
    ("XCHILD_WORKLOADS=Mail\nCHILD_WORKLOADS_OLD=Mail\n", False),
]


@pytest.mark.parametrize("text, child", USERS_FILES)
def test_a_users_file_names_child_workloads_as_cpanel_reads_it(tmp_path, monkeypatch, text,
                                                               child):
    from tokensweeper import cpusers

    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path))
    os.makedirs(str(tmp_path / "var" / "cpanel" / "users"))
    (tmp_path / "var" / "cpanel" / "users" / "shop").write_text(text)
    assert cpusers.child_workloads("shop") is child


def test_a_users_file_that_cannot_be_read_is_unknown_never_no(tmp_path, monkeypatch):
    from tokensweeper import cpusers

    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path))
    users = tmp_path / "var" / "cpanel" / "users"
    os.makedirs(str(users))
    (users / "big").write_text("CHILD_WORKLOADS=\n" + "X=" + "y" * cpusers.MAX_BYTES)
    os.mkdir(str(users / "adir"))
    os.mkfifo(str(users / "fifo"))
    (users / "real").write_text("CHILD_WORKLOADS=\n")
    os.symlink(str(users / "real"), str(users / "link"))
    for user in ("missing", "big", "adir", "fifo", "link", "../users/real", "", None):
        assert cpusers.child_workloads(user) is None, user
    assert cpusers.child_workloads("real") is False


# -- 1 (the same pattern): the listing cache's times ---------------------------------------


@pytest.mark.parametrize("listed", [10 ** 30, -10 ** 30, PAST_9999, -1],
                         ids=["huge", "huge-negative", "year-10000", "before-1970"])
def test_a_listing_cache_time_no_clock_can_show_is_an_unknown_time(tmp_path, monkeypatch,
                                                                   listed):
    from tests.test_listing_cache import listed_note
    from tests.test_web_cgi import Site

    site = Site(tmp_path, monkeypatch)
    site.server.write_token_files(str(site.root))
    assert site.get().status == 200
    path = site.state / "listing-cache.json"
    cache = json.loads(path.read_text())
    for entry in cache.values():
        entry["listed"] = listed
    path.write_text(json.dumps(cache))
    site.server.reset_calls()
    page = site.get(now=NOW + 60)
    assert page.status == 200, page.body[-2000:]
    assert site.server.calls("api_token_list") == []  # the answers themselves still hold
    assert listed_note(page) == "Listed earlier · Refresh"
