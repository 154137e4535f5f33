"""The whole lifecycle as one Hypothesis state machine (issue 27), against the fake whmapi1:
tokens of both kinds created for several owners (names that imitate cPanel's own tokens
among them), used (api_tokens_log lines), noticed and swept by cron's `sweep --scheduled`
under the cap, hit by account events through the real hook (suspend, removal, password
change, rename), revoked by hand, removed behind the tool's back, re-created under the same
name, while the clock (TOKENSWEEPER_NOW) moves on. Every program runs as cPanel and cron
run it: bin/tokensweeper and hooks/tokensweeper-hook in their own processes.

After every step, from the fake's tokens before and after and the audit log's new lines:
  - nothing outside the step's selection is revoked: the configured protection (protect.names
    and cPanel's own token shapes, built here exactly as cPanel makes them), other owners,
    tokens the policy does not find stale, the other kind of the same name;
  - every revocation has its audit records: an intent naming the token before, an outcome
    saying `revoked` after (and no record claims a revocation that did not happen);
  - every unattended policy revocation (cron's, the hook's `sweep`) follows a notice of that
    very token (holder, kind, name, creation time) recorded at least notice_days earlier;
  - an unattended sweep revokes at most max_revoke_per_run tokens.

The stale oracle here is the model's own, from what it did (creation, expiry, uses): a
superset of what the policy may select, never a copy of policy.py.

Deterministic (derandomize, no example database). TOKENSWEEPER_LIFECYCLE_EXAMPLES=N runs
N examples (default 6; 20 on Hypothesis 6.31, Python 3.6's, whose runs are mostly short)
of TOKENSWEEPER_LIFECYCLE_STEPS steps (default 14) for a long run;
TOKENSWEEPER_LIFECYCLE_SHRINK=1 lets Hypothesis shrink a failure (minutes: every step
runs real processes).
Runs on every Python of the matrix (3.6 syntax; Hypothesis 6.31 has all it needs).
"""

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.fakes.fakeserver import FakeServer  # noqa: E402
from tests.helpers import BIN, DAY, NOW  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK = os.path.join(REPO, "hooks", "tokensweeper-hook")
SENDMAIL = os.path.join(REPO, "tests", "fakes", "sendmail")

# Hypothesis 6.31 (the last for Python 3.6) ends most derandomized runs of a state machine
# right after its first step: there, more examples give about as many real runs.
SHORT_RUNS = sys.version_info < (3, 7)
EXAMPLES = int(os.environ.get("TOKENSWEEPER_LIFECYCLE_EXAMPLES") or (20 if SHORT_RUNS else 6))
STEPS = int(os.environ.get("TOKENSWEEPER_LIFECYCLE_STEPS") or 14)

NOTICE_DAYS = 3
CAP = 8
OLDER_THAN = 60
UNUSED_FOR = 30
CONFIG = """\
mode: enforce
kinds: [whm, cpanel]
max_revoke_per_run: %d
policy:
  expired: true
  older_than_days: %d
  unused_for_days: %d
protect:
  builtin: true
  names: ["keep-*"]
events:
  suspend: sweep
  rename: sweep
  password_change: revoke_all
  remove: revoke_all
notify:
  notice_days: %d
  recipients: [contact]
""" % (CAP, OLDER_THAN, UNUSED_FOR, NOTICE_DAYS)
USER_PROTECTED = "keep-*"

RESELLERS = ("bob", "res2")
WHM_OWNERS = ("root",) + RESELLERS
# cPanel accounts: bob's own (a reseller's account has tokens of both kinds), two plain
# ones that can be renamed (to NAME + "r" and back) and removed.
PLAIN = ("shop1", "blog")
# Names shared by the kinds and the owners, and names that imitate cPanel's own tokens
# without being them (a reseller's transfer-<epoch>, a limited MailNodeLinkage, ...).
NAMES = ("deploy", "ci-build", "keep-monitor", "backup", "transfer-1790000000",
         "accesshash-1700000000", "WP-Dashboards", "prospamfilter",
         "reverse_trust_0a1b2c3d-4e5f-4a6b-8c9d-0e1f2a3b4c5d")
