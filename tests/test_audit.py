"""audit.write on a nearly full disk (issue 11.2): a record is written whole or the write
fails and the log is left as it was; a torn last line never swallows the next record.

A full disk is injected by wrapping os.write for the audit log's descriptor only: it
accepts part of a write (as write(2) does when the disk fills mid-record), then fails
with ENOSPC.
"""

import errno
import json
import os

import pytest

from tests.helpers import NOW, add, new_server
from tokensweeper import audit, cli
from tokensweeper.lock import SweepLock
from tokensweeper.policy import Protection, Selectors
from tokensweeper.sweep import ENFORCE, build_plan, execute
from tokensweeper.whmapi import Client


class Disk(object):
    """Replaces os.write for descriptors open on `path`: `room` bytes fit, then ENOSPC;
    `chunk` caps what one call accepts (a short write); `fail_when` picks the records
    to fail (bytes in the line), the others are written normally."""

    def __init__(self, monkeypatch, path, room=None, chunk=None, fail_when=None):
        self.path = os.path.realpath(path)
        self.room = room
        self.chunk = chunk
        self.fail_when = fail_when
        self.calls = 0
        self.failing = False
        self._real = os.write
        monkeypatch.setattr(os, "write", self.write)

    def is_log(self, fd):
        try:
            return os.readlink("/proc/self/fd/%d" % fd) == self.path
        except OSError:
            return False

    def write(self, fd, data):
        if not self.is_log(fd):
            return self._real(fd, data)
        self.calls += 1
        data = bytes(data)
        if self.fail_when is not None:
            if self.fail_when in data:
                self.failing = True
            elif not self.failing:
                return self._real(fd, data)
        if self.chunk is not None:
            data = data[:self.chunk]
        if self.room is not None:
            if self.room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            data = data[:self.room]
            self.room -= len(data)
        return self._real(fd, data)


@pytest.fixture
def log_path(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    return str(state / "audit.log")


def record(n, **extra):
    body = {"event": "outcome", "run_id": "run-%d" % n, "epoch": NOW, "tokens": [
        {"owner": "root", "name": "token-%d-%d" % (n, i), "action": "revoked"} for i in range(8)]}
    body.update(extra)
    return body


def raw(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_short_writes_are_repeated_until_the_record_is_whole(log_path, monkeypatch):
    audit.write(record(1))
    disk = Disk(monkeypatch, log_path, chunk=150)
    audit.write(record(2))
    assert disk.calls > 3  # the record took several writes of 150 bytes
    records, damaged = audit.read()
    assert [r["run_id"] for r in records] == ["run-1", "run-2"] and damaged == 0
    assert records[1] == record(2)


def test_a_full_disk_fails_the_write_and_leaves_the_log_as_it_was(log_path, monkeypatch):
    audit.write(record(1))
    before = raw(log_path)
    Disk(monkeypatch, log_path, room=150)
    with pytest.raises(audit.AuditError) as raised:
        audit.write(record(2))
    assert "No space left on device" in str(raised.value)
    assert raw(log_path) == before  # the 150 bytes that fitted were cut away again


def test_a_record_never_starts_in_the_middle_of_a_torn_line(log_path):
    audit.write(record(1))
    with open(log_path, "ab") as handle:
        handle.write(b'{"event":"intent","run_id":"cut-off-by-a-cr')  # a crash mid-record
    audit.write(record(2))
    records, damaged = audit.read()
    assert [r["run_id"] for r in records] == ["run-1", "run-2"] and damaged == 1
    assert raw(log_path).endswith(b"\n")


def test_the_log_is_created_0600(log_path):
    audit.write(record(1))
    assert os.stat(log_path).st_mode & 0o777 == 0o600


# -- what a failed write means for a run -----------------------------------------------


@pytest.fixture
def server(tmp_path, monkeypatch, log_path):
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    fake.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(tmp_path / "cpanel"))
    monkeypatch.setenv("TOKENSWEEPER_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("TOKENSWEEPER_NOW", str(NOW))
    add(fake, "root", "root-expired", age_days=400, expires_in_days=-10)
    add(fake, "bob", "bob-expired", age_days=50, expires_in_days=-2)
    add(fake, "bob", "bob-fine", age_days=5)
    return fake


def expired_run(tmp_path):
    client = Client()
    with SweepLock(str(tmp_path / "state" / "sweep.lock")) as lock:
        plan = build_plan(client, Selectors(expired=True), Protection(), None, NOW)
        return execute(plan, client, lock, "cli:root", ENFORCE, NOW)


def test_an_intent_cut_short_by_a_full_disk_means_nothing_is_revoked(server, tmp_path,
                                                                     monkeypatch, log_path):
    Disk(monkeypatch, log_path, room=150)
    with pytest.raises(audit.AuditError):
        expired_run(tmp_path)
    assert server.calls("api_token_revoke") == []
    assert server.token_names("bob") == {"bob-expired", "bob-fine"}
    assert not os.path.exists(log_path) or raw(log_path) == b""


def test_an_outcome_cut_short_is_a_failed_run(server, tmp_path, monkeypatch, log_path):
    Disk(monkeypatch, log_path, room=150, fail_when=b'"event":"outcome"')
    result = expired_run(tmp_path)
    assert server.token_names("bob") == {"bob-fine"}  # revoked: the intent was recorded
    assert result.audit_error and "No space left" in result.audit_error
    assert result.exit_code() == 1
    records, damaged = audit.read()
    assert [r["event"] for r in records] == ["intent"] and damaged == 0  # no torn outcome


@pytest.mark.parametrize("json_output", [False, True])
def test_the_command_exits_1_and_says_so_on_stderr(server, tmp_path, monkeypatch, log_path,
                                                   capsys, json_output):
    Disk(monkeypatch, log_path, room=150, fail_when=b'"event":"outcome"')
    status = cli.main(["sweep", "--expired", "--yes"] + (["--json"] if json_output else []))
    out, err = capsys.readouterr()
    assert status == 1
    assert "the outcome of run" in err and "could not be written to the audit log" in err
    assert "No space left on device" in err
    if json_output:
        assert json.loads(out)["audit_error"]


def test_the_scheduled_run_is_not_silent_about_it(server, tmp_path, monkeypatch, log_path,
                                                  capsys):
    """Nothing to revoke: the outcome record is the only thing the run had to do."""
    (tmp_path / "config.yaml").write_text("mode: enforce\npolicy: {expired: false, "
                                          "older_than_days: 5000}\n")
    Disk(monkeypatch, log_path, room=0)
    status = cli.main(["sweep", "--scheduled"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "could not be written to the audit log" in err
