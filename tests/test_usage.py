"""Last-used evidence from api_tokens_log: generated logs in tmp_path."""

import bz2
import calendar
import collections
import gzip
import json
import os
import stat
import threading
import time
import tracemalloc

import pytest

from tokensweeper import usage

DAY = 86400
NOW = calendar.timegm((2026, 11, 20, 12, 0, 0))

Tok = collections.namedtuple("Tok", "owner name create_time")


def utc(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s))


# The line of cPanel's own log-file documentation, verbatim: no Host: field.
DOCUMENTED = ("[2017-02-07 19:07:13 -0600] info [whostmgrd] HTTP Status: ['200'], "
              "User: ['kingrichard'], Token Name: ['robin_of_loxley'], "
              "Request: ['GET /scripts2/reloadbind_local?dnsuniqid=baa HTTP/1.0']\n")


def line(ts, user, name, ip="10.0.0.1", offset="+0000", request="GET /json-api/listaccts HTTP/1.1",
         service="whostmgrd"):
    """One api_tokens_log line for UTC epoch `ts`, written in the zone `offset` like cPanel does.

    ip=None writes the documented shape, without Host:.
    """
    sign = -1 if offset[0] == "-" else 1
    shift = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts + shift))
    host = "" if ip is None else f"Host: ['{ip}'] "
    return (f"[{local} {offset}] info [{service}] {host}HTTP Status: ['200'], "
            f"User: ['{user}'], Token Name: ['{name}'], Request: ['{request}']\n")


@pytest.fixture
def root(tmp_path):
    logs = tmp_path / "cpanel" / "usr" / "local" / "cpanel" / "logs"
    logs.mkdir(parents=True)
    return tmp_path / "cpanel"


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


def logs_dir(root):
    return root / "usr" / "local" / "cpanel" / "logs"


def write(root, name, lines, gz=False, mode="w"):
    path = logs_dir(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(lines).encode()
    if gz:
        with gzip.open(str(path), mode + "b") as f:
            f.write(data)
    else:
        with open(str(path), mode + "b") as f:
            f.write(data)
    return path


def load(root, state):
    return usage.load_usage(cpanel_root=str(root), state_dir=str(state))


# ---------------------------------------------------------------- rotation


def test_reads_every_rotation_scheme_plain_and_compressed(root, state):
    write(root, "api_tokens_log", [line(utc(2026, 11, 19, 8), "root", "whmcs", ip="10.0.0.9")])
    write(root, "api_tokens_log.1", [line(utc(2026, 11, 12), "root", "whmcs", ip="10.0.0.8")])
    write(root, "api_tokens_log.2.gz", [line(utc(2026, 11, 5), "root", "whmcs")], gz=True)
    write(root, "api_tokens_log-20261101.gz", [line(utc(2026, 10, 28), "root", "backup")], gz=True)
    write(root, "archive/api_tokens_log-09-2026.gz", [line(utc(2026, 9, 3), "root", "old")],
          gz=True)
    bz = logs_dir(root) / "api_tokens_log.3.bz2"
    bz.write_bytes(bz2.compress(line(utc(2026, 11, 4), "root", "whmcs").encode()))
    write(root, "api_tokens_log.offset", [line(utc(2026, 8, 1), "root", "notalog")])

    facts = load(root, state)

    assert facts.get("root", "whmcs") == usage.TokenUsage(utc(2026, 11, 19, 8), "10.0.0.9", 4)
    assert facts.get("root", "backup").uses == 1
    assert facts.get("root", "old").last_used == utc(2026, 9, 3)
    assert facts.get("root", "notalog") is None
    assert facts.oldest == utc(2026, 9, 3)
    assert facts.newest == utc(2026, 11, 19, 8)
    assert facts.malformed == 0


def test_files_are_ordered_by_content_time_not_name(root, state):
    # A date-named file sorts before a numbered one by name, but is newer here.
    write(root, "api_tokens_log-20261118", [line(utc(2026, 11, 18), "root", "a", ip="10.0.0.2")])
    write(root, "api_tokens_log.9", [line(utc(2026, 11, 1), "root", "a", ip="10.0.0.1")])
    write(root, "api_tokens_log", [])

    facts = load(root, state)

    names = [os.path.basename(p) for p in facts.sources]
    assert names.index("api_tokens_log.9") < names.index("api_tokens_log-20261118")
    assert facts.get("root", "a").last_ip == "10.0.0.2"


def test_rotation_between_two_reads_counts_each_line_once(root, state):
    active = write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t"),
                                            line(utc(2026, 11, 2), "root", "t")])
    assert load(root, state).get("root", "t").uses == 2

    # logrotate: the live file becomes .1, cpanel keeps writing to its open
    # handle for a moment, then a fresh api_tokens_log starts.
    rotated = logs_dir(root) / "api_tokens_log.1"
    os.rename(str(active), str(rotated))
    late = line(utc(2026, 11, 3), "root", "t", ip="10.0.0.3")
    write(root, "api_tokens_log.1", [late], mode="a")
    fresh = line(utc(2026, 11, 4), "root", "t", ip="10.0.0.4")
    write(root, "api_tokens_log", [fresh])

    facts = load(root, state)

    assert facts.get("root", "t") == usage.TokenUsage(utc(2026, 11, 4), "10.0.0.4", 4)
    assert facts.bytes_read == len(late) + len(fresh)
    assert facts.oldest == utc(2026, 11, 1)


