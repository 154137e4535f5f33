"""Incident response (issue 19): the created/used selectors, the per-address usage
evidence behind them, missing evidence said loudly, and the incident report."""

import calendar
import collections
import ipaddress
import json

import pytest

from tests.helpers import DAY, NOW, Cli, add, new_server
from tokensweeper import incident, usage
from tokensweeper.policy import KEEP, REVOKE, Protection, Selectors, make_plan

Tok = collections.namedtuple("Tok", "owner name create_time")


def utc(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s))


def line(ts, user, name, ip="10.0.0.1", offset="+0000"):
    import time

    sign = -1 if offset[0] == "-" else 1
    shift = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts + shift))
    host = "" if ip is None else "Host: ['%s'] " % ip
    return ("[%s %s] info [whostmgrd] %sHTTP Status: ['200'], User: ['%s'], Token Name: "
            "['%s'], Request: ['GET /json-api/listaccts HTTP/1.1']\n"
            % (local, offset, host, user, name))


def write_log(root, lines, name="api_tokens_log"):
    logs = root / "usr" / "local" / "cpanel" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / name).write_text("".join(lines))


def load(tmp_path, lines):
    write_log(tmp_path / "cpanel", lines)
    return usage.load_usage(cpanel_root=str(tmp_path / "cpanel"), state_dir=str(tmp_path / "st"))


# -- times ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-11-24", utc(2026, 11, 24)),                      # a date is 00:00 UTC
    ("2026-11-24T09:30Z", utc(2026, 11, 24, 9, 30)),
    ("2026-11-24T09:30:15+02:00", utc(2026, 11, 24, 7, 30, 15)),
    ("2026-11-24 09:30-0500", utc(2026, 11, 24, 14, 30)),
    ("2026-11-24T00:30+05:30", utc(2026, 11, 23, 19, 0)),   # the day before in UTC
    # Europe's spring-forward hour does not exist locally; an offset makes it exact.
    ("2026-03-29T02:30+01:00", utc(2026, 3, 29, 1, 30)),
    ("48h", NOW - 48 * 3600),
    ("7d", NOW - 7 * DAY),
    ("90m", NOW - 90 * 60),
    ("2w", NOW - 14 * DAY),
])
def test_times_are_utc_and_durations_count_back_from_now(text, expected):
    assert incident.parse_moment(text, NOW) == expected


@pytest.mark.parametrize("text", ["2026-11-24T09:30", "2026-02-30", "2026-11-24T25:00Z",
                                  "0h", "7 days", "7D", "yesterday", "2026-11-24T09:30+24:00",
                                  "", "1969-12-31"])
def test_malformed_times_are_refused_naming_the_value(text):
    with pytest.raises(ValueError) as error:
        incident.parse_moment(text, NOW)
    assert repr(text.strip()) in str(error.value)


@pytest.mark.parametrize("text, canonical", [
    ("203.0.113.0/24", "203.0.113.0/24"), ("203.0.113.7", "203.0.113.7/32"),
    ("2001:DB8::/32", "2001:db8::/32"), ("2001:db8::1", "2001:db8::1/128")])
def test_networks_v4_and_v6(text, canonical):
    assert incident.parse_network(text) == canonical


@pytest.mark.parametrize("text, words", [("203.0.113.7/24", "did you mean 203.0.113.0/24"),
                                         ("203.0.113.0/33", "not an IPv4 or IPv6 network"),
                                         ("example.com", "not an IPv4 or IPv6 network")])
def test_bad_networks_name_the_value(text, words):
    with pytest.raises(ValueError) as error:
        incident.parse_network(text)
    assert repr(text) in str(error.value) and words in str(error.value)


@pytest.mark.parametrize("text", ["fe80::1%eth0", "fe80::%eth0/64", "fe80::1%1"])
def test_a_scoped_ipv6_address_is_refused_on_every_python(text):
    """Python 3.9+ takes `fe80::1%eth0` (and the page, the command and the audit log would
    carry `fe80::1%eth0/128`), 3.6 refuses it: api_tokens_log lists no zone, so it is
    refused everywhere, naming the value."""
    with pytest.raises(ValueError) as error:
        incident.parse_network(text)
    assert repr(text) in str(error.value) and "not an IPv4 or IPv6 network" in str(error.value)


