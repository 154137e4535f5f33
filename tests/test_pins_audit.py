"""Pins on audit.py found by mutation testing (`make mutate`): what an admin
reading the log, or a later tool reading it back, would notice."""

import os
import re
import stat

import pytest

from tokensweeper import audit

NOW = 1795780800  # 2026-11-27 12:00:00 UTC


@pytest.fixture
def log(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    return str(tmp_path / "state" / "audit.log")


def lines_of(path):
    with open(path, "rb") as handle:
        return handle.read().splitlines()


def test_a_damaged_line_hides_no_later_record(log):
    audit.write({"epoch": 1, "n": 1})
    with open(log, "ab") as handle:
        handle.write(b'{"epoch": 2, "n": 2, "trunc\n')  # a write cut short by a crash
        handle.write(b"\xff\xfe not utf-8\n")
        handle.write(b"[1, 2]\n")  # JSON, but not a record
    audit.write({"epoch": 3, "n": 3})
    audit.write({"epoch": 4, "n": 4})
    records, damaged = audit.read()
    assert [r["n"] for r in records] == [1, 3, 4]
    assert damaged == 3


def test_since_leaves_out_older_records_only(log):
    for epoch in (10, 20, 30):
        audit.write({"epoch": epoch})
    audit.write({"note": "no epoch counts as oldest"})
    records, damaged = audit.read(since=20)
    assert [r["epoch"] for r in records] == [20, 30]
    assert damaged == 0
    assert len(audit.read(since=None)[0]) == 4
    assert len(audit.read(since=0)[0]) == 4
    assert len(audit.read(since=1)[0]) == 3


def test_a_missing_log_reads_as_empty(log):
    assert audit.read() == ([], 0)


def test_read_takes_an_explicit_path(tmp_path, log):
    other = str(tmp_path / "elsewhere.log")
    audit.write({"epoch": 5, "where": "there"}, path=other)
    assert audit.read(path=other) == ([{"epoch": 5, "where": "there"}], 0)
    assert audit.read() == ([], 0)


def test_records_are_one_sorted_compact_json_line_each_appended(log):
    audit.write({"b": 1, "a": "ü"})
    audit.write({"c": None})
    assert lines_of(log) == [b'{"a":"\\u00fc","b":1}', b'{"c":null}']


def test_the_log_and_its_directory_are_private(log):
    audit.write({"epoch": 1})
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(log)).st_mode) == 0o700


def test_a_log_left_readable_becomes_private_on_the_next_write(log):
    audit.write({"epoch": 1})
    os.chmod(log, 0o644)
    audit.write({"epoch": 2})
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    assert [r["epoch"] for r in audit.read()[0]] == [1, 2]


def test_an_unwritable_log_is_an_audit_error_naming_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = str(blocker / "audit.log")  # its directory is a file
    with pytest.raises(audit.AuditError) as caught:
        audit.write({"epoch": 1}, path=path)
    assert str(caught.value).startswith("cannot write the audit log")
    assert str(blocker) in str(caught.value)


def test_run_ids_are_the_utc_time_and_a_random_suffix():
    first, second = audit.new_run_id(NOW), audit.new_run_id(NOW)
    assert re.match(r"^20261127T120000Z-[0-9a-f]{6}$", first)
    assert first != second


def test_iso_is_utc_with_a_z():
    assert audit.iso(NOW) == "2026-11-27T12:00:00Z"
    assert audit.iso(0) == "1970-01-01T00:00:00Z"


# -- runs, as the page and `tokensweeper audit` group them ---------------------------


def test_records_group_into_runs_in_order_of_first_appearance():
    records = [
        {"run_id": "b", "event": "intent", "epoch": 5},
        {"run_id": "a", "event": "snapshot", "epoch": 6},
        {"run_id": "b", "event": "outcome", "epoch": 7},
        {"event": "note"},
    ]
    runs = audit.runs(records)
    assert [(r.run_id, len(r.records)) for r in runs] == [("b", 2), ("a", 1), ("", 1)]
    assert runs[0].final == records[2]  # a readable() copy: the record as written
    assert runs[0].epoch == 7 and runs[2].epoch == 0