def test_rotation_then_compression_between_reads(root, state):
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t")])
    load(root, state)
    os.remove(str(logs_dir(root) / "api_tokens_log"))
    write(root, "api_tokens_log.1.gz", [line(utc(2026, 11, 1), "root", "t")], gz=True)
    write(root, "api_tokens_log", [line(utc(2026, 11, 2), "root", "t")])

    facts = load(root, state)

    assert facts.get("root", "t").uses == 2
    assert facts.get("root", "t").last_used == utc(2026, 11, 2)


def test_truncated_log_is_read_again_from_the_start(root, state):
    # copytruncate: the content is copied to .1 and the live file emptied in place.
    active = write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t"),
                                            line(utc(2026, 11, 2), "root", "t")])
    load(root, state)
    write(root, "api_tokens_log.1", [line(utc(2026, 11, 1), "root", "t"),
                                     line(utc(2026, 11, 2), "root", "t")])
    with open(str(active), "wb") as f:  # same inode, now shorter
        f.write(line(utc(2026, 11, 3), "res1", "u").encode())

    facts = load(root, state)

    assert facts.get("root", "t").uses == 2
    assert facts.get("res1", "u").uses == 1


def test_rewritten_log_with_same_inode_is_noticed(root, state):
    active = write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "gone")])
    load(root, state)
    with open(str(active), "r+b") as f:  # same inode, longer, different first line
        f.write((line(utc(2026, 11, 5), "root", "new") * 3).encode())

    facts = load(root, state)

    assert facts.get("root", "gone") is None
    assert facts.get("root", "new").uses == 3


def test_a_hard_link_to_the_live_log_is_counted_once(root, state):
    active = write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t")])
    os.link(str(active), str(logs_dir(root) / "api_tokens_log.1"))

    assert load(root, state).get("root", "t").uses == 1


# ---------------------------------------------------------------- line shapes


def test_the_documented_line_without_host_is_a_use(root, state):
    write(root, "api_tokens_log", [DOCUMENTED])

    facts = load(root, state)

    used = utc(2017, 2, 8, 1, 7, 13)  # 19:07:13 at -0600
    assert facts.get("kingrichard", "robin_of_loxley") == usage.TokenUsage(used, None, 1)
    assert facts.malformed == 0 and facts.lines == 1
    token = Tok("kingrichard", "robin_of_loxley", utc(2017, 1, 1))
    assert facts.describe(token, used + 60) == "2017-02-08 01:07 UTC"
    assert facts.unused_for(token, 2, used + 3 * DAY) == (True, "last used 2017-02-08 (3 days ago)")
    assert facts.unused_for(token, 5, used + 3 * DAY) == (False, "used 3 days ago")