# -- per-address evidence ------------------------------------------------------------------


def test_first_and_last_use_per_address_fast_and_exact_paths_agree(tmp_path):
    lines = [line(utc(2026, 11, 20, h), "root", "leaked", "203.0.113.%d" % (7 + h % 2))
             for h in range(6)]
    lines += [line(utc(2026, 11, 21), "root", "leaked", None),
              line(utc(2026, 11, 22), "root", "leaked", "2001:db8::17", offset="+0200")]
    fast = load(tmp_path / "fast", lines)
    # A damaged line sends its block through the exact, line-by-line reading.
    exact = load(tmp_path / "exact", lines + ["garbage\n"])
    token = Tok("root", "leaked", utc(2026, 1, 1))
    for facts in (fast, exact):
        seen, dropped = facts.seen_from(token)
        assert dropped is None
        assert {u.ip: (u.first, u.last, u.uses) for u in seen} == {
            "203.0.113.7": (utc(2026, 11, 20, 0), utc(2026, 11, 20, 4), 3),
            "203.0.113.8": (utc(2026, 11, 20, 1), utc(2026, 11, 20, 5), 3),
            "": (utc(2026, 11, 21), utc(2026, 11, 21), 1),
            "2001:db8::17": (utc(2026, 11, 22), utc(2026, 11, 22), 1),  # written at +0200
        }
    # The cache keeps it: a second load reads nothing and answers the same.
    again = usage.load_usage(cpanel_root=str(tmp_path / "fast" / "cpanel"),
                             state_dir=str(tmp_path / "fast" / "st"))
    assert again.bytes_read == 0
    assert again.seen_from(token) == fast.seen_from(token)


def test_addresses_kept_per_token_are_capped_and_the_cap_is_said(tmp_path):
    lines = [line(utc(2026, 11, 1) + i * 60, "root", "botnet", "198.51.100.%d" % i)
             for i in range(usage.ADDRESS_CAP + 6)]
    facts = load(tmp_path, lines)
    token = Tok("root", "botnet", utc(2026, 1, 1))
    seen, dropped = facts.seen_from(token)
    assert len(seen) == usage.ADDRESS_CAP
    assert seen[0].ip == "198.51.100.%d" % (usage.ADDRESS_CAP + 5)  # the newest kept
    assert dropped == utc(2026, 11, 1) + 5 * 60  # the newest of those not kept
    net = [ipaddress.ip_network("198.51.100.0/30")]  # only addresses that were dropped
    verdict, why, _ = facts.used_from(token, net, since=None)
    assert verdict is None and "more than 64 addresses" in why
    # A window after every dropped address is fully known.
    verdict, why, _ = facts.used_from(token, net, since=utc(2026, 11, 1) + 6 * 60)
    assert verdict is False


def test_ipv4_mapped_addresses_match_ipv4_networks(tmp_path):
    facts = load(tmp_path, [line(utc(2026, 11, 20), "root", "t", "::ffff:203.0.113.9")])
    token = Tok("root", "t", utc(2026, 11, 1))
    verdict, _, matched = facts.used_from(token, [ipaddress.ip_network("203.0.113.0/24")])
    assert verdict is True and matched[0].ip == "::ffff:203.0.113.9"


# -- selection -------------------------------------------------------------------------------


def tok(name, created, owner="root"):
    from tokensweeper.tokens import Token

    return Token(owner, name, created, None, {"all": True})


def plan_of(tokens, facts, now=NOW, **selectors):
    return make_plan(tokens, facts, Selectors(**selectors), Protection(), now)


def decisions(plan):
    return {item.token.name: item.decision for item in plan.items}