AGES = (0, 10, 35, 90, 400)
EXPIRIES = (None, None, 2, -1, 30)
# (kind, owner index, name, age in days, expires in days, limited): stale and fresh, the
# same name in both kinds and for several owners, imitations of cPanel's own shapes
# (root's transfer- stamped another day, bob's prospamfilter, a full-access
# reverse_trust_, a limited MailNodeLinkage), protect.names' keep-*.
BASE = (
    ("whm", 0, "deploy", 400, None, False),
    ("whm", 0, "ci-build", 10, 2, False),
    ("whm", 0, "keep-monitor", 400, None, False),
    ("whm", 0, "transfer-1790000000", 90, None, False),
    ("whm", 1, "deploy", 90, None, False),
    ("whm", 1, "backup", 35, None, True),
    ("whm", 1, "prospamfilter", 400, None, False),
    ("whm", 1, "reverse_trust_0a1b2c3d-4e5f-4a6b-8c9d-0e1f2a3b4c5d", 400, None, False),
    ("whm", 2, "ci-build", 0, 30, False),
    ("whm", 2, "deploy", 35, -1, False),
    ("cpanel", 0, "deploy", 40, None, False),
    ("cpanel", 1, "deploy", 10, None, False),
    ("cpanel", 0, "keep-monitor", 400, None, False),
    ("cpanel", 1, "backup", 90, None, False),
    ("cpanel", 2, "MailNodeLinkage", 400, None, True),
    ("cpanel", 2, "deploy", 35, 2, False),
)
UUIDS = ("1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", "9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0")


class Tok(object):
    """What the model knows of one token: its facts as made, and whether the config
    protects it (protect.names) or it has the exact shape cPanel gives its own (system)."""

    def __init__(self, kind, owner, name, create_time, expires_at, system=False):
        self.kind = kind
        self.owner = owner
        self.name = name
        self.create_time = create_time
        self.expires_at = expires_at
        self.system = system

    @property
    def holder(self):
        return self.owner if self.kind == "whm" else "%s@cpanel" % self.owner

    @property
    def key(self):
        return (self.kind, self.owner, self.name, self.create_time)

    @property
    def user_protected(self):
        return fnmatch.fnmatchcase(self.name, USER_PROTECTED)

    def __repr__(self):
        return "%s/%s (%s, created %+d days%s)" % (
            self.holder, self.name, self.kind, (self.create_time - NOW) // DAY,
            ", system" if self.system else "")


def payload(category, event, stage, data):
    return json.dumps({
        "context": {"category": category, "event": event, "stage": stage, "point": "main"},
        "data": data,
        "hook": {"category": category, "event": event, "stage": stage, "hook": HOOK,
                 "exectype": "script", "weight": "100", "escalateprivs": "0"},
    }, separators=(",", ":")).encode("utf-8")


