"""The state directory is trusted only while it is root's alone (issue 12, item 3).

A local user who can write to the state dir (a mistaken chmod, a restored backup)
must not be able to truncate a root file through sweep.lock, choose the CSRF key,
poison usage-cache.json or forge listing-cache.json rows. The tests run as root
and play the local user by planting links, chown-ing to nobody and loosening modes.
"""

import hashlib
import json
import os
import stat

import pytest

from tests.helpers import DAY, NOW, Cli, add, new_server
from tokensweeper import audit, statefiles, usage
from tokensweeper.lock import SweepLock
from tokensweeper.owners import CachedListings
from tokensweeper.whmapi import Client

NOBODY = 65534


@pytest.fixture
def state(tmp_path, monkeypatch):
    directory = tmp_path / "state"
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(directory))
    statefiles.ensure_dir(str(directory))
    return directory


@pytest.fixture
def victim(tmp_path):
    """A root file a local user would like to damage."""
    path = tmp_path / "etc-important"
    path.write_text("precious\n")
    return path


def test_a_missing_state_dir_is_created_0700_whatever_the_umask(tmp_path):
    for umask in (0o000, 0o022, 0o077):
        directory = tmp_path / ("state-%o" % umask)
        old = os.umask(umask)
        try:
            statefiles.ensure_dir(str(directory))
        finally:
            os.umask(old)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize("change, why", [
    (lambda path: os.chown(path, NOBODY, NOBODY), "owned by uid 65534, not by root"),
    (lambda path: os.chmod(path, 0o770), "writable by group or others (mode 0770)"),
    (lambda path: os.chmod(path, 0o757), "writable by group or others (mode 0757)"),
])
def test_a_state_dir_others_could_write_is_refused(state, change, why):
    change(str(state))
    with pytest.raises(statefiles.UntrustedState) as refused:
        statefiles.open_file(str(state / "sweep.lock"), os.O_RDWR | os.O_CREAT)
    assert str(state) in str(refused.value) and why in str(refused.value)
    assert not (state / "sweep.lock").exists()


def test_the_sweep_lock_never_follows_a_planted_link(state, victim):
    os.symlink(str(victim), str(state / "sweep.lock"))
    with pytest.raises(statefiles.UntrustedState) as refused:
        SweepLock(str(state / "sweep.lock")).acquire()
    assert "it is a symbolic link" in str(refused.value)
    assert victim.read_text() == "precious\n"  # not truncated, no pid written over it


def test_the_sweep_lock_never_writes_through_a_hard_link(state, victim):
    os.link(str(victim), str(state / "sweep.lock"))
    with pytest.raises(statefiles.UntrustedState) as refused:
        SweepLock(str(state / "sweep.lock")).acquire()
    assert "2 hard links" in str(refused.value)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("change, why", [
    (lambda path: os.chown(path, NOBODY, NOBODY), "owned by uid 65534"),
    (lambda path: os.chmod(path, 0o622), "writable by group or others (mode 0622)"),
])
def test_an_audit_log_others_could_write_is_refused(state, change, why):
    audit.write({"event": "outcome", "run_id": "one"})
    change(str(state / "audit.log"))
    with pytest.raises(audit.AuditError) as refused:
        audit.write({"event": "intent", "run_id": "two"})
    assert why in str(refused.value)
    with pytest.raises(statefiles.UntrustedState):
        audit.read()  # what it says may have been forged


def test_replacing_a_state_file_replaces_a_planted_link_not_its_target(state, victim):
    os.symlink(str(victim), str(state / "listing-cache.json"))
    statefiles.write_atomically(str(state / "listing-cache.json"), b"{}")
    assert victim.read_text() == "precious\n"
    assert not os.path.islink(str(state / "listing-cache.json"))
    assert stat.S_IMODE(os.stat(str(state / "listing-cache.json")).st_mode) == 0o600
    assert sorted(os.listdir(str(state))) == ["listing-cache.json"]  # no temporary left


def test_the_listing_cache_never_writes_through_a_link_at_a_guessable_name(
        state, victim, tmp_path, monkeypatch):
    server = new_server(tmp_path / "fake")
    server.apply_env(monkeypatch)
    add(server, "root", "one")
    cache = CachedListings(Client(), path=str(state / "listing-cache.json"),
                           token_dir=str(tmp_path / "cpanel-tokens"))
    os.makedirs(str(tmp_path / "cpanel-tokens"))
    cache.list_tokens("root")
    # The old temporary name was the cache's name plus the pid: a user could plant it.
    os.symlink(str(victim), "%s.%d.tmp" % (cache.path, os.getpid()))
    cache.save()
    assert victim.read_text() == "precious\n"
    assert "root" in json.loads((state / "listing-cache.json").read_text())