def test_created_after_and_before_are_a_half_open_interval():
    cut = utc(2026, 11, 24)
    tokens = [tok("before", cut - 1), tok("at", cut), tok("after", cut + 1),
              tok("next-day", cut + DAY)]
    plan = plan_of(tokens, usage.UsageFacts.empty(), created_after=cut,
                   created_before=cut + DAY)
    assert decisions(plan) == {"before": KEEP, "at": REVOKE, "after": REVOKE,
                               "next-day": KEEP}
    assert plan.unjudged == [] and plan.problems == []


def test_used_from_selects_on_the_evidence_and_shows_it(tmp_path):
    facts = load(tmp_path, [
        line(utc(2026, 11, 1), "root", "old", "10.0.0.1"),
        line(utc(2026, 11, 20), "root", "leaked", "10.0.0.1"),
        line(utc(2026, 11, 25, 3), "root", "leaked", "203.0.113.7"),
        line(utc(2026, 11, 26), "root", "clean", "10.0.0.2"),
        line(utc(2026, 11, 26, 1), "root", "v6", "2001:db8:bad::17"),
    ])
    tokens = [tok("leaked", utc(2026, 11, 2)), tok("clean", utc(2026, 11, 2)),
              tok("v6", utc(2026, 11, 2)), tok("never", utc(2026, 11, 2))]
    plan = plan_of(tokens, facts, used_from=("203.0.113.0/24", "2001:db8::/32"))
    assert decisions(plan) == {"leaked": REVOKE, "clean": KEEP, "v6": REVOKE, "never": KEEP}
    assert plan.unjudged == []
    assert "203.0.113.7 (1 use, first 2026-11-25 03:00 UTC" in plan.reason_of(tokens[0])
    assert "not used from" in plan.reason_of(tokens[1])


def test_used_from_with_used_after_is_a_use_from_there_in_that_window(tmp_path):
    facts = load(tmp_path, [line(utc(2026, 11, 1), "root", "a", "203.0.113.7"),
                            line(utc(2026, 11, 26), "root", "a", "10.0.0.1"),
                            line(utc(2026, 11, 26), "root", "b", "203.0.113.8")])
    tokens = [tok("a", utc(2026, 10, 30)), tok("b", utc(2026, 10, 30))]
    plan = plan_of(tokens, facts, used_from=("203.0.113.0/24",), used_after=utc(2026, 11, 20))
    assert decisions(plan) == {"a": KEEP, "b": REVOKE}
    # One sentence for the one use that matched, not a second one from used_after.
    assert plan.reason_of(tokens[1]) == ("used from 203.0.113.8 (1 use, first 2026-11-26 "
                                         "00:00 UTC, last 2026-11-26 00:00 UTC)")


def test_no_usage_evidence_selects_nothing_and_says_so():
    tokens = [tok("a", utc(2026, 11, 1))]
    for selectors in ({"used_from": ("203.0.113.0/24",)}, {"used_after": utc(2026, 11, 20)}):
        plan = plan_of(tokens, usage.UsageFacts.empty(), **selectors)
        assert plan.to_revoke() == []
        assert [i.token.name for i in plan.unjudged] == ["a"]
        assert "no usage evidence" in plan.unjudged[0].reason
        assert plan.problems[0].startswith("usage evidence missing: 1 token could not be judged")


def test_a_log_starting_after_the_window_or_naming_no_address_cannot_tell(tmp_path):
    facts = load(tmp_path, [line(utc(2026, 11, 10), "root", "x", "10.0.0.1"),
                            line(utc(2026, 11, 21), "root", "quiet", None)])
    old, quiet, young = tok("old", utc(2026, 1, 1)), tok("quiet", utc(2026, 11, 15)), tok(
        "young", utc(2026, 11, 12))
    plan = plan_of([old, quiet, young], facts, used_from=("203.0.113.0/24",))
    assert plan.to_revoke() == []
    assert {i.token.name for i in plan.unjudged} == {"old", "quiet"}
    assert "the usage log starts 2026-11-10" in plan.reason_of(old)
    assert "1 use since 2026-11-15 00:00 UTC name no address" in plan.reason_of(quiet)
    assert "not used from 203.0.113.0/24" in plan.reason_of(young)  # its whole life is logged
    # used_after: a window the log covers is judged, one it does not cover is not.
    covered = plan_of([old], facts, used_after=utc(2026, 11, 11))
    assert covered.unjudged == [] and covered.to_revoke() == []
    uncovered = plan_of([old], facts, used_after=utc(2026, 11, 1))
    assert [i.token.name for i in uncovered.unjudged] == ["old"]