def test_both_shapes_in_one_log_and_the_latest_line_decides_the_address(root, state):
    write(root, "api_tokens_log", [
        line(utc(2026, 11, 1), "root", "a", ip="10.0.0.1"),
        line(utc(2026, 11, 2), "root", "a", ip=None),
        line(utc(2026, 11, 3), "root", "b", ip=None),
        line(utc(2026, 11, 4), "root", "b", ip="10.0.0.4"),
    ])
    facts = load(root, state)

    assert facts.get("root", "a") == usage.TokenUsage(utc(2026, 11, 2), None, 2)
    assert facts.get("root", "b") == usage.TokenUsage(utc(2026, 11, 4), "10.0.0.4", 2)
    assert facts.describe(Tok("root", "a", utc(2026, 1, 1)), NOW) == "2026-11-02 00:00 UTC"
    assert facts.malformed == 0
    # The cache keeps "no address" as it is.
    assert load(root, state).get("root", "a").last_ip is None


def test_other_services_lines_are_never_uses_of_a_whm_token(root, state):
    # A reseller's cPanel-account token can carry the same user and token name.
    write(root, "api_tokens_log", [
        line(utc(2026, 11, 1), "res1", "deploy", ip="10.0.0.1"),
        line(utc(2026, 11, 18), "res1", "deploy", ip="10.0.0.66", service="cpaneld"),
        line(utc(2026, 11, 19), "res1", "other", ip=None, service="cpaneld"),
        line(utc(2026, 11, 19, 1), "res1", "webmail", service="webmaild"),
    ])
    facts = load(root, state)

    assert facts.get("res1", "deploy") == usage.TokenUsage(utc(2026, 11, 1), "10.0.0.1", 1)
    assert facts.get("res1", "other") is None and facts.get("res1", "webmail") is None
    assert (facts.lines, facts.malformed) == (4, 0)  # counted, but neither use nor damage
    deploy = Tok("res1", "deploy", utc(2026, 1, 1))
    assert facts.unused_for(deploy, 10, utc(2026, 11, 20)) == (
        True, "last used 2026-11-01 (19 days ago)")


def test_a_log_of_other_services_only_proves_nothing(root, state):
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "res1", "t", service="cpaneld")])
    facts = load(root, state)

    assert facts.get("res1", "t") is None
    assert facts.oldest is None
    assert facts.describe(Tok("res1", "t", utc(2026, 1, 1)), NOW) == "unknown (no usage data)"


def test_an_interrupted_rotation_bkup_is_read(root, state):
    # cpanellogd renamed the live log to .bkup and stopped before archiving it.
    write(root, "api_tokens_log.bkup", [line(utc(2026, 10, 30), "root", "only-in-bkup")])
    write(root, "api_tokens_log", [line(utc(2026, 11, 2), "root", "live")])

    facts = load(root, state)

    assert facts.get("root", "only-in-bkup").last_used == utc(2026, 10, 30)
    assert facts.oldest == utc(2026, 10, 30)


def test_the_monthly_archive_with_appended_gzip_members_is_read(root, state):
    # Each rotation in a month appends one more gzip member to the month's archive.
    write(root, "archive/api_tokens_log-10-2026.gz", [line(utc(2026, 10, 3), "root", "t")], gz=True)
    write(root, "archive/api_tokens_log-10-2026.gz",
          [line(utc(2026, 10, 20), "root", "t", ip=None)], gz=True, mode="a")
    write(root, "api_tokens_log", [])

    facts = load(root, state)

    assert facts.get("root", "t") == usage.TokenUsage(utc(2026, 10, 20), None, 2)
    assert facts.oldest == utc(2026, 10, 3)


def test_lines_out_of_time_order_keep_the_latest_use(root, state):
    # Concurrent requests can reach the log a little out of order.
    write(root, "api_tokens_log", [
        line(utc(2026, 11, 1, 10, 0, 5), "root", "t", ip="10.0.0.5"),
        line(utc(2026, 11, 1, 10, 0, 9), "root", "t", ip="10.0.0.9"),
        line(utc(2026, 11, 1, 10, 0, 7), "root", "t", ip="10.0.0.7"),
        line(utc(2026, 11, 1, 10, 0, 1), "root", "u", ip="10.0.0.1"),
    ])
    facts = load(root, state)

    assert facts.get("root", "t") == usage.TokenUsage(utc(2026, 11, 1, 10, 0, 9), "10.0.0.9", 3)
    assert facts.oldest == utc(2026, 11, 1, 10, 0, 1)
    assert facts.newest == utc(2026, 11, 1, 10, 0, 9)