def test_only_an_intent_with_nothing_after_it_is_interrupted():
    intent = {"run_id": "r", "event": "intent", "epoch": 5}
    run = audit.runs([intent])[0]
    assert run.interrupted
    assert not audit.runs([intent, dict(intent, event="outcome")])[0].interrupted
    assert not audit.runs([{"run_id": "s", "event": "snapshot"}])[0].interrupted


def test_a_runs_tokens_and_counts_come_from_its_last_record():
    run = audit.runs([
        {"run_id": "r", "event": "intent", "tokens": [{"action": "revoke"}]},
        {"run_id": "r", "event": "outcome", "tokens": [
            {"action": "revoked"}, {"action": "failed"}, {"action": "revoked"}, "junk", {}]},
    ])[0]
    # A token entry that is no object says nothing about any token: left out (issue 25).
    assert len(run.tokens()) == 4
    assert run.counts() == [("None", 1), ("failed", 1), ("revoked", 2)]
    damaged = audit.runs([{"run_id": "x", "tokens": "not a list"}])[0]
    assert damaged.tokens() == [] and damaged.counts() == []


def test_a_refused_rename_is_counted_as_a_rename_not_a_creation():
    # The guard records both as `blocked`; only a rename names the name it asked for.
    run = audit.runs([{"run_id": "g", "event": "creation-blocked", "tokens": [
        {"action": "blocked", "renamed_to": "deploy"}, {"action": "blocked"},
        {"action": "blocked", "renamed_to": None}, {"action": "revoked", "renamed_to": "x"},
        {"action": "blocked", "renamed_to": ["deploy"]}]}])[0]
    assert run.counts() == [("blocked", 2), ("rename-blocked", 2), ("revoked", 1)]
    assert audit.action_of({"action": "blocked", "renamed_to": "x"}) == "rename-blocked"
    assert audit.action_of({}) == "None"


def test_a_write_that_stores_nothing_is_an_error_not_an_endless_loop(log, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(audit.AuditError) as caught:
        audit.write({"epoch": 1})
    monkeypatch.setattr(os, "write", real_write)
    assert str(caught.value) == "cannot write the audit log %s: the write stored nothing" % log
    assert audit.read() == ([], 0)


def test_a_disk_that_takes_one_byte_at_a_time_still_gets_the_whole_record(log, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:1])))
    audit.write({"epoch": 1, "n": "x"})
    monkeypatch.setattr(os, "write", real_write)
    assert audit.read() == ([{"epoch": 1, "n": "x"}], 0)


@pytest.mark.parametrize("error, said", [
    (OSError(28, "No space left on device"), "No space left on device"),
    (OSError("the disk went away"), "the disk went away"),  # no strerror: the error itself
])
def test_a_write_that_fails_after_opening_says_where_and_why(log, monkeypatch, error, said):
    def refuse(fd, data):
        raise error

    monkeypatch.setattr(audit.os, "write", refuse)
    with pytest.raises(audit.AuditError) as caught:
        audit.write({"epoch": 1}, path=log)
    assert str(caught.value) == "cannot write the audit log %s: %s" % (log, said)


def test_a_whole_float_epoch_reads_as_its_integer():
    assert audit.epoch_of({"epoch": 1700000000.0}) == 1700000000
    assert audit.epoch_of({"epoch": 1.5}) == 0 and audit.epoch_of({"epoch": True}) == 0


@pytest.mark.parametrize("error, said", [
    (OSError(13, "Permission denied"), "Permission denied"),
    (OSError("no such place"), "no such place"),
])
def test_a_log_that_cannot_be_opened_says_where_and_why(log, monkeypatch, error, said):
    def refuse(path, flags, *args, **kwargs):
        raise error

    monkeypatch.setattr(audit.statefiles, "open_file", refuse)
    with pytest.raises(audit.AuditError) as caught:
        audit.write({"epoch": 1}, path=log)
    assert str(caught.value) == "cannot write the audit log %s: %s" % (log, said)