def test_another_criterion_that_excludes_a_token_leaves_nothing_to_judge():
    plan = plan_of([tok("a", utc(2026, 1, 1))], usage.UsageFacts.empty(),
                   used_from=("203.0.113.0/24",), created_after=utc(2026, 11, 1))
    assert plan.unjudged == [] and plan.problems == []


# -- the command: usage errors, loud evidence, an incident run end to end ---------------------


@pytest.fixture
def server(tmp_path):
    fake = new_server(tmp_path / "fake", resellers=["alice"])
    with fake.batch():
        add(fake, "root", "leaked", age_days=400)
        add(fake, "root", "fresh", age_days=1)
        add(fake, "root", "fine", age_days=5)
        add(fake, "alice", "v6-leak", age_days=20)
    return fake


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path / "run")


@pytest.mark.parametrize("args, value", [
    (("--created-after", "2026-11-24T09:30"), "'2026-11-24T09:30'"),
    (("--created-before", "last tuesday"), "'last tuesday'"),
    (("--used-after", "2026-13-01"), "'2026-13-01'"),
    (("--used-from", "203.0.113.7/24"), "'203.0.113.7/24'"),
    (("--used-from", "2001:db8::/129"), "'2001:db8::/129'"),
])
def test_malformed_values_are_a_usage_error_naming_the_value(cli, server, args, value):
    run = cli("plan", *args)
    assert run.status == 2, run
    assert value in run.err
    assert server.calls() == []


def test_without_a_log_the_command_selects_nothing_and_says_so_loudly(cli):
    run = cli("plan", "--used-from", "203.0.113.0/24", "--json")
    assert run.status == 3, run
    document = run.json()
    assert document["counts"]["revoke"] == 0
    assert sorted(document["not_judged"]) == ["alice/v6-leak", "root/fine", "root/fresh",
                                              "root/leaked"]
    assert any(p.startswith("usage evidence missing: 4 tokens") for p in document["problems"])
    assert "WARNING: usage evidence missing" in run.err