def varied_log(count):
    """Both shapes, three services, a few offsets' worth of out-of-order lines, many tokens."""
    lines = []
    for i in range(count):
        ts = utc(2026, 11, 1) + i * 7 - (13 if i % 17 == 0 else 0)
        service = "cpaneld" if i % 11 == 0 else "whostmgrd"
        ip = None if i % 3 == 0 else "10.0.%d.%d" % (i % 5, i % 200)
        lines.append(line(ts, "res%d" % (i % 4), "tok-%d" % (i % 13), ip=ip, service=service))
    return lines


@pytest.mark.parametrize("block", [512, 4096, 1 << 20])
def test_fast_and_exact_readings_agree(root, state, monkeypatch, block):
    # One damaged line sends its block to the exact, line-by-line reading; everything
    # else must come out the same as through the fast path.
    monkeypatch.setattr(usage.scan, "BLOCK_SIZE", block)
    lines = varied_log(600)
    write(root, "api_tokens_log", lines)
    fast = load(root, state / "fast")
    write(root, "api_tokens_log", lines[:300] + ["damaged\n"] + lines[300:])
    exact = load(root, state / "exact")

    assert exact.malformed == 1 and fast.malformed == 0
    assert exact.lines == fast.lines + 1
    assert (exact.oldest, exact.newest) == (fast.oldest, fast.newest)
    for user in ("res0", "res1", "res2", "res3"):
        for i in range(13):
            assert exact.get(user, "tok-%d" % i) == fast.get(user, "tok-%d" % i), (user, i)
    assert fast.get("res0", "tok-0") is not None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_big_file_read_by_two_processes_gives_the_same_answer(root, state, monkeypatch):
    lines = varied_log(3000)
    writing = line(utc(2026, 12, 1), "res1", "tok-1", ip="10.9.9.9")
    write(root, "api_tokens_log", lines + [writing[:40]])  # the live log, mid-line
    alone = load(root, state / "alone")
    monkeypatch.setattr(usage.files, "PARALLEL_MIN", 1)
    monkeypatch.setattr(usage.os, "cpu_count", lambda: 2)
    # Earlier tests in the same session (the browser tests' servers) may leave a thread
    # running, and the reader rightly refuses to fork then; this test is about the split.
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    calls = []
    real_fork = usage.os.fork
    monkeypatch.setattr(usage.os, "fork", lambda: calls.append(1) or real_fork())

    two = load(root, state / "two")

    assert calls == [1]
    assert (two.lines, two.malformed, two.oldest, two.newest, two.bytes_read) == (
        alone.lines, alone.malformed, alone.oldest, alone.newest, alone.bytes_read)
    for user in ("res0", "res1", "res2", "res3"):
        for i in range(13):
            assert two.get(user, "tok-%d" % i) == alone.get(user, "tok-%d" % i), (user, i)
            token = Tok(user, "tok-%d" % i, 0)  # and each address's first and last use
            assert two.seen_from(token) == alone.seen_from(token), (user, i)
    # Where reading stopped is cached exactly: only the finished line is read next time.
    write(root, "api_tokens_log", [writing[40:]], mode="a")
    after = load(root, state / "two")
    assert after.bytes_read == len(writing)
    assert after.get("res1", "tok-1").last_ip == "10.9.9.9"


def test_cache_of_an_older_version_is_read_again(root, state):
    # Version 1 could not read lines without Host: its answer for this file is wrong.
    path = write(root, "api_tokens_log", [DOCUMENTED])
    st = os.stat(str(path))
    state.mkdir()
    (state / usage.CACHE_NAME).write_text(json.dumps({
        "version": 1, "log_dir": str(logs_dir(root)), "files": [{
            "path": str(path), "dev": st.st_dev, "ino": st.st_ino, "size": st.st_size,
            "mtime": st.st_mtime, "head_len": 0, "head_sha": usage.files._sha(b""),
            "codec": "plain",
            "offset": st.st_size, "oldest": None, "newest": None, "lines": 1, "malformed": 1,
            "tokens": []}]}))

    assert load(root, state).get("kingrichard", "robin_of_loxley").uses == 1