def wait_for_worker(state_dir):
    import fcntl

    try:
        fd = os.open(os.path.join(state_dir, "hook-worker.lock"), os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks while a worker runs
    finally:
        os.close(fd)


def stamp(epoch):
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


def entry_key(entry):
    """(kind, owner, name, create_time) of a token entry of an audit record."""
    return (entry.get("kind") or "whm", entry.get("owner"), entry.get("name"),
            entry.get("create_time"))


class Lifecycle(RuleBasedStateMachine):
    def __init__(self):
        super(Lifecycle, self).__init__()
        self.base = tempfile.mkdtemp(prefix="tokensweeper-lifecycle-")
        self.fake = FakeServer(os.path.join(self.base, "fake"), now=NOW)
        self.state_dir = os.path.join(self.base, "state")
        self.config_path = os.path.join(self.base, "config.yaml")
        self.cpanel_root = os.path.join(self.base, "cpanel")
        self.mail_dir = os.path.join(self.base, "mail")
        self.usage_log = os.path.join(self.cpanel_root, "usr", "local", "cpanel", "logs",
                                      "api_tokens_log")
        os.makedirs(os.path.dirname(self.usage_log))
        os.makedirs(os.path.join(self.cpanel_root, "etc"))
        with open(os.path.join(self.cpanel_root, "etc", "wwwacct.conf"), "w") as handle:
            handle.write("CONTACTEMAIL admin@example.com\n")
        with open(self.config_path, "w") as handle:
            handle.write(CONFIG)
        self.now = NOW
        self.accounts = {"bob": "root", "shop1": "bob", "blog": "root"}
        with self.fake.batch():
            for name in RESELLERS:
                self.fake.add_reseller(name)
            for user, owner in sorted(self.accounts.items()):
                self.fake.add_account(user, owner=owner)
        self.fake.write_token_files(self.cpanel_root)
        self.fake.write_resellers_file(self.cpanel_root)
        self.tokens = {}  # key -> Tok: what the fake holds, as the model made it
        self.uses = {}  # (owner, name) -> [epochs] of WHM uses written to api_tokens_log
        self.audit_seen = 0  # audit log bytes already checked
        self.steps = []
        # Evidence reaching back: the log's first line is older than any token here.
        self._log_use("root", "monitoring", NOW - 500 * DAY)

    def teardown(self):
        shutil.rmtree(self.base, ignore_errors=True)

    # -- the world outside the tool ------------------------------------------------------

    def _log_use(self, owner, name, when):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(when))
        with open(self.usage_log, "a") as handle:
            handle.write("[%s] info [whostmgrd] HTTP Status: ['200'], User: ['%s'], Token "
                         "Name: ['%s'], Request: ['GET /json-api/listaccts HTTP/1.0']\n"
                         % (stamp, owner, name))

    def _holds(self, kind, owner, name):
        return any(t.kind == kind and t.owner == owner and t.name == name
                   for t in self.tokens.values())

    def _add(self, tok, acls=None, full_access=True):
        if tok.kind == "whm":
            self.fake.add_token(tok.owner, tok.name, tok.create_time,
                                expires_at=tok.expires_at, acls=acls)
        else:
            self.fake.add_cpanel_token(tok.owner, tok.name, tok.create_time,
                                       expires_at=tok.expires_at, full_access=full_access)
        self.tokens[tok.key] = tok

    def _listed(self):
        """{key} of every token the fake holds now."""
        state = self.fake.state()
        found = set()
        for owner in WHM_OWNERS:
            for name, token in self.fake.tokens(owner).items():
                found.add(("whm", owner, name, token["create_time"]))
        for account, tokens in state.get("cpanel_tokens", {}).items():
            for name, token in tokens.items():
                found.add(("cpanel", account, name, token["create_time"]))
        return found

    def _pick(self, index, which=None):
        chosen = sorted((t for t in self.tokens.values() if which is None or which(t)),
                        key=lambda t: t.key)
        return chosen[index % len(chosen)] if chosen else None

    @initialize(specs=st.lists(st.tuples(
        st.sampled_from(("whm", "cpanel")), st.integers(0, 2), st.sampled_from(NAMES),
        st.sampled_from(AGES), st.sampled_from(EXPIRIES), st.booleans()),
        max_size=8), system=st.lists(st.integers(0, 5), max_size=3))
    def a_server_with_tokens(self, specs, system):
        """Every owner and kind with tokens of every kind of fate, then some more."""
        for kind, owner, name, age, expires, limited in BASE:
            self.create(kind, owner, name, age, expires, limited)
        for which in (0, 1, 2, 5):
            self.create_system_token(which, 400)
        for spec in specs:
            self.create(*spec)
        for which in system:
            self.create_system_token(which, AGES[which % len(AGES)])

    @rule(kind=st.sampled_from(("whm", "cpanel")), owner=st.integers(0, 2),
          name=st.sampled_from(NAMES), age=st.sampled_from(AGES),
          expires=st.sampled_from(EXPIRIES), limited=st.booleans())
    def create(self, kind, owner, name, age, expires, limited):
        owner = (WHM_OWNERS if kind == "whm" else sorted(self.accounts))[owner]
        if self._holds(kind, owner, name):
            return
        created = self.now - age * DAY
        tok = Tok(kind, owner, name, created, None if expires is None else
                  self.now + expires * DAY)
        self._add(tok, acls={"list-accts": 1} if limited and kind == "whm" else None,
                  full_access=not limited)
        self.steps.append("create %r" % tok)

    @rule(which=st.integers(0, 5), age=st.sampled_from(AGES))
    def create_system_token(self, which, age):
        """A token with the exact shape cPanel gives its own, for the owner that has it."""
        created = self.now - age * DAY
        if which == 0:
            tok, acls = Tok("whm", "root", "transfer-%d" % created, created, None, True), None
        elif which == 1:
            tok, acls = Tok("whm", "root", "accesshash-%d" % created, created, None, True), None
        elif which in (2, 3):
            tok = Tok("whm", "root", "reverse_trust_" + UUIDS[which - 2], created, None, True)
            acls = {"clustering": 1}
        elif which == 4:
            tok, acls = Tok("whm", "root", "WP-Dashboard", created, None, True), None
        else:
            tok, acls = Tok("cpanel", sorted(self.accounts)[age % len(self.accounts)],
                            "MailNodeLinkage", created, None, True), None
        if self._holds(tok.kind, tok.owner, tok.name):
            return
        self._add(tok, acls=acls)
        self.steps.append("create system token %r" % tok)

    def use(self, index):
        tok = self._pick(index, lambda t: t.kind == "whm")
        if tok is None:
            return
        self._log_use(tok.owner, tok.name, self.now)
        self.uses.setdefault((tok.owner, tok.name), []).append(self.now)
        self.steps.append("use %r" % tok)

    # One argument, named first: Hypothesis tries the rules with the fewest arguments
    # first, so even its simplest example lets days pass under cron.
    @rule(day=st.tuples(st.integers(1, 12), st.integers(0, 23),
                        st.lists(st.integers(0, 50), max_size=3)))
    def a_day_passes(self, day):
        """The clock moves on, some WHM tokens are used meanwhile, and cron's sweep runs."""
        days, hours, used = day
        for index in used:
            self.use(index)
        self.now += days * DAY + hours * 3600
        self.steps.append("clock +%dd %dh" % (days, hours))
        self.scheduled_sweep()

    @precondition(lambda self: self.tokens)
    @rule(index=st.integers(0, 50))
    def removed_behind_our_back(self, index):
        """The owner deletes a token in WHM or cPanel: no record of ours."""
        tok = self._pick(index)
        if tok.kind == "whm":
            self.fake.remove_token(tok.owner, tok.name)
        else:
            self.fake.remove_cpanel_token(tok.owner, tok.name)
        del self.tokens[tok.key]
        self.steps.append("removed by its owner %r" % tok)

    @precondition(lambda self: any(not t.system for t in self.tokens.values()))
    @rule(index=st.integers(0, 50), later=st.integers(0, 3))
    def recreate(self, index, later):
        """The same name made again: another token, another identity."""
        old = self._pick(index, lambda t: not t.system)
        if old.kind == "whm":
            self.fake.remove_token(old.owner, old.name)
        else:
            self.fake.remove_cpanel_token(old.owner, old.name)
        del self.tokens[old.key]
        created = self.now - later * DAY
        if created == old.create_time:
            created -= 1
        tok = Tok(old.kind, old.owner, old.name, created, old.expires_at)
        self._add(tok)
        self.steps.append("re-created %r as %r" % (old, tok))

    # -- the tool -------------------------------------------------------------------------

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
        env.update(self.fake.full_env())
        env.update(TOKENSWEEPER_STATE_DIR=self.state_dir, TOKENSWEEPER_CONFIG=self.config_path,
                   TOKENSWEEPER_CPANEL_ROOT=self.cpanel_root, TOKENSWEEPER_NOW=str(self.now),
                   TOKENSWEEPER_HOOK_SETTLE="0", TOKENSWEEPER_SENDMAIL=SENDMAIL,
                   TOKENSWEEPER_FAKE_MAIL_DIR=self.mail_dir)
        return env

    def _run(self, argv, stdin=b""):
        child = subprocess.Popen([sys.executable] + argv, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())
        out, err = child.communicate(stdin, timeout=120)
        return child.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def scheduled_sweep(self):
        before = dict(self.tokens)
        status, out, err = self._run([BIN, "sweep", "--scheduled"])
        assert status in (0, 1, 3), (status, out, err)
        self.steps.append("cron: sweep --scheduled -> %d" % status)
        allowed = {k for k, t in before.items() if self._may_go_by_policy(t)}
        self._settle(before, allowed, unattended=True, what="cron's sweep", output=out + err)

    @rule(what=st.tuples(st.sampled_from(("suspend", "password_change", "remove", "rename")),
                         st.integers(0, 2)))
    def account_event(self, what):
        event, account = what
        users = sorted(self.accounts)
        if event in ("remove", "rename"):
            users = [u for u in users if u != "bob"]  # a reseller's account: not modelled
        user = users[account % len(users)]
        before = dict(self.tokens)
        holders = {user, "%s@cpanel" % user}
        if event == "suspend":
            raw = payload("Whostmgr", "Accounts::suspendacct", "post", {
                "args": {"user": user, "reason": "unpaid", "disallowun": "0"},
                "result": "1", "user": "root"})
        elif event == "password_change":
            raw = payload("Passwd", "ChangePasswd", "post", {
                "user": user, "newpass": "x-SECRET-y", "new_password": "x-SECRET-y",
                "origin": "whm", "initiator": "root", "rawout": "", "optional_services": {}})
        elif event == "remove":
            raw = payload("Whostmgr", "Accounts::Remove", "pre", {
                "user": user, "killdns": "1", "keep_remote_databases": "0", "if_child": None})
        else:
            new = user[:-1] if user.endswith("r") else user + "r"
            self._rename(user, new)
            before = dict(self.tokens)
            holders = {new, "%s@cpanel" % new}
            raw = payload("Whostmgr", "Accounts::Modify", "post", {
                "user": user, "newuser": new, "owner": self.accounts[new], "domain": "x.example"})
        status, out, err = self._run([HOOK], raw)
        wait_for_worker(self.state_dir)
        assert status == 0 and out.startswith("1 "), (status, out, err)
        self.steps.append("hook %s %s: %s" % (event, user, out.strip()))
        if event in ("suspend", "rename"):
            allowed = {k for k, t in before.items()
                       if t.holder in holders and self._may_go_by_policy(t)}
        else:  # revoke_all: every token of the account, but for protect.names
            allowed = {k for k, t in before.items()
                       if t.holder in holders and not t.user_protected}
        self._settle(before, allowed, unattended=event in ("suspend", "rename"),
                     what="the hook's %s of %s" % (event, user), output=out + err)
        if event == "remove":  # cPanel deletes what is left of the account's tokens
            for tok in [t for t in self.tokens.values() if t.kind == "cpanel" and t.owner == user]:
                self.fake.remove_cpanel_token(user, tok.name)
                del self.tokens[tok.key]

    def _rename(self, old, new):
        """cPanel's rename: the account, its users file and its cPanel tokens take the new
        name."""
        moved = self.fake.cpanel_tokens(old)
        with self.fake._edit() as state:
            for account in state["accounts"]:
                if account["user"] == old:
                    account["user"] = new
            cpanel = state.setdefault("cpanel_tokens", {})
            cpanel.pop(old, None)
            cpanel[new] = moved
        old_file = os.path.join(self.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2",
                                "cpanel", old + ".json")
        if os.path.exists(old_file):
            os.remove(old_file)
        self.fake.write_token_files(self.cpanel_root)
        # and its users file (the hook follows only a rename that happened)
        old_users = os.path.join(self.cpanel_root, "var", "cpanel", "users", old)
        if os.path.exists(old_users):
            os.remove(old_users)
        self.fake.write_users_file(self.cpanel_root, new)
        self.accounts[new] = self.accounts.pop(old)
        for tok in [t for t in self.tokens.values() if t.kind == "cpanel" and t.owner == old]:
            del self.tokens[tok.key]
            tok.owner = new
            self.tokens[tok.key] = tok

    @precondition(lambda self: self.tokens)
    @rule(index=st.integers(0, 50))
    def hand_revoke(self, index):
        tok = self._pick(index)
        before = dict(self.tokens)
        status, out, err = self._run([BIN, "revoke", "--kind", tok.kind, "--owner", tok.owner,
                                      tok.name, "--yes"])
        self.steps.append("tokensweeper revoke %r -> %d" % (tok, status))
        self._settle(before, {tok.key}, unattended=False, what="revoke by hand",
                     output=out + err)

    # -- what the model allows ------------------------------------------------------------

    def _may_go_by_policy(self, tok):
        """A superset of what the configured policy may find stale now: never a token the
        config or cPanel's own shapes protect, never one used lately (by the log, which
        shows WHM use only)."""
        if tok.user_protected or tok.system:
            return False
        if tok.expires_at is not None and tok.expires_at <= self.now:
            return True
        age = self.now - tok.create_time
        if age >= (OLDER_THAN - 1) * DAY:
            return True
        if tok.kind != "whm" or age < (UNUSED_FOR - 1) * DAY:
            return False
        used = [when for when in self.uses.get((tok.owner, tok.name), ())
                if when >= tok.create_time]
        return not used or max(used) < self.now - (UNUSED_FOR - 1) * DAY

    def _new_records(self):
        path = os.path.join(self.state_dir, "audit.log")
        if not os.path.exists(path):
            return []
        with open(path, "rb") as handle:
            handle.seek(self.audit_seen)
            data = handle.read()
        self.audit_seen += len(data)
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line]

    def _notices(self):
        """[(sent epoch, identity)] of every notice entry in the whole audit log."""
        path = os.path.join(self.state_dir, "audit.log")
        found = []
        with open(path) as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("event") != "notice":
                    continue
                for entry in record.get("tokens", []):
                    if entry.get("action") == "notice":
                        found.append((record["epoch"], entry["identity"]))
        return found

    def _settle(self, before, allowed, unattended, what, output):
        listed = self._listed()
        gone = {k for k in before if k not in listed}
        story = "\n".join(self.steps[-12:])
        outside = gone - allowed
        assert not outside, "%s revoked outside its selection: %s\n%s\nlast steps:\n%s" % (
            what, sorted(repr(before[k]) for k in outside), output, story)
        records = self._new_records()
        intents, outcomes, claimed = {}, {}, set()
        for position, record in enumerate(records):
            for entry in record.get("tokens") or []:
                key = entry_key(entry)
                if record.get("event") == "intent" and entry.get("action") == "revoke":
                    intents.setdefault(key, []).append((position, record["run_id"]))
                elif record.get("event") == "outcome" and entry.get("action") == "revoked":
                    outcomes.setdefault(key, []).append((position, record["run_id"]))
                    claimed.add(key)
        for key in gone:
            pairs = [(i, o) for i, run in intents.get(key, ())
                     for o, same in outcomes.get(key, ()) if same == run and i < o]
            assert pairs, ("%s revoked %r without an intent record before and an outcome "
                           "record after\n%s\nlast steps:\n%s" % (
                               what, before[key], output, story))
        assert claimed <= gone, "%s: the audit log says %s were revoked, they are not\n%s" % (
            what, sorted(claimed - gone), story)
        if unattended and gone:
            assert len(gone) <= CAP, "%s revoked %d tokens, over the cap of %d\n%s" % (
                what, len(gone), CAP, story)
            notices = self._notices()
            for key in gone:
                tok = before[key]
                prefix = "%s:%s:%d:" % (tok.holder, tok.name, tok.create_time)
                sent = [when for when, identity in notices if identity.startswith(prefix)]
                assert any((when // DAY + NOTICE_DAYS) * DAY <= self.now for when in sent), (
                    "%s revoked %r on %s without a notice %d days before (notices sent: %s)"
                    "\n%s\nlast steps:\n%s" % (what, tok, stamp(self.now), NOTICE_DAYS,
                                                [stamp(when) for when in sent], output, story))
        for key in gone:
            self.tokens.pop(key, None)

    @invariant()
    def the_model_is_the_server(self):
        """Between steps the fake holds exactly the tokens the model says (so every removal
        above was seen and judged)."""
        assert self._listed() == set(self.tokens), "\n".join(self.steps[-12:])


# Shrinking re-runs real processes for minutes: off unless asked for
# (TOKENSWEEPER_LIFECYCLE_SHRINK=1). A failure names the broken invariant and the steps
# that led to it either way.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
if os.environ.get("TOKENSWEEPER_LIFECYCLE_SHRINK"):
    PHASES.append(Phase.shrink)
Lifecycle.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, derandomize=True, database=None,
    deadline=None, phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_lifecycle = Lifecycle.TestCase