def test_an_incident_run_end_to_end(cli, server):
    write_usage(cli, [
        line(NOW - 300 * DAY, "root", "leaked", "10.0.0.1"),
        line(NOW - 40 * 3600, "root", "leaked", "203.0.113.77"),
        line(NOW - 30 * 3600, "alice", "v6-leak", "2001:db8:bad::17"),
        line(NOW - 20 * 3600, "root", "leaked", "203.0.113.77"),
        line(NOW - 10 * 3600, "root", "fine", "10.0.0.2"),
    ])
    selectors = ("--used-from", "203.0.113.0/24", "--used-from", "2001:db8::/32",
                 "--used-after", "7d")
    plan = cli("plan", *selectors)
    assert plan.status == 0, plan
    assert "203.0.113.77 (2 uses, first 2026-11-25 20:00 UTC, last 2026-11-26 16:00 UTC)" \
        in plan.out
    run = cli("sweep", "--yes", "--json", *selectors)
    assert run.status == 0, run
    assert {(t["owner"], t["name"]): t["action"] for t in run.json()["tokens"]} == {
        ("root", "leaked"): "revoked", ("alice", "v6-leak"): "revoked"}
    assert server.token_names("root") == {"fresh", "fine"}
    run_id = run.json()["run_id"]

    report = cli("incident-report", "--run", run_id, "--json")
    assert report.status == 0, report
    doc = report.json()
    assert doc["actor"].startswith("cli:") and doc["mode"] == "enforce"
    assert doc["events"] == ["intent", "outcome"]
    assert doc["selectors"]["used_from"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert doc["selectors"]["used_after"] == "2026-11-20T12:00:00Z"
    leaked = [t for t in doc["tokens"] if t["name"] == "leaked"][0]
    assert leaked["outcome"] == "revoked"
    assert leaked["created"] == "2025-10-23T12:00:00Z"
    assert leaked["last_used"] == "2026-11-26 16:00 UTC from 203.0.113.77"
    assert leaked["seen_from"] == [
        {"ip": "203.0.113.77", "first": "2026-11-25T20:00:00Z", "last": "2026-11-26T16:00:00Z",
         "uses": 2},
        {"ip": "10.0.0.1", "first": "2026-01-31T12:00:00Z", "last": "2026-01-31T12:00:00Z",
         "uses": 1}]

    text = cli("incident-report", "--run", run_id)
    assert text.status == 0, text
    assert "root/leaked" in text.out and "REVOKED (verified" in text.out
    assert "seen from: 203.0.113.77: 2 uses" in text.out
    assert "seen from: 2001:db8:bad::17: 1 use," in text.out
    assert cli("incident-report", "--run", "nope").status == 1


def write_usage(cli, lines):
    logs = "%s/usr/local/cpanel/logs" % cli.cpanel_root
    import os

    os.makedirs(logs, exist_ok=True)
    with open(logs + "/api_tokens_log", "w") as handle:
        handle.write("".join(lines))


def test_the_demo_log_has_a_leak_the_runbook_finds(tmp_path):
    from tests.fakes import seed
    from tests.fakes.fakeserver import FakeServer

    fake = seed.seed_realistic(FakeServer(str(tmp_path / "fake")), NOW)
    text = seed.usage_log_text(fake, NOW)
    facts = load(tmp_path, [text])
    networks = [ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32")]
    hits = set()
    for owner in fake.owners():
        for name, spec in fake.tokens(owner).items():
            verdict, _, _ = facts.used_from(Tok(owner, name, spec["create_time"]), networks,
                                            since=NOW - 7 * DAY)
            if verdict:
                hits.add((owner, name))
    assert hits == {("root", "tmp-debug"), ("root", "softaculous-api"),
                    ("hostpro", "api-client")}
    assert json.loads(json.dumps(text)) == text


@pytest.mark.parametrize("block", [512, 4096, 1 << 20])
def test_every_address_reads_the_same_through_the_fast_path_and_line_by_line(
        tmp_path, monkeypatch, block):
    """Out-of-order lines, two offsets, address-less lines, more addresses than kept."""
    monkeypatch.setattr(usage.scan, "BLOCK_SIZE", block)
    monkeypatch.setattr(usage.scan, "ADDRESS_CAP", 8)
    monkeypatch.setattr(usage.facts, "ADDRESS_CAP", 8)
    lines = []
    for i in range(900):
        ts = utc(2026, 11, 1) + i * 7 - (13 if i % 17 == 0 else 0)
        ip = None if i % 5 == 0 else "2001:db8::%x" % (i % 23) if i % 2 else "10.0.%d.%d" % (
            i % 3, i % 11)
        lines.append(line(ts, "res%d" % (i % 3), "tok-%d" % (i % 7), ip,
                          offset="+0200" if i > 600 else "+0000"))
    fast = load(tmp_path / "fast", lines)
    monkeypatch.setattr(usage.scan._Scan, "_fast", lambda self, text, end, count: False)
    exact = load(tmp_path / "exact", lines)
    for user in ("res0", "res1", "res2"):
        for i in range(7):
            token = Tok(user, "tok-%d" % i, 0)
            assert fast.seen_from(token) == exact.seen_from(token), (user, i)
            assert fast.get(user, token.name) == exact.get(user, token.name)
    assert len(fast.seen_from(Tok("res0", "tok-0", 0))[0]) == 8
