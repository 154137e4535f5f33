"""Pins on usage/ found by mutation testing (`make mutate`): the words of the
evidence at their boundaries, what several files add up to, the cache's
incremental reads, and the log shapes the other tests never wrote."""

import bz2
import calendar
import collections
import gzip
import hashlib
import ipaddress
import json
import lzma
import os
import stat
import sys
import time

import pytest

from tokensweeper import usage
from tokensweeper.usage import TokenUsage, UsageFacts

DAY = 86400
NOW = calendar.timegm((2026, 11, 20, 12, 0, 0))
OLD = calendar.timegm((2025, 1, 1, 0, 0, 0))

Tok = collections.namedtuple("Tok", "owner name create_time")


def line(ts, user, name, ip="10.0.0.1", offset="+0000"):
    sign = -1 if offset[0] == "-" else 1
    shift = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts + shift))
    return (f"[{local} {offset}] info [whostmgrd] Host: ['{ip}'] HTTP Status: ['200'], "
            f"User: ['{user}'], Token Name: ['{name}'], Request: ['GET /json-api/x HTTP/1.1']\n")


@pytest.fixture
def root(tmp_path):
    (tmp_path / "cpanel" / "usr" / "local" / "cpanel" / "logs").mkdir(parents=True)
    return tmp_path / "cpanel"


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


def logs(root):
    return root / "usr" / "local" / "cpanel" / "logs"