def test_a_forged_listing_cache_entry_for_an_owner_without_a_token_file_is_ignored(
        state, tmp_path, monkeypatch):
    server = new_server(tmp_path / "fake")
    server.apply_env(monkeypatch)
    token_dir = tmp_path / "tokens"
    token_dir.mkdir()  # root has no token file: its key reads "absent"
    forged = {"root": {"key": ["absent"], "data": {"tokens": {"forged": {
        "name": "forged", "create_time": NOW - DAY, "expires_at": None, "acls": {"all": 1},
        "whitelist_ips": None}}}}}
    (state / "listing-cache.json").write_text(json.dumps(forged))
    cache = CachedListings(Client(), path=str(state / "listing-cache.json"),
                           token_dir=str(token_dir))
    assert not cache.remembers("root")
    assert cache.list_tokens("root") == []  # asked whmapi1, which knows no such token
    assert len(server.calls("api_token_list")) == 1


def usage_lines(owner, name, count):
    return "".join(
        "[2026-11-27 %02d:00:00 +0000] info [whostmgrd] Host: ['10.0.0.1'] HTTP Status: "
        "['200'], User: ['%s'], Token Name: ['%s'], Request: ['GET /json-api/x HTTP/1.1']\n"
        % (hour, owner, name) for hour in range(count))


def test_a_poisoned_usage_cache_entry_that_matches_any_file_is_ignored(state, tmp_path):
    """An entry with an empty head fingerprint matches every file at that inode: trusted,
    it would skip the whole log and make tokens used an hour ago read as never used."""
    root = tmp_path / "cpanel"
    logs = root / "usr" / "local" / "cpanel" / "logs"
    logs.mkdir(parents=True)
    log = logs / "api_tokens_log"
    log.write_text(usage_lines("root", "busy", 3))
    info = os.stat(str(log))
    poisoned = {"version": usage.CACHE_VERSION, "log_dir": str(logs), "files": [{
        "path": str(log), "dev": info.st_dev, "ino": info.st_ino, "size": info.st_size,
        "mtime": info.st_mtime, "head_len": 0, "head_sha": hashlib.sha256(b"").hexdigest(),
        "codec": "plain", "offset": info.st_size, "oldest": NOW - 400 * DAY, "newest": NOW,
        "lines": 0, "malformed": 0, "tokens": []}]}
    (state / usage.CACHE_NAME).write_text(json.dumps(poisoned))
    facts = usage.load_usage(cpanel_root=str(root), state_dir=str(state))
    assert facts.get("root", "busy") is not None and facts.get("root", "busy").uses == 3


def test_a_usage_cache_someone_else_owns_is_refused(state, tmp_path):
    (state / usage.CACHE_NAME).write_text("{}")
    os.chown(str(state / usage.CACHE_NAME), NOBODY, NOBODY)
    with pytest.raises(statefiles.UntrustedState):
        usage.load_usage(cpanel_root=str(tmp_path / "cpanel"), state_dir=str(state))


def test_the_command_refuses_a_state_dir_it_does_not_own_and_says_why(tmp_path):
    server = new_server(tmp_path / "fake")
    add(server, "root", "old", age_days=400, expires_in_days=-1)
    cli = Cli(server, tmp_path / "run")
    os.makedirs(cli.state_dir)
    os.chown(cli.state_dir, NOBODY, NOBODY)
    run = cli("sweep", "--expired", "--yes")
    assert run.status == 1, run
    assert "refusing to use %s: the directory is owned by uid 65534" % cli.state_dir in run.err
    assert server.calls("api_token_revoke") == [] and "old" in server.token_names("root")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("name", [usage.CACHE_NAME, "csrf.secret", "listing-cache.json"])
def test_a_fifo_in_the_state_dir_is_refused_without_waiting_for_a_writer(state, name):
    # Opening a FIFO for reading waits for a writer: every page load and sweep would hang
    # on it (the old code did, for as long as nobody wrote).
    path = os.path.join(state, name)
    os.mkfifo(path, 0o600)

    with pytest.raises(statefiles.UntrustedState, match="not a regular file"):
        statefiles.read_bytes(path)


# -- a full disk (issue 31, break-it #5) ---------------------------------------------------


@pytest.fixture
def full_disk(state, monkeypatch):
    """New files in the state dir are created, and writing to them fails with ENOSPC, as
    on a full disk (/dev/full answers every write so)."""
    real_open = os.open

    def full_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if str(path).startswith(str(state)) and flags & os.O_EXCL:
            full = real_open("/dev/full", os.O_WRONLY)
            os.dup2(full, fd)
            os.close(full)
        return fd

    monkeypatch.setattr(os, "open", full_open)
    return state


@pytest.mark.parametrize("write", [statefiles.write_atomically, statefiles.create_once])
def test_a_full_disk_names_the_state_file_and_keeps_what_was_there(full_disk, write):
    path = full_disk / "watch-state.json"
    path.write_text("the earlier state\n")
    os.chmod(str(path), 0o600)
    with pytest.raises(OSError) as raised:
        write(str(path), b"x" * 100)
    assert raised.value.errno == 28 and raised.value.filename == str(path)
    assert str(raised.value) == "[Errno 28] No space left on device: '%s'" % path
    assert path.read_text() == "the earlier state\n"
    assert sorted(os.listdir(str(full_disk))) == ["watch-state.json"]  # no temporary left