# -- issue 25: every reader sees a record with the types it expects ---------------------


def test_a_readable_record_keeps_good_fields_as_written():
    record = {"event": "outcome", "time": "T", "epoch": 5, "run_id": "r", "actor": "root",
              "mode": "enforce", "refused": None, "selectors": {"expired": True,
                                                                  "used_from": ["10.0.0.0/8"],
                                                                  "older_than_days": 30},
              "owner_errors": {"bob": "down"}, "held_back": {"amy": "cap"},
              "problems": ["p"], "mail": [{"to": "a@b.c", "outcome": "sent"}],
              "tokens": [{"owner": "root", "name": "n", "action": "revoked", "create_time": 1,
                          "expires_at": None, "full_access": True, "ip_limited": False,
                          "recipients": ["a@b.c"], "extra": [1],
                          "seen_from": [{"ip": "10.0.0.1", "uses": 2, "first": None,
                                         "last": "L"}]}],
              "unknown": {"kept": 1}}
    assert audit.readable(record) == record
    assert audit.readable({}) == {"run_id": ""}


def test_a_damaged_field_becomes_text_or_goes():
    out = audit.readable({
        "event": ["x"], "run_id": 7, "epoch": audit.MAX_EPOCH + 1, "refused": {"a": 1},
        "selectors": "expired", "owner_errors": ["bob"], "held_back": {"bob": 3},
        "problems": "disk full", "mail": [{"to": 1}, "junk"],
        "tokens": [{"owner": None, "name": 5, "action": ["revoked"], "create_time": "1",
                    "expires_at": True, "due_epoch": -audit.MAX_EPOCH - 1,
                    "reminder_days": audit.MAX_EPOCH, "full_access": "yes", "ip_limited": 1,
                    "seen_from_truncated": 0, "recipients": [None, "a", 2],
                    "seen_from": [{"ip": 3, "uses": "2", "first": 4, "last": None}, "junk"]},
                   "junk", ["also junk"]]})
    assert out["event"] == '["x"]' and out["run_id"] == "7" and out["epoch"] == 0
    assert out["refused"] == '{"a": 1}'
    assert out["selectors"] == {} and out["owner_errors"] == {}
    assert out["held_back"] == {"bob": "3"}
    assert out["problems"] == [] and out["mail"] == [{"to": "1", "outcome": ""}]
    (token,) = out["tokens"]
    assert token["owner"] is None and token["name"] == "5" and token["action"] == '["revoked"]'
    assert token["create_time"] is None and token["expires_at"] is None
    assert token["due_epoch"] is None and token["reminder_days"] == audit.MAX_EPOCH
    assert token["full_access"] is False and token["ip_limited"] is True
    assert token["seen_from_truncated"] is False
    assert token["recipients"] == ["a", "2"]
    assert token["seen_from"] == [{"ip": "3", "uses": 0, "first": "4", "last": None}]
    assert audit.readable({"selectors": {"used_from": [None, "a"], "x": {"y": 1},
                                         "n": None, "f": 1.5}})["selectors"] == {
        "used_from": ["null", "a"], "x": '{"y": 1}', "n": None, "f": 1.5}
    assert audit.readable({"problems": [None, 1, "p"]})["problems"] == ["1", "p"]


def test_an_epoch_counts_only_within_what_a_clock_can_show():
    assert audit.epoch_of({"epoch": audit.MAX_EPOCH}) == audit.MAX_EPOCH
    assert audit.epoch_of({"epoch": audit.MAX_EPOCH + 1}) == 0
    assert audit.epoch_of({"epoch": -1}) == 0
    assert audit.epoch_of({"epoch": 0}) == 0 and audit.epoch_of({"epoch": 7.0}) == 7
    assert audit.MAX_EPOCH == 253402300799