def write(root, name, lines, opener=None):
    path = logs(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(lines).encode() if isinstance(lines, list) else lines
    if opener:
        with opener(str(path), "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def load(root, state):
    return usage.load_usage(cpanel_root=str(root), state_dir=str(state))


def facts_from(oldest, uses=None):
    return UsageFacts(tokens=uses or {}, oldest=oldest, newest=NOW)


# -- the words, at their boundaries -------------------------------------------------------


@pytest.mark.parametrize(
    "ago, words",
    [
        (59, "used just now"),
        (60, "used 1 minute ago"),
        (3599, "used 59 minutes ago"),
        (3600, "used 1 hour ago"),
        (7199, "used 1 hour ago"),
        (7200, "used 2 hours ago"),
        (DAY - 1, "used 23 hours ago"),
        (DAY, "used 1 day ago"),
        (2 * DAY, "used 2 days ago"),
    ],
)
def test_how_long_ago_a_use_was(ago, words):
    facts = facts_from(OLD, {("root", "t"): TokenUsage(NOW - ago, "10.0.0.1", 1)})
    assert facts.unused_for(Tok("root", "t", OLD), 30, NOW) == (False, words)


@pytest.mark.parametrize(
    "reach, words",
    [(120, "2 minutes"), (2 * 3600, "2 hours"), (-300, "0 minutes"), (DAY + 5, "1 day")],
)
def test_how_far_back_the_log_reaches(reach, words):
    # A negative reach is a log written ahead of this clock: it covers nothing.
    facts = facts_from(NOW - reach)
    assert facts.unused_for(Tok("root", "t", OLD), 30, NOW) == (
        False, "usage log only covers " + words)


def test_covered_days_are_whole_days_and_none_without_evidence():
    assert UsageFacts().covered_days(NOW) is None
    assert facts_from(NOW - 3 * DAY - 5).covered_days(NOW) == 3
    assert facts_from(NOW + DAY).covered_days(NOW) == 0


def test_evidence_reaching_exactly_n_days_covers_them():
    assert facts_from(NOW - 30 * DAY).covers_days(30, NOW)
    assert facts_from(NOW - 30 * DAY).unused_for(Tok("root", "t", OLD), 30, NOW) == (
        True, "not seen since 2026-10-21")


def test_a_use_exactly_n_days_ago_is_not_a_use_in_the_last_n_days():
    facts = facts_from(OLD, {("root", "t"): TokenUsage(NOW - 30 * DAY, "10.0.0.1", 1)})
    assert facts.unused_for(Tok("root", "t", OLD), 30, NOW) == (
        True, "last used 2026-10-21 (30 days ago)")


def test_a_token_created_exactly_n_days_ago_can_be_unused_for_n_days():
    facts = facts_from(OLD)
    assert facts.unused_for(Tok("root", "t", NOW - 30 * DAY), 30, NOW) == (True, "never used")


def test_a_token_created_when_the_log_begins_is_not_seen_rather_than_never_used():
    # The log's first second may have lost earlier lines of that same second.
    facts = facts_from(OLD)
    token = Tok("root", "t", OLD)
    assert facts.describe(token, NOW) == "not seen since 2025-01-01"
    assert facts.unused_for(token, 30, NOW) == (True, "not seen since 2025-01-01")


def test_a_use_in_the_second_the_token_was_created_is_its_own():
    facts = facts_from(OLD, {("root", "t"): TokenUsage(NOW - DAY, "10.0.0.1", 1)})
    assert facts.last_use(Tok("root", "t", NOW - DAY)) == TokenUsage(NOW - DAY, "10.0.0.1", 1)


def test_facts_made_by_hand_read_nothing():
    facts = UsageFacts()
    assert (facts.bytes_read, facts.errors, facts.lines, facts.malformed, len(facts)) == (
        0, (), 0, 0, 0)


# -- several files ----------------------------------------------------------------------


def test_files_add_up_and_are_listed_by_the_time_their_content_covers(root, state):
    write(root, "api_tokens_log.2", [line(NOW - 50 * DAY, "root", "a"),
                                     line(NOW - 1 * DAY, "root", "a"), "junk\n"])
    write(root, "api_tokens_log.1", [line(NOW - 40 * DAY, "root", "b"),
                                     line(NOW - 30 * DAY, "root", "b"), "junk\n", "more\n"])
    write(root, "api_tokens_log", [])
    facts = load(root, state)
    assert [os.path.basename(p) for p in facts.sources] == [
        "api_tokens_log", "api_tokens_log.2", "api_tokens_log.1"]
    assert (facts.oldest, facts.newest) == (NOW - 50 * DAY, NOW - DAY)
    assert (facts.lines, facts.malformed) == (7, 3)


def test_files_with_the_same_start_are_ordered_by_their_end(root, state):
    write(root, "api_tokens_log.1", [line(NOW - 9 * DAY, "root", "a"),
                                     line(NOW - 2 * DAY, "root", "a")])
    write(root, "api_tokens_log.2", [line(NOW - 9 * DAY, "root", "b"),
                                     line(NOW - 5 * DAY, "root", "b")])
    facts = load(root, state)
    assert [os.path.basename(p) for p in facts.sources] == ["api_tokens_log.2", "api_tokens_log.1"]


def test_uses_in_the_same_second_go_to_the_later_line_and_the_newer_file(root, state):
    when = NOW - DAY
    write(root, "api_tokens_log.1", [line(when - 100, "root", "z"),
                                     line(when, "root", "t", ip="10.0.0.1")])
    write(root, "api_tokens_log", [line(when, "root", "t", ip="10.0.0.2"),
                                   line(when, "root", "u", ip="10.0.0.3"),
                                   line(when, "root", "u", ip="10.0.0.4")])
    facts = load(root, state)
    assert facts.get("root", "t") == TokenUsage(when, "10.0.0.2", 2)
    assert facts.get("root", "u") == TokenUsage(when, "10.0.0.4", 2)


def test_other_files_in_the_log_dir_do_not_stop_the_search(root, state):
    write(root, "access_log", ["x\n"])
    (logs(root) / "api_tokens_log.0").mkdir()  # not a regular file: skipped
    os.symlink(str(logs(root) / "nowhere"), str(logs(root) / "api_tokens_log.00"))  # dangling
    os.link(str(write(root, "api_tokens_log", [line(NOW - DAY, "root", "t")])),
            str(logs(root) / "api_tokens_log-1"))
    write(root, "api_tokens_log.5", [line(NOW - 2 * DAY, "root", "t")])
    facts = load(root, state)
    assert facts.get("root", "t").uses == 2


# -- log shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, opener",
    [("api_tokens_log.1.xz", lzma.open), ("api_tokens_log.1.bz2", bz2.open),
     ("api_tokens_log.1.gz", gzip.open)],
)
def test_compressed_logs_of_every_kind_are_read_to_their_unterminated_end(
        root, state, name, opener):
    write(root, name, (line(NOW - 2 * DAY, "root", "t") + line(NOW - DAY, "root", "t")
                       ).rstrip("\n").encode(), opener=opener)
    facts = load(root, state)
    assert facts.get("root", "t") == TokenUsage(NOW - DAY, "10.0.0.1", 2)
    assert facts.errors == ()


def test_without_lzma_an_xz_log_is_an_error_not_a_crash(root, state, monkeypatch):
    write(root, "api_tokens_log.1.xz", line(NOW - DAY, "root", "t").encode(), opener=lzma.open)
    monkeypatch.setitem(sys.modules, "lzma", None)
    facts = load(root, state)
    assert facts.errors == ("api_tokens_log.1.xz: xz compression is not supported by this Python",)
    assert facts.bytes_read == 0 and facts.oldest is None


def test_a_compressed_log_is_read_once_and_followed_through_a_rename(root, state):
    path = write(root, "api_tokens_log.1.gz", line(NOW - DAY, "root", "t").encode(),
                 opener=gzip.open)
    first = load(root, state)
    assert first.bytes_read > 0
    again = load(root, state)
    assert again.bytes_read == 0
    assert (again.oldest, again.newest) == (first.oldest, first.newest)
    path.rename(logs(root) / "api_tokens_log.2.gz")
    renamed = load(root, state)
    assert renamed.bytes_read == 0
    assert [os.path.basename(p) for p in renamed.sources] == ["api_tokens_log.2.gz"]
    assert renamed.get("root", "t").uses == 1


def test_a_damaged_compressed_log_is_reported_on_every_load(root, state):
    whole = gzip.compress(("".join(line(NOW - DAY + i, "root", "t") for i in range(2000))
                           ).encode())
    (logs(root) / "api_tokens_log.1.gz").write_bytes(whole[: len(whole) // 2])
    assert load(root, state).errors
    again = load(root, state)
    assert len(again.errors) == 1 and again.errors[0].startswith(
        "api_tokens_log.1.gz: damaged or incomplete gzip data (")
    assert again.bytes_read > 0


@pytest.mark.parametrize("offset", ["+1030", "-1000", "+2300", "+0059"])
def test_two_digit_hour_and_minute_offsets(root, state, offset):
    write(root, "api_tokens_log", [line(NOW - DAY, "root", "t", offset=offset)])
    assert load(root, state).get("root", "t").last_used == NOW - DAY


@pytest.mark.parametrize("offset", ["+2400", "+0060", "+2460"])
def test_offsets_out_of_range_are_malformed(root, state, offset):
    text = line(NOW - DAY, "root", "t").replace("+0000", offset)
    write(root, "api_tokens_log", [text])
    facts = load(root, state)
    assert facts.get("root", "t") is None and facts.malformed == 1


def test_a_name_with_bytes_that_are_not_utf8_still_counts(root, state):
    text = line(NOW - DAY, "root", "t\udcff", ip="10.0.0.1").encode("utf-8", "surrogateescape")
    write(root, "api_tokens_log", text)
    assert load(root, state).get("root", "t\ufffd").uses == 1


# -- reading in blocks ------------------------------------------------------------------


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(usage.scan, "BLOCK_SIZE", 64)
    monkeypatch.setattr(usage.scan, "MAX_LINE", 300)
    monkeypatch.setattr(usage.files, "MAX_LINE", 300)


def test_an_overlong_line_across_blocks_is_one_malformed_line(root, state, small_blocks):
    good = line(NOW - 2 * DAY, "root", "t")
    assert len(good) < 300
    path = write(root, "api_tokens_log", [good, "x" * 1000 + "\n", good])
    facts = load(root, state)
    assert (facts.lines, facts.malformed, facts.get("root", "t").uses) == (3, 1, 2)
    assert facts.bytes_read == path.stat().st_size
    with open(str(path), "a") as f:
        f.write("y" * 500 + "\n" + line(NOW - DAY, "root", "t"))
    facts = load(root, state)
    assert (facts.lines, facts.malformed, facts.get("root", "t").uses) == (5, 2, 3)
    assert facts.newest == NOW - DAY


def test_a_line_of_exactly_the_limit_is_still_read(root, state, monkeypatch):
    good = line(NOW - DAY, "root", "t")
    monkeypatch.setattr(usage.scan, "BLOCK_SIZE", 16)
    monkeypatch.setattr(usage.scan, "MAX_LINE", len(good) - 1)  # the limit excludes the newline
    monkeypatch.setattr(usage.files, "MAX_LINE", len(good) - 1)  # the limit excludes the newline
    write(root, "api_tokens_log", [good])
    facts = load(root, state)
    assert (facts.malformed, facts.get("root", "t").uses) == (0, 1)


def test_an_unterminated_line_in_a_rotated_plain_log_counts(root, state, small_blocks):
    write(root, "api_tokens_log.1", [line(NOW - DAY, "root", "t").rstrip("\n")])
    assert load(root, state).get("root", "t").uses == 1


# -- the cache ------------------------------------------------------------------------------


def test_a_log_cut_back_to_its_own_beginning_is_read_again(root, state):
    lines = [line(NOW - DAY + i, "root", "t") for i in range(100)]
    path = write(root, "api_tokens_log", lines)
    assert load(root, state).get("root", "t").uses == 100
    with open(str(path), "r+b") as f:
        f.truncate(len("".join(lines[:60]).encode()))  # same first 4 KB, fewer lines
    assert load(root, state).get("root", "t").uses == 60


def test_a_file_of_only_garbage_is_not_read_twice(root, state):
    write(root, "api_tokens_log.1", ["garbage\n"] * 10)
    assert load(root, state).malformed == 10
    again = load(root, state)
    assert (again.bytes_read, again.malformed) == (0, 10)


def test_one_damaged_cache_entry_costs_only_its_own_file(root, state):
    one = write(root, "api_tokens_log", [line(NOW - DAY, "root", "t")])
    write(root, "api_tokens_log.1", [line(NOW - 2 * DAY, "root", "t")])
    load(root, state)
    cache = state / usage.CACHE_NAME
    data = json.loads(cache.read_text())
    assert [os.path.basename(e["path"]) for e in data["files"]] == [
        "api_tokens_log", "api_tokens_log.1"]
    del data["files"][0]["ino"]
    cache.write_text(json.dumps(data))
    facts = load(root, state)
    assert facts.bytes_read == one.stat().st_size
    assert facts.get("root", "t").uses == 2


def test_the_cache_is_compact_private_json_in_a_private_directory(root, state, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(state / "no-such-dir"))  # must not be used
    write(root, "api_tokens_log", [line(NOW - DAY, "root", "t")])
    load(root, state)
    cache = state / usage.CACHE_NAME
    assert stat.S_IMODE(os.stat(str(state)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(cache)).st_mode) == 0o600
    assert b", " not in cache.read_bytes() and b": " not in cache.read_bytes()
    assert sorted(os.listdir(str(state))) == [usage.CACHE_NAME]


def test_a_log_that_vanishes_while_loading_is_reported(root, state, monkeypatch):
    gone = str(logs(root) / "api_tokens_log.1")
    monkeypatch.setattr(usage, "_discover", lambda log_dir: [gone])
    facts = load(root, state)
    assert facts.errors == ("api_tokens_log.1: unreadable (No such file or directory)",)
    assert facts.bytes_read == 0


@pytest.mark.parametrize("given", ["cpanel_root", "state_dir"])
def test_either_directory_may_be_given_and_the_other_comes_from_the_environment(
        root, state, tmp_path, monkeypatch, given):
    write(root, "api_tokens_log", [line(NOW - DAY, "root", "t")])
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(root))
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if given == "cpanel_root":
        assert usage.load_usage(cpanel_root=str(elsewhere)).oldest is None
        assert (state / usage.CACHE_NAME).exists()
    else:
        assert usage.load_usage(state_dir=str(elsewhere)).get("root", "t").uses == 1
        assert (elsewhere / usage.CACHE_NAME).exists()


# -- incident evidence: the words of used_since / used_from, the addresses kept ---------------
# (added after the #19 merge gave usage.py per-address evidence)

AddressUse = usage.AddressUse
NET = [ipaddress.ip_network("203.0.113.0/24")]
MIN = 60


def incident_facts(oldest, uses=None, addresses=None):
    return UsageFacts(uses or {}, oldest, NOW, 0, 1, (), addresses or {})


def test_used_since_gives_the_use_or_why_it_cannot_tell():
    token = Tok("root", "t", OLD)
    since = NOW - DAY
    assert UsageFacts().used_since(token, since) == (
        None, "no usage evidence (no api_tokens_log to read)")
    at = incident_facts(OLD, {("root", "t"): TokenUsage(since, "203.0.113.9", 2)})
    assert at.used_since(token, since) == (True, "used 2026-11-19 12:00 UTC from 203.0.113.9")
    bare = incident_facts(OLD, {("root", "t"): TokenUsage(since + MIN, None, 1)})
    assert bare.used_since(token, since) == (True, "used 2026-11-19 12:01 UTC")
    before = incident_facts(OLD, {("root", "t"): TokenUsage(since - 1, "10.0.0.1", 1)})
    assert before.used_since(token, since) == (
        False, "not used since 2026-11-19 12:00 UTC (last used 2026-11-19 11:59 UTC)")
    assert incident_facts(OLD).used_since(token, since) == (
        False, "not used since 2026-11-19 12:00 UTC")
    late = incident_facts(since + MIN)
    assert late.used_since(token, since) == (
        None, "cannot tell whether used since 2026-11-19 12:00 UTC: the usage log starts "
              "2026-11-19 12:01 UTC, after 2026-11-19 12:00 UTC")
    # A log that starts exactly then, or before the token existed, covers the window.
    assert incident_facts(since).used_since(token, since)[0] is False
    young = Tok("root", "t", since + 2 * MIN)
    assert late.used_since(young, since) == (False, "not used since 2026-11-19 12:00 UTC")


def test_used_from_names_every_matching_address_and_the_others_it_saw():
    token = Tok("root", "t", OLD)
    key = ("root", "t")
    facts = incident_facts(OLD, addresses={key: ((
        AddressUse("203.0.113.9", NOW - 3 * DAY, NOW - 2 * DAY, 2),
        AddressUse("203.0.113.10", None, NOW - DAY, 1),
        AddressUse("10.0.0.1", NOW - 9 * DAY, NOW - 9 * DAY, 1)), None)})
    verdict, why, matched = facts.used_from(token, NET)
    assert verdict is True
    assert why == ("used from 203.0.113.10 (1 use, first unknown, last 2026-11-19 12:00 UTC); "
                   "203.0.113.9 (2 uses, first 2026-11-17 12:00 UTC, last 2026-11-18 12:00 UTC)")
    assert [u.ip for u in matched] == ["203.0.113.10", "203.0.113.9"]
    other = [ipaddress.ip_network("192.0.2.0/24"),
             ipaddress.ip_network("2001:db8::/32")]
    assert facts.used_from(token, other) == (
        False, "not used from 192.0.2.0/24 or 2001:db8::/32 (seen from 203.0.113.10, "
               "203.0.113.9, 10.0.0.1)", [])
    assert facts.used_from(token, other, since=NOW - 2 * DAY) == (
        False, "not used from 192.0.2.0/24 or 2001:db8::/32 since 2026-11-18 12:00 UTC "
               "(seen from 203.0.113.10, 203.0.113.9)", [])
    assert facts.used_from(token, NET, since=NOW)[:2] == (
        False, "not used from 203.0.113.0/24 since 2026-11-20 12:00 UTC")


def test_used_from_lists_at_most_five_other_addresses():
    ips = tuple(AddressUse("10.0.0.%d" % i, NOW - DAY, NOW - i * MIN, 1) for i in range(1, 8))
    facts = incident_facts(OLD, addresses={("root", "t"): (ips, None)})
    _, why, _ = facts.used_from(Tok("root", "t", OLD), NET)
    assert why.endswith("(seen from 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5)")


def test_used_from_cannot_tell_for_every_reason_at_once():
    token = Tok("root", "t", OLD)
    facts = incident_facts(NOW - 5 * DAY, addresses={("root", "t"): ((
        AddressUse("", NOW - 4 * DAY, NOW - 3 * DAY, 2),
        AddressUse("not-an-ip", NOW - 2 * DAY, NOW - 2 * DAY, 1)), NOW - DAY)})
    assert UsageFacts().used_from(token, NET) == (
        None, "no usage evidence (no api_tokens_log to read)", [])
    assert facts.used_from(token, NET) == (
        None, "cannot tell whether used from 203.0.113.0/24: the usage log starts "
              "2026-11-15 12:00 UTC, after 2025-01-01 00:00 UTC; 3 uses since 2025-01-01 "
              "00:00 UTC name no address; used from more than 64 addresses; only the most "
              "recent are kept", [])
    # A window after the log's start, the unnamed uses and the dropped address is known.
    assert facts.used_from(token, NET, since=NOW - DAY + 1)[0] is False
    # The dropped address's last use is in the window: still cannot tell.
    verdict, why, _ = facts.used_from(token, NET, since=NOW - DAY)
    assert verdict is None and why.endswith(
        ": used from more than 64 addresses; only the most recent are kept")


def test_seen_from_leaves_out_what_an_earlier_token_of_the_name_did():
    created = NOW - 5 * DAY
    facts = incident_facts(OLD, addresses={("root", "t"): ((
        AddressUse("10.0.0.1", NOW - 9 * DAY, created - 1, 4),      # only before: not ours
        AddressUse("10.0.0.2", NOW - 9 * DAY, NOW - 2 * DAY, 3),    # before and after
        AddressUse("10.0.0.4", created, NOW - DAY, 1),
        AddressUse("10.0.0.3", created, NOW - DAY, 1),
        AddressUse("10.0.0.5", created, created, 1)), created - 1)})  # its first second
    seen, dropped = facts.seen_from(Tok("root", "t", created))
    assert seen == [AddressUse("10.0.0.3", created, NOW - DAY, 1),
                    AddressUse("10.0.0.4", created, NOW - DAY, 1),
                    AddressUse("10.0.0.2", None, NOW - 2 * DAY, 3),
                    AddressUse("10.0.0.5", created, created, 1)]
    assert dropped is None  # the dropped address was last used before this token existed
    assert facts.seen_from(Tok("root", "t", created - 1))[1] == created - 1
    assert facts.seen_from(Tok("root", "other", OLD)) == ([], None)


@pytest.mark.parametrize("ip, verdict", [
    ("203.0.113.200", True), ("203.0.114.1", False), ("::ffff:203.0.113.9", True),
    ("::ffff:192.0.2.1", False), ("2001:db8::1", False), ("", None), ("unknown", None),
])
def test_an_address_is_in_the_networks_or_names_none(ip, verdict):
    assert usage.address_in(ip, NET) is verdict


def test_an_address_with_no_name_reads_no_address():
    assert usage.describe_address(AddressUse("", None, NOW, 1)) == (
        "no address (1 use, first unknown, last 2026-11-20 12:00 UTC)")


# -- a big file read by two processes: the second half is really used, a failure costs nothing --


def two_process_lines(count, start=0):
    return [line(NOW - DAY + i * 7, "res%d" % (i % 3), "tok-%d" % (i % 5),
                 ip="10.0.%d.%d" % (i % 4, i % 9)) for i in range(start, start + count)]


def two_process_log(root, unfinished=True):
    lines = two_process_lines(2000)
    # Each half holds damage, and the file's newest line is in the first half, its oldest in
    # the second: merging the halves must take each from where it is.
    lines[50] = line(NOW, "res0", "tok-0", ip="10.9.9.9")
    lines[100] = "damaged\n"
    lines[1900] = "damaged too\n"
    lines[1950] = line(NOW - 30 * DAY, "res1", "tok-1", ip="10.9.9.8")
    if unfinished:
        lines[-1] = lines[-1].rstrip("\n")  # a rotated log's unfinished last line still counts
    return write(root, "api_tokens_log.1", lines)


@pytest.fixture
def may_fork(monkeypatch):
    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    import threading

    monkeypatch.setattr(usage.files, "PARALLEL_MIN", 1)
    monkeypatch.setattr(usage.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # see test_usage's big file
    # Only the second reader may end its process: the reading process must go on.
    reader, real_exit = os.getpid(), os._exit

    def exit_only_the_second_reader(status):
        if os.getpid() == reader:
            pytest.fail("the reading process itself tried to exit (status %r)" % (status,))
        real_exit(status)

    monkeypatch.setattr(usage.os, "_exit", exit_only_the_second_reader)
    answers = []
    real = usage.files._read_in_two

    def spy(*args, **kwargs):
        answers.append(real(*args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(usage.files, "_read_in_two", spy)
    return answers


def everything(facts):
    tokens = {(o, "tok-%d" % i): facts.get(o, "tok-%d" % i) for o in ("res0", "res1", "res2")
              for i in range(5)}
    seen = {key: facts.seen_from(Tok(key[0], key[1], 0)) for key in tokens}
    return (facts.lines, facts.malformed, facts.oldest, facts.newest, tokens, seen)


def read_alone(root, state, monkeypatch):
    monkeypatch.setattr(usage.files, "PARALLEL_MIN", 1 << 60)
    return usage.load_usage(cpanel_root=str(root), state_dir=str(state))


@pytest.mark.parametrize("last_read_of_one_byte", [False, True])
def test_both_halves_of_a_big_file_are_read_once_and_merged(root, state, may_fork,
                                                           monkeypatch, last_read_of_one_byte):
    path = two_process_log(root)
    size = path.stat().st_size
    if last_read_of_one_byte:  # the first half ends with a read of its last byte alone
        with open(str(path), "rb") as f:
            split = usage.files._split_point(f.fileno(), 0)
            monkeypatch.setattr(usage.scan, "BLOCK_SIZE", split - 1)
    two = load(root, state / "two")
    assert may_fork == [(size, size)]  # the second process's half was used, not re-read
    assert two.bytes_read == size and two.lines == 2000
    assert everything(two) == everything(read_alone(root, state / "alone", monkeypatch))


def test_a_grown_file_is_read_on_from_where_two_processes_stopped(root, state, may_fork,
                                                                   monkeypatch):
    path = two_process_log(root, unfinished=False)
    size = path.stat().st_size
    load(root, state / "two")
    assert may_fork == [(size, size)]
    with open(str(path), "a") as f:  # the next load reads only what was added, in two halves
        f.write("".join(two_process_lines(1000, start=2000)))
    grown = path.stat().st_size
    again = load(root, state / "two")
    assert may_fork[1] == (grown - size, grown - size)
    assert again.bytes_read == grown - size
    settled = load(root, state / "two")  # where reading stopped was cached exactly
    assert settled.bytes_read == 0 and everything(settled) == everything(again)
    assert everything(again) == everything(read_alone(root, state / "alone", monkeypatch))


def test_a_second_half_that_cannot_be_merged_is_read_again_here(root, state, may_fork,
                                                                  monkeypatch):
    path = two_process_log(root)
    size = path.stat().st_size

    def broken(_state, _half):
        raise ValueError("a damaged answer")

    monkeypatch.setattr(usage.files, "_merge_half", broken)
    facts = load(root, state / "two")
    assert may_fork == [(None, 0)]
    assert facts.bytes_read == size and facts.lines == 2000
    monkeypatch.undo()
    assert everything(facts) == everything(read_alone(root, state / "alone", monkeypatch))


def no_fork_here(monkeypatch):
    monkeypatch.setattr(usage.os, "fork", lambda: pytest.fail("forked"))


@pytest.mark.parametrize("why", ["no fork", "no pread", "cpu count unknown", "one cpu",
                                 "threads running"])
def test_one_process_reads_when_two_cannot_or_must_not(root, state, may_fork, monkeypatch,
                                                       why):
    import threading

    two_process_log(root)
    if why == "no fork":
        monkeypatch.delattr(usage.os, "fork")
    else:
        no_fork_here(monkeypatch)
    if why == "no pread":
        monkeypatch.delattr(usage.os, "pread")
    if why == "cpu count unknown":
        monkeypatch.setattr(usage.os, "cpu_count", lambda: None)
    if why == "one cpu":
        monkeypatch.setattr(usage.os, "cpu_count", lambda: 1)
    if why == "threads running":  # forking a process with threads can deadlock its child
        monkeypatch.setattr(threading, "active_count", lambda: 2)
    facts = load(root, state)
    assert may_fork == [] and facts.lines == 2000


def test_two_processes_only_for_at_least_parallel_min_unread_bytes(root, state, may_fork,
                                                                   monkeypatch):
    path = two_process_log(root, unfinished=False)
    size = path.stat().st_size
    monkeypatch.setattr(usage.files, "PARALLEL_MIN", size + 1)
    load(root, state)
    with open(str(path), "a") as f:  # what is new is far less than PARALLEL_MIN
        f.write("".join(two_process_lines(10, start=2000)))
    assert load(root, state).lines == 2010
    assert may_fork == []
    monkeypatch.setattr(usage.files, "PARALLEL_MIN", size)  # exactly PARALLEL_MIN: two processes
    load(root, state / "exact")
    assert len(may_fork) == 1


# -- a cache entry that could not describe a real file is never trusted ----------------------


def _empty_file(entry):
    entry.update(size=0, head_len=0, head_sha=hashlib.sha256(b"").hexdigest(), offset=0,
                 lines=0)


@pytest.mark.parametrize("forge", [
    _empty_file,  # an empty fingerprint matches any file at that inode
    lambda entry: entry.update(malformed=entry["lines"] + 1),
    lambda entry: entry["tokens"][-1].__setitem__(4, 0),  # a token with no uses
    lambda entry: entry["addresses"].append(
        ["root", "forged", None, [["10.6.6.6", NOW, NOW - 5, 1]]]),  # first after last
    lambda entry: entry["addresses"].append(
        ["root", "forged", None, [["10.6.6.6", NOW - 9, NOW - 5, 0]]]),  # no uses
], ids=["empty-fingerprint", "more-malformed-than-lines", "token-without-uses",
        "address-first-after-last", "address-without-uses"])
def test_an_implausible_cache_entry_is_not_evidence(root, state, forge):
    write(root, "api_tokens_log.1", [line(NOW - DAY, "root", "real")])
    load(root, state)
    cache = state / usage.CACHE_NAME
    data = json.loads(cache.read_text())
    entry = data["files"][0]
    entry["tokens"].append(["root", "forged", NOW - 5, "10.6.6.6", 1])
    forge(entry)
    cache.write_text(json.dumps(data))
    facts = load(root, state)
    assert facts.get("root", "forged") is None
    assert facts.get("root", "real").uses == 1 and facts.lines == 1


def test_the_cache_remembers_that_addresses_were_dropped(root, state, monkeypatch):
    monkeypatch.setattr(usage.scan, "ADDRESS_CAP", 2)
    monkeypatch.setattr(usage.facts, "ADDRESS_CAP", 2)
    write(root, "api_tokens_log.1", [line(NOW - DAY + i, "root", "t", "10.0.0.%d" % i)
                                     for i in range(5)])
    token = Tok("root", "t", OLD)
    first = load(root, state)
    again = load(root, state)
    assert again.bytes_read == 0  # from the cache
    assert again.seen_from(token) == first.seen_from(token)
    assert again.seen_from(token)[1] == NOW - DAY + 2


# -- the fast path: which blocks it takes, and what it makes of them ------------------------


@pytest.fixture
def line_by_line(monkeypatch):
    """Records every block read line by line (the exact path); the fast path's
    pattern cache starts empty, so a mutated pattern is compiled afresh."""
    monkeypatch.setattr(usage.fast, "_FAST", {})
    blocks = []
    real = usage.scan._Scan._exact

    def exact(self, text, end, lines):
        blocks.append(text[1:end])
        return real(self, text, end, lines)
    monkeypatch.setattr(usage.scan._Scan, "_exact", exact)
    return blocks


def raw(stamp, user="root", name="t", host="Host: ['10.0.0.1'] ", offset="+0000",
        service="whostmgrd"):
    return ("[%s %s] info [%s] %sHTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['GET /json-api/x HTTP/1.1']\n" % (stamp, offset, service, host, user, name))


def test_an_ordinary_log_never_needs_the_line_by_line_reading(root, state, line_by_line):
    # Both shapes, other services' lines, midnight, a month's and a leap day's end, the
    # last second of a day, lines out of order: all at the fast path's speed (the exact
    # reading is for damaged lines, and blocks that mix UTC offsets).
    lines = [raw("2024-02-28 23:59:59"), raw("2024-02-29 00:00:00", host=""),
             raw("2024-02-29 23:59:59", service="cpaneld"), raw("2024-03-01 09:05:07"),
             raw("2024-03-01 09:05:06", name="u"), raw("2024-12-31 23:59:59", name="u")]
    write(root, "api_tokens_log", lines)
    facts = load(root, state)
    assert line_by_line == []
    assert (facts.lines, facts.malformed) == (6, 0)
    assert facts.get("root", "t") == TokenUsage(calendar.timegm((2024, 3, 1, 9, 5, 7)),
                                                "10.0.0.1", 3)
    assert facts.get("root", "u") == TokenUsage(calendar.timegm((2024, 12, 31, 23, 59, 59)),
                                                "10.0.0.1", 2)
    assert facts.get("root", "t").last_used - 1 == calendar.timegm((2024, 3, 1, 9, 5, 6))
    assert facts.oldest == calendar.timegm((2024, 2, 28, 23, 59, 59))
    assert facts.newest == calendar.timegm((2024, 12, 31, 23, 59, 59))


@pytest.mark.parametrize("stamp", [
    "2026-11-10 24:00:00", "2026-11-10 99:00:00", "2026-11-10 10:60:00", "2026-11-10 10:00:61",
    "2026-11-10 10:00:70", "2026-11-10 1x:00:00", "2026-11-10 10:0x:00", "2026-11-10 10:00:0x",
    "2026-11-10T10:00:00", "2026-11-10 10-00:00", "2026-11-10 10:00-00", "2026/11/10 10:00:00",
    "2026-11-31 10:00:00", "2026-13-01 10:00:00", "2026-11-1x 10:00:00", "2026-11-10  0:00:00",
])
def test_a_damaged_time_is_read_line_by_line_and_is_no_use(root, state, line_by_line, stamp):
    # The fast path takes any 19 characters as the time and checks them afterwards; one
    # it let through would become the token's latest use and hide its real ones.
    lines = [raw("2026-11-09 08:00:00"), raw(stamp), raw("2026-11-11 08:00:00", name="u")]
    write(root, "api_tokens_log", lines)
    facts = load(root, state)
    assert len(line_by_line) == 1
    assert (facts.lines, facts.malformed) == (3, 1)
    assert facts.get("root", "t") == TokenUsage(calendar.timegm((2026, 11, 9, 8, 0, 0)),
                                                "10.0.0.1", 1)
    assert facts.newest == calendar.timegm((2026, 11, 11, 8, 0, 0))


def test_an_impossible_date_between_two_real_ones_is_found(root, state, line_by_line):
    # Sorted, Feb 30 lies between Feb 28 and Mar 1: every date of the block is checked.
    lines = [raw("2026-02-28 08:00:00"), raw("2026-02-30 08:00:00"), raw("2026-03-01 08:00:00"),
             raw("2026-03-02 08:00:00")]
    write(root, "api_tokens_log", lines)
    facts = load(root, state)
    assert len(line_by_line) == 1 and facts.malformed == 1
    assert facts.get("root", "t").uses == 3


def test_an_hour_past_the_day_in_a_block_of_several_days_is_found(root, state, line_by_line):
    # The latest hour of EVERY date is checked, not only of the block's last one.
    lines = [raw("2026-11-08 23:00:00"), raw("2026-11-09 07:00:00"), raw("2026-11-09 24:30:00"),
             raw("2026-11-10 07:00:00"), raw("2026-11-10 08:00:00")]
    write(root, "api_tokens_log", lines)
    facts = load(root, state)
    assert len(line_by_line) == 1 and facts.malformed == 1
    assert facts.get("root", "t").uses == 4


def test_a_leap_second_is_read_line_by_line_and_counts(root, state, line_by_line):
    write(root, "api_tokens_log", [raw("2016-12-31 23:59:59"), raw("2016-12-31 23:59:60")])
    facts = load(root, state)
    assert len(line_by_line) == 1 and facts.malformed == 0
    assert facts.get("root", "t") == TokenUsage(calendar.timegm((2017, 1, 1, 0, 0, 0)),
                                                "10.0.0.1", 2)


def test_a_request_naming_whostmgrd_does_not_make_a_mixed_block_plain(root, state,
                                                                        line_by_line):
    # As many "] info [whostmgrd] " marks as lines, one of them in another service's request.
    other = raw("2026-11-10 08:00:01", service="cpaneld").replace(
        "GET /json-api/x", "GET /x?a=] info [whostmgrd] ")
    write(root, "api_tokens_log", [raw("2026-11-10 08:00:00"), other,
                                   raw("2026-11-10 08:00:02", name="u")])
    facts = load(root, state)
    assert line_by_line == []
    assert (facts.lines, facts.malformed, len(facts)) == (3, 0, 2)


@pytest.mark.parametrize("later", ["10.0.0.2", "10.0.0.3"])
def test_a_token_whose_two_addresses_share_its_last_second_takes_the_later_line(
        root, state, line_by_line, small_blocks, later):
    # Blocks of 64 bytes: the two lines of the same second fall in different blocks, and
    # the token's latest address is the later line's, whichever address was seen first.
    earlier = "10.0.0.5" if later == "10.0.0.2" else "10.0.0.2"
    write(root, "api_tokens_log", [
        raw("2026-11-10 08:00:00", host="Host: ['10.0.0.2'] "),
        raw("2026-11-10 08:00:05", host="Host: ['%s'] " % earlier),
        raw("2026-11-10 08:00:05", host="Host: ['%s'] " % later),
        raw("2026-11-10 08:00:04", host="Host: ['10.0.0.3'] "),
    ])
    facts = load(root, state)
    assert line_by_line == []
    assert facts.get("root", "t") == TokenUsage(calendar.timegm((2026, 11, 10, 8, 0, 5)),
                                                later, 4)
    seen, dropped = facts.seen_from(Tok("root", "t", 0))
    assert dropped is None
    at = lambda second: calendar.timegm((2026, 11, 10, 8, 0, second))  # noqa: E731
    if later == "10.0.0.2":  # lines: .2 at :00, .5 at :05, .2 at :05, .3 at :04
        expected = {"10.0.0.2": (at(0), at(5)), "10.0.0.5": (at(5), at(5)),
                    "10.0.0.3": (at(4), at(4))}
    else:  # lines: .2 at :00, .2 at :05, .3 at :05, .3 at :04
        expected = {"10.0.0.2": (at(0), at(5)), "10.0.0.3": (at(4), at(5))}
    assert {u.ip: (u.first, u.last) for u in seen} == expected


def scan_chunks(chunks):
    """What the reader makes of text handed over in exactly these pieces."""
    state = usage.files._FileState("x", 0, 0, 0, 0, 0, "", "plain")
    pieces = [c.encode() for c in chunks]
    usage.scan._Scan(state).run(lambda size: pieces.pop(0) if pieces else b"", final=True)
    return state


def test_an_out_of_order_block_keeps_each_address_first_and_last_by_time(line_by_line):
    at = lambda second: calendar.timegm((2026, 11, 10, 8, 0, second))  # noqa: E731
    state = scan_chunks(["".join([
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.1'] "),
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.2'] "),
        raw("2026-11-10 08:00:02", host="Host: ['10.0.0.1'] "),
        raw("2026-11-10 08:00:03", host="Host: ['10.0.0.2'] ")])])
    assert line_by_line == []
    assert state.tokens == {("root", "t"): [at(5), "10.0.0.2", 4]}
    assert state.addresses == {("root", "t"): [{"10.0.0.1": [at(2), at(5), 2],
                                                 "10.0.0.2": [at(3), at(5), 2]}, None]}


def test_a_line_equal_to_the_latest_in_an_out_of_order_block_is_the_later_one(line_by_line):
    # 10.0.0.1 was last seen at :05 in the first block, 10.0.0.2 at :05 in the second; the
    # third block (out of order) uses 10.0.0.1 at :05 again: that line is the latest.
    at = lambda second: calendar.timegm((2026, 11, 10, 8, 0, second))  # noqa: E731
    state = scan_chunks([
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.1'] "),
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.2'] "),
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.1'] ") +
        raw("2026-11-10 08:00:01", host="Host: ['10.0.0.3'] ")])
    assert line_by_line == []
    assert state.tokens == {("root", "t"): [at(5), "10.0.0.1", 4]}


def test_of_three_addresses_the_latest_line_wins_whatever_order_they_came_in(line_by_line):
    # First seen in the order .1 .2 .3; .1's last line is the file's last but the oldest
    # time; .2 and .3 share the latest time and .3's line is the later one.
    at = lambda second: calendar.timegm((2026, 11, 10, 8, 0, second))  # noqa: E731
    state = scan_chunks(["".join([
        raw("2026-11-10 08:00:00", host="Host: ['10.0.0.1'] "),
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.2'] "),
        raw("2026-11-10 08:00:05", host="Host: ['10.0.0.3'] "),
        raw("2026-11-10 08:00:01", host="Host: ['10.0.0.1'] ")])])
    assert state.tokens == {("root", "t"): [at(5), "10.0.0.3", 4]}


class _Spy:
    def __init__(self, pattern, calls):
        self.pattern, self.calls = pattern, calls

    def findall(self, *args):
        self.calls.append(args[1:])
        return self.pattern.findall(*args)


def test_a_block_of_plain_whostmgrd_lines_is_matched_once(root, state, monkeypatch,
                                                           line_by_line):
    # Any character a user, token name or address may hold; the other services' pattern
    # (and the strict one after it) is only for blocks that hold other services' lines.
    calls = []
    monkeypatch.setattr(usage.scan, "_OTHER_RE", _Spy(usage.scan._OTHER_RE, calls))
    lines = [raw("2026-11-10 08:00:00", user="X%\\n", name="tok-X", host="Host: ['fe80::X'] "),
             raw("2026-11-10 08:00:01", name="t")]
    write(root, "api_tokens_log", lines)
    facts = load(root, state)
    assert calls == [] and line_by_line == []
    assert facts.get("X%\\n", "tok-X") == TokenUsage(calendar.timegm((2026, 11, 10, 8, 0, 0)),
                                                      "fe80::X", 1)
    mixed = write(root, "api_tokens_log", lines + [raw("2026-11-10 08:00:02", service="cpaneld")])
    facts = load(root, state / "mixed")
    assert len(calls) == 1 and line_by_line == []
    assert (facts.lines, facts.malformed, len(facts)) == (3, 0, 2)
    assert facts.get("X%\\n", "tok-X").last_ip == "fe80::X"
    assert mixed.exists()


def test_a_change_of_offset_between_blocks_stays_on_the_fast_path(root, state, line_by_line,
                                                                   small_blocks):
    write(root, "api_tokens_log", [raw("2026-11-10 08:00:00"),
                                   raw("2026-11-10 13:30:01", offset="+0530", host=""),
                                   raw("2026-11-10 08:00:02", name="u")])
    facts = load(root, state)
    assert line_by_line == []
    assert facts.get("root", "t") == TokenUsage(calendar.timegm((2026, 11, 10, 8, 0, 1)), None, 2)
    assert facts.get("root", "u").last_used == calendar.timegm((2026, 11, 10, 8, 0, 2))


def test_a_damaged_line_cannot_borrow_the_rest_of_a_line_still_being_read(line_by_line):
    # The block ends with a line missing its user and token; the text after it (the next
    # line, read only in part so far) holds them. The fast path never looks past the
    # block's last newline, so the damaged line stays damaged.
    damaged = "[2026-11-10 08:00:00 +0000] info [whostmgrd] HTTP Status: ['200']\n"
    nxt = raw("2026-11-10 08:00:01", host="", user="r")
    cut = nxt.index("Request")
    state = scan_chunks([damaged + nxt[:cut], nxt[cut:]])
    assert (state.lines, state.malformed) == (2, 1)
    assert state.tokens == {("r", "t"): [calendar.timegm((2026, 11, 10, 8, 0, 1)), None, 1]}