# ---------------------------------------------------------------- bad input


def test_malformed_and_partial_lines_are_counted_not_fatal(root, state):
    good = line(utc(2026, 11, 10), "root", "t", ip="10.0.0.5")
    write(root, "api_tokens_log.1", [
        "garbage\n",
        "\n",
        good[:40] + "\n",  # a line cut short by a crash
        good.replace("2026-11-10", "2026-13-10"),  # impossible date
        good.replace("Token Name", "Token"),
        good,
        good[:60],  # rotated file ending mid-line
    ])
    facts = load(root, state)

    assert facts.get("root", "t") == usage.TokenUsage(utc(2026, 11, 10), "10.0.0.5", 1)
    assert facts.malformed == 6
    assert facts.lines == 7


def test_unterminated_last_line_of_live_log_waits_until_complete(root, state):
    done = line(utc(2026, 11, 10), "root", "t")
    writing = line(utc(2026, 11, 11), "root", "t", ip="10.0.0.7")
    active = write(root, "api_tokens_log", [done, writing[:50]])

    first = load(root, state)
    assert first.get("root", "t").uses == 1
    assert first.malformed == 0

    with open(str(active), "ab") as f:
        f.write(writing[50:].encode())
    second = load(root, state)

    assert second.get("root", "t") == usage.TokenUsage(utc(2026, 11, 11), "10.0.0.7", 2)
    assert second.malformed == 0


def test_endless_line_is_skipped_with_flat_memory(root, state, monkeypatch):
    monkeypatch.setattr(usage.scan, "BLOCK_SIZE", 4096)
    write(root, "api_tokens_log", ["x" * (usage.MAX_LINE * 3) + "\n",
                                   line(utc(2026, 11, 10), "root", "t")])
    facts = load(root, state)

    assert facts.get("root", "t").uses == 1
    assert facts.malformed == 1


def test_request_text_cannot_spoof_user_or_token(root, state):
    spoof = "GET /x?User: ['root'], Token Name: ['admin'] HTTP/1.1"
    write(root, "api_tokens_log", [line(utc(2026, 11, 10), "res1", "t", request=spoof)])
    facts = load(root, state)

    assert facts.get("res1", "t").uses == 1
    assert facts.get("root", "admin") is None


def test_gzip_still_being_written_is_used_but_not_cached(root, state):
    count = 3000
    data = "".join(line(utc(2026, 11, 1) + i, "root", "t", ip="10.0.%d.%d" % (i // 250, i % 250))
                   for i in range(count)).encode()
    whole = gzip.compress(data)
    path = logs_dir(root) / "api_tokens_log.1.gz"
    path.write_bytes(whole[: len(whole) // 2])

    partial = load(root, state)
    assert any("api_tokens_log.1.gz" in e for e in partial.errors)
    assert 0 < partial.get("root", "t").uses < count

    path.write_bytes(whole)
    facts = load(root, state)
    assert facts.errors == ()
    assert facts.get("root", "t").uses == count


def test_unreadable_log_dir_means_no_evidence(tmp_path, state):
    facts = usage.load_usage(cpanel_root=str(tmp_path / "nothing"), state_dir=str(state))

    assert facts.oldest is None
    assert facts.describe(Tok("root", "t", utc(2026, 1, 1)), NOW) == "unknown (no usage data)"


# ---------------------------------------------------------------- content


def test_timezone_offsets_are_converted_to_utc(root, state):
    write(root, "api_tokens_log", [
        line(utc(2026, 11, 19, 7, 1, 10), "root", "a", offset="+0300"),
        # 09:30 local at UTC is LATER than 10:00 local at +0300 (07:00 UTC).
        line(utc(2026, 11, 19, 9, 30), "root", "b", ip="10.0.0.2", offset="+0000"),
        line(utc(2026, 11, 19, 7), "root", "b", ip="10.0.0.1", offset="+0300"),
        line(utc(2026, 11, 19, 20), "root", "c", offset="-0530"),
    ])
    text = (logs_dir(root) / "api_tokens_log").read_text()
    assert "[2026-11-19 10:01:10 +0300]" in text

    facts = load(root, state)

    assert facts.get("root", "a").last_used == utc(2026, 11, 19, 7, 1, 10)
    assert facts.get("root", "b").last_ip == "10.0.0.2"
    assert facts.get("root", "c").last_used == utc(2026, 11, 19, 20)
    described = facts.describe(Tok("root", "a", utc(2026, 1, 1)), NOW)
    assert described == "2026-11-19 07:01 UTC from 10.0.0.1"


def test_same_token_name_under_two_users_is_two_tokens(root, state):
    write(root, "api_tokens_log", [
        line(utc(2026, 11, 1), "root", "deploy", ip="10.0.0.1"),
        line(utc(2026, 11, 2), "res1", "deploy", ip="10.0.0.2"),
        line(utc(2026, 11, 3), "res1", "deploy", ip="10.0.0.3"),
    ])
    facts = load(root, state)

    assert facts.get("root", "deploy") == usage.TokenUsage(utc(2026, 11, 1), "10.0.0.1", 1)
    assert facts.get("res1", "deploy") == usage.TokenUsage(utc(2026, 11, 3), "10.0.0.3", 2)
    assert facts.get("res2", "deploy") is None


# ---------------------------------------------------------------- semantics


@pytest.fixture
def facts(root, state):
    """Evidence from 2026-10-01 to 2026-11-19 (50 days before NOW)."""
    write(root, "api_tokens_log.1", [line(utc(2026, 10, 1), "root", "old-used", ip="10.0.0.1")])
    write(root, "api_tokens_log", [line(utc(2026, 11, 17, 12), "root", "recent", ip="10.0.0.2"),
                                   line(utc(2026, 11, 19), "root", "dummy")])
    return load(root, state)


def test_describe_separates_never_used_from_not_seen(facts):
    seen = Tok("root", "recent", utc(2026, 1, 1))
    assert facts.describe(seen, NOW) == "2026-11-17 12:00 UTC from 10.0.0.2"
    # Created before the log begins: it may have been used in the rotated-away part.
    assert facts.describe(Tok("root", "quiet", utc(2026, 1, 1)), NOW) == "not seen since 2026-10-01"
    # Created while the log was being written, and never in it.
    assert facts.describe(Tok("root", "fresh", utc(2026, 10, 15)), NOW) == "never used"
    # The name exists under another user only.
    assert facts.describe(Tok("res1", "recent", utc(2026, 10, 15)), NOW) == "never used"


def test_use_before_creation_belongs_to_an_older_token_of_that_name(facts):
    recreated = Tok("root", "old-used", utc(2026, 10, 20))

    assert facts.describe(recreated, NOW) == "never used"
    assert facts.unused_for(recreated, 30, NOW) == (True, "never used")


def test_unused_for_needs_coverage_age_and_no_recent_use(facts):
    old = utc(2026, 1, 1)
    assert facts.covers_days(50, NOW)
    assert not facts.covers_days(51, NOW)

    recent, quiet = Tok("root", "recent", old), Tok("root", "quiet", old)
    assert facts.unused_for(recent, 30, NOW) == (False, "used 3 days ago")
    assert facts.unused_for(quiet._replace(create_time=NOW - 5 * DAY), 30, NOW) == (
        False, "created 5 days ago")
    assert facts.unused_for(quiet, 60, NOW) == (False, "usage log only covers 50 days")
    assert facts.unused_for(quiet, 30, NOW) == (True, "not seen since 2026-10-01")
    assert facts.unused_for(Tok("root", "old-used", old), 30, NOW) == (
        True, "last used 2026-10-01 (50 days ago)")
    assert facts.unused_for(recent, 2, NOW) == (True, "last used 2026-11-17 (3 days ago)")


def test_log_shorter_than_n_days_selects_nothing(root, state):
    write(root, "api_tokens_log", [line(NOW - 12 * DAY, "root", "busy"),
                                   line(NOW - DAY, "root", "busy")])
    facts = load(root, state)
    idle = Tok("root", "idle", utc(2025, 1, 1))

    assert facts.unused_for(idle, 30, NOW) == (False, "usage log only covers 12 days")
    assert facts.unused_for(idle, 10, NOW) == (True, "not seen since 2026-11-08")
    assert facts.describe(idle, NOW) == "not seen since 2026-11-08"


def test_no_evidence_never_selects(state):
    facts = usage.UsageFacts.empty()
    tok = Tok("root", "t", utc(2020, 1, 1))

    assert facts.oldest is None and facts.newest is None and facts.malformed == 0
    assert not facts.covers_days(1, NOW)
    assert facts.unused_for(tok, 30, NOW) == (False, "unknown (no usage data)")
    assert facts.describe(tok, NOW) == "unknown (no usage data)"


# ---------------------------------------------------------------- cache


def test_cache_reads_only_new_bytes(root, state):
    write(root, "api_tokens_log.1", [line(utc(2026, 11, d), "root", "t") for d in range(1, 10)])
    write(root, "api_tokens_log", [line(utc(2026, 11, 10), "root", "t")])
    cold = load(root, state)
    assert cold.bytes_read > 0

    unchanged = load(root, state)
    assert unchanged.bytes_read == 0
    assert unchanged.get("root", "t") == cold.get("root", "t")

    added = line(utc(2026, 11, 11), "res1", "t", ip="10.0.0.11")
    write(root, "api_tokens_log", [added], mode="a")
    warm = load(root, state)

    assert warm.bytes_read == len(added)
    assert warm.get("root", "t").uses == 10
    assert warm.get("res1", "t") == usage.TokenUsage(utc(2026, 11, 11), "10.0.0.11", 1)
    assert warm.newest == utc(2026, 11, 11)


def test_cache_file_is_private_json(root, state):
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t")])
    load(root, state)
    cache = state / usage.CACHE_NAME

    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert json.loads(cache.read_text())["version"] == usage.CACHE_VERSION
    assert [p.name for p in state.iterdir()] == [usage.CACHE_NAME]  # no temp files left


def test_corrupt_cache_is_ignored(root, state):
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t")])
    state.mkdir()
    (state / usage.CACHE_NAME).write_text('{"version": 1, "files": [{"dev": "x"}')

    facts = load(root, state)

    assert facts.get("root", "t").uses == 1
    assert load(root, state).bytes_read == 0  # and it was replaced by a good one


def test_works_without_a_writable_state_dir(root, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t")])

    first = load(root, blocker / "state")
    second = load(root, blocker / "state")

    assert first.get("root", "t").uses == second.get("root", "t").uses == 1
    assert second.bytes_read == first.bytes_read > 0


def test_defaults_come_from_the_environment(root, state, monkeypatch):
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "t")])
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(root))
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(state))

    assert usage.load_usage().get("root", "t").uses == 1
    assert (state / usage.CACHE_NAME).exists()


# ---------------------------------------------------------------- memory


def test_memory_does_not_grow_with_the_log(root, state, monkeypatch):
    monkeypatch.setattr(usage.scan, "BLOCK_SIZE", 16 * 1024)
    one = line(utc(2026, 11, 1), "root", "t")
    count = (2 * 1024 * 1024) // len(one)
    write(root, "api_tokens_log", [one] * count)

    tracemalloc.start()
    try:
        facts = load(root, state)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert facts.get("root", "t").uses == count
    assert peak < 512 * 1024  # a quarter of the 2 MB log


def test_log_that_started_empty_and_was_then_rewritten_is_noticed(root, state):
    active = write(root, "api_tokens_log", [])
    load(root, state)
    write(root, "api_tokens_log", [line(utc(2026, 11, 1), "root", "first")], mode="a")
    assert load(root, state).get("root", "first").uses == 1
    with open(str(active), "r+b") as f:  # same inode and size, other content
        f.write(line(utc(2026, 11, 2), "root", "other").encode())

    facts = load(root, state)

    assert facts.get("root", "first") is None
    assert facts.get("root", "other").uses == 1
