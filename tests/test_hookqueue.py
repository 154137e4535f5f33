"""Issue 31: hook storms. A reseller's suspension fires the account hook once per owned
account; the hook queues each token-holding account's event and returns, one detached
worker handles them all together (hookqueue.py) at the whmapi1 cost of one batched sweep
of the same accounts, and nothing is lost when that worker dies.

Every hook runs as cPanel runs it (its own process, the event on stdin). The worker's
quiet period is 0 (TOKENSWEEPER_HOOK_SETTLE): a test holds the sweep lock instead, as a
running sweep would, so that a whole storm is queued before the worker may start; tests
wait for the worker by taking its lock, never on the clock.

Runs on every Python of the matrix (3.6 syntax).
"""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from tests.fakes.fakeserver import FAKE_PATH
from tests.helpers import BIN, DAY, NOW, REPO
from tests.test_hook import HOOK, Hook, modify, queued, suspend

sys.path.insert(0, os.path.join(REPO, "plugin"))

from tokensweeper import hookqueue  # noqa: E402
from tokensweeper.lock import SweepLock  # noqa: E402

ACCOUNTS = 100
WITH_TOKENS = 30
CONFIG = "mode: enforce\nkinds: [whm, cpanel]\nevents: {suspend: revoke_all}\n"


class Storm(Hook):
    """Reseller `big` owning 100 cPanel accounts, 30 of them with 1-20 cPanel tokens."""

    def __init__(self, base):
        Hook.__init__(self, base)
        self.reseller("big", [])
        self.accounts = ["shop%03d" % i for i in range(ACCOUNTS)]
        self.holders = self.accounts[::ACCOUNTS // WITH_TOKENS][:WITH_TOKENS]
        with self.server.batch():
            for account in self.accounts:
                self.server.add_account(account, owner="big")
            for index, account in enumerate(self.holders):
                for number in range(1 + (index * 7) % 20):  # 1..20 tokens
                    self.server.add_cpanel_token(account, "app-%02d" % number,
                                                 NOW - (number + 1) * DAY)
        self.server.write_token_files(self.cpanel_root)
        self.config(CONFIG)

    def sweep_lock(self):
        return SweepLock(os.path.join(self.state_dir, "sweep.lock"))

    def queue_names(self):
        directory = os.path.join(self.state_dir, "hook-queue")
        return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

    def tokens_left(self):
        return {a: self.server.cpanel_token_names(a) for a in self.holders
                if self.server.cpanel_token_names(a)}

    def cli(self, *argv):
        proc = subprocess.Popen([sys.executable, BIN] + list(argv), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env())
        out, err = proc.communicate(timeout=300)
        return proc.returncode, out.decode("utf-8"), err.decode("utf-8")

    def worker_pid(self):
        with open(os.path.join(self.state_dir, "hook-worker.lock")) as handle:
            return int(handle.read())


def floor(token_count, accounts):
    """The batched sweep of the same accounts (cPanel kind, 100 calls per batch): one listing,
    one listing right before the revoke, the revokes, one verifying listing."""
    chunks = -(-accounts // 100)
    return chunks + chunks + -(-token_count // 100) + chunks


@pytest.fixture
def storm(tmp_path):
    return Storm(tmp_path)


def fire(storm, accounts):
    """One hook process per account, one after another, as cPanel runs them."""
    return {account: storm.run(suspend(account))[0] for account in accounts}


def test_a_reseller_suspension_storm_is_handled_at_the_cost_of_one_batched_sweep(storm):
    tokens = {a: storm.server.cpanel_token_names(a) for a in storm.holders}
    total = sum(len(names) for names in tokens.values())
    with storm.sweep_lock():  # the worker may not start before the storm has passed
        answers = fire(storm, storm.accounts)
        assert storm.server.calls() == []
        assert len(storm.queue_names()) == WITH_TOKENS
    storm.wait_for_worker()

    first = storm.holders[0]
    assert answers[first] == queued("suspendacct %s" % first, "revoke_all")
    for account in storm.holders[1:]:
        assert answers[account] == queued("suspendacct %s" % account, "revoke_all").replace(
            b"a worker applies", b"the running worker applies")
    for account in set(storm.accounts) - set(storm.holders):
        assert b"owns no API tokens; nothing to do" in answers[account]

    assert storm.tokens_left() == {}
    assert storm.queue_names() == []
    # One run per event, as when each hook handled its own account.
    outcomes = [r for r in storm.audit() if r["event"] == "outcome"]
    assert sorted(r["selectors"]["owners"][0] for r in outcomes) == sorted(storm.holders)
    assert len({r["run_id"] for r in outcomes}) == WITH_TOKENS
    for record in outcomes:
        account = record["selectors"]["owners"][0]
        assert record["actor"] == "hook:Accounts::suspendacct"
        assert {(t["owner"], t["kind"], t["name"], t["action"]) for t in record["tokens"]} == {
            (account, "cpanel", name, "revoked") for name in tokens[account]}
    calls = storm.server.calls()
    assert [c["function"] for c in calls] == ["batch"] * floor(total, WITH_TOKENS), (
        "%d whmapi1 processes for %d tokens of %d accounts" % (len(calls), total, WITH_TOKENS))


def test_events_of_accounts_with_and_without_tokens_of_several_owners_in_one_round(storm):
    """A WHM owner (a reseller suspended with its accounts) and cPanel accounts in one
    round: each kind listed once for all, each event recorded on its own."""
    storm.reseller("sub", [("old-ci", 200, -10), ("fresh", 1, None)])
    with storm.sweep_lock():
        fire(storm, storm.holders[:3] + ["sub"])
    storm.wait_for_worker()
    assert storm.server.token_names("sub") == set()
    assert storm.tokens_left() == {a: storm.server.cpanel_token_names(a)
                                   for a in storm.holders[3:]}
    functions = [(c["function"], c["owner"]) for c in storm.server.calls()]
    assert sorted(functions) == sorted([("batch", "root")] * 4 + [("api_token_list", "sub")] * 3
                                       + [("api_token_revoke", "sub")])
    owners = [r["selectors"]["owners"] for r in storm.audit() if r["event"] == "outcome"]
    assert sorted(owners) == sorted([[a] for a in storm.holders[:3]] + [["sub"]])


def hang_the_revoke(storm, fifo, after=2, when="before"):
    """The third batch (the revoke, after the listing and the listing right before it;
    `after` others: the batch after that many) never answers (`when` "after": once its
    work is done); the fake writes its helper's pid to `fifo` when it gets there, so the
    test knows, without a clock, that the worker is at that point."""
    os.mkfifo(fifo)
    storm.server.add_fault("hang", function="batch", after=after, times=1, grandchild=30,
                           pid_file=fifo, when=when)


def kill_the_worker_mid_revoke(storm, tmp_path, after=2, when="before"):
    # One whmapi1 process at a time: when the revoke hangs, no other call is under way.
    storm.config(CONFIG + "parallel_owners: 1\n")
    fifo = str(tmp_path / "reached-the-revoke")
    hang_the_revoke(storm, fifo, after, when)
    with storm.sweep_lock():
        fire(storm, storm.holders)
        worker = storm.worker_pid()
    with open(fifo) as handle:  # blocks until the worker's revoke batch is running
        helper = int(handle.read())
    os.kill(worker, signal.SIGKILL)
    for call in storm.server.calls():
        if call.get("exit") is None:
            os.kill(call["pid"], signal.SIGKILL)  # the hung whmapi1
    os.kill(helper, signal.SIGKILL)
    storm.wait_for_worker()  # the kernel dropped the dead worker's lock
    storm.server.clear_faults()
    storm.server.reset_calls()


@pytest.mark.parametrize("recovery", ["a later event", "tokensweeper queue --run",
                                      "the scheduled run"])
def test_a_worker_killed_mid_storm_loses_nothing(storm, tmp_path, recovery):
    tokens = {a: storm.server.cpanel_token_names(a) for a in storm.holders}
    kill_the_worker_mid_revoke(storm, tmp_path)

    left = storm.tokens_left()
    assert left == tokens  # the hung revoke did nothing
    assert len(storm.queue_names()) == WITH_TOKENS
    assert [r["event"] for r in storm.audit()] == ["intent"] * WITH_TOKENS
    status, out, err = storm.cli("audit")
    assert status == 0
    assert "Queued by the hook, not handled yet" in out
    assert sum(1 for line in out.splitlines()
               if "Accounts::suspendacct" in line and "revoke_all" in line) == WITH_TOKENS
    assert "INTERRUPTED" in out
    status, out, _ = storm.cli("queue", "--json")
    assert sorted(e["account"] for e in json.loads(out)["queued"]) == sorted(storm.holders)

    if recovery == "a later event":
        storm.server.add_account("late", owner="big")
        storm.server.add_cpanel_token("late", "ci", NOW - DAY)
        storm.server.write_token_files(storm.cpanel_root)
        assert storm.run(suspend("late"))[0] == queued("suspendacct late", "revoke_all")
        storm.wait_for_worker()
        assert storm.server.cpanel_token_names("late") == set()
    elif recovery == "tokensweeper queue --run":
        status, out, err = storm.cli("queue", "--run")
        assert status == 0, err
        assert out.count(": revoked ") == len(left) and "No hook events are waiting." in out
    else:
        status, out, err = storm.cli("sweep", "--scheduled")
        assert status == 0, err
        assert out.count(": revoked ") == len(left), out

    assert storm.tokens_left() == {}
    assert storm.queue_names() == []
    # Every event whose account still had tokens has its outcome; the others' tokens went
    # in the killed run (its intent record names them) and their events found nothing left.
    outcomes = [r for r in storm.audit() if r["event"] == "outcome"
                and r["actor"] == "hook:Accounts::suspendacct"]
    assert sorted(r["selectors"]["owners"][0] for r in outcomes
                  if r["selectors"]["owners"][0] != "late") == sorted(left)
    for record in outcomes:
        account = record["selectors"]["owners"][0]
        assert {t["name"] for t in record["tokens"] if t["action"] == "revoked"} == left.get(
            account, {"ci"})
    if recovery != "the scheduled run":  # that run also sweeps by the policy afterwards
        batches = [c for c in storm.server.calls() if c["function"] == "batch"]
        late = recovery == "a later event"
        assert len(batches) == floor(sum(len(n) for n in left.values()) + late,
                                     len(left) + late)


def test_the_hook_answers_before_the_worker_is_done_and_keeps_none_of_cpanels_pipes(storm):
    """cPanel reads the hook's stdout and stderr to their end: a worker holding them would
    hold up the suspension. Here the worker cannot finish (the sweep lock is held), and the
    hook's pipes still close (communicate() returns)."""
    with storm.sweep_lock():
        out, _ = storm.run(suspend(storm.holders[0]))
        assert out == queued("suspendacct %s" % storm.holders[0], "revoke_all")
        worker = storm.worker_pid()
        assert worker != os.getpid()
        assert os.getsid(worker) != os.getsid(0)  # out of cPanel's session
        assert os.readlink("/proc/%d/fd/0" % worker) == os.devnull
        assert os.readlink("/proc/%d/fd/2" % worker) == storm.error_log
    storm.wait_for_worker()
    assert storm.tokens_left() == {a: storm.server.cpanel_token_names(a)
                                   for a in storm.holders[1:]}


# -- the queue directory is state: hostile or foreign files are refused ---------------


@pytest.fixture
def env(storm, monkeypatch):
    for key, value in storm.env().items():
        monkeypatch.setenv(key, value)
    return storm


def run_worker(messages):
    lock = hookqueue.worker_lock().acquire()
    return hookqueue.work(lock, lambda: NOW, settle_for=(0.0, 0.0), log=messages.append)


def test_a_link_or_a_foreign_file_in_the_queue_is_refused_and_left_alone(env, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text('{"account": "%s", "event": "Accounts::suspendacct", "key": '
                      '"suspend", "action": "revoke_all", "epoch": %d}' % (env.holders[2], NOW))
    account = env.holders[0]
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    queue = os.path.join(env.state_dir, "hook-queue")
    link = os.path.join(queue, "1-000000-1-aaaaaaaaaaaa.json")
    os.symlink(str(victim), link)
    foreign = os.path.join(queue, "1-000000-2-bbbbbbbbbbbb.json")
    with open(foreign, "w") as handle:
        handle.write(victim.read_text().replace(env.holders[2], env.holders[1]))
    os.chown(foreign, 4242, 4242)
    stray = os.path.join(queue, "notes.txt")
    with open(stray, "w") as handle:
        handle.write("x")

    messages = []
    assert run_worker(messages) == 1  # something needs the admin
    assert env.server.cpanel_token_names(account) == set()  # the real event was handled
    assert env.server.cpanel_token_names(env.holders[1])  # the foreign one was not
    assert env.server.cpanel_token_names(env.holders[2])  # nor the one behind the link
    text = "\n".join(messages)
    assert "refusing to use %s: it is a symbolic link" % link in text
    assert "refusing to use %s: the file is owned by uid 4242" % foreign in text
    assert "ignored %s in the hook queue: not a queued event" % stray in text
    assert sorted(os.listdir(queue)) == sorted(os.path.basename(p) for p in (link, foreign,
                                                                              stray))
    assert victim.read_text().startswith('{"account": "%s"' % env.holders[2])


@pytest.mark.parametrize("body", [
    b"{not json",
    b'{"account": "../../etc", "event": "Accounts::suspendacct", "key": "suspend", '
    b'"action": "revoke_all", "epoch": 1}',
    b'{"account": "shop000", "event": "Accounts::suspendacct", "key": "suspend", '
    b'"action": "rm -rf", "epoch": 1}',
    b'{"account": "shop000"}',
], ids=["not-json", "bad-account", "bad-action", "fields-missing"])
def test_a_damaged_queue_entry_changes_nothing_and_is_reported(env, body):
    queue = os.path.join(env.state_dir, "hook-queue")
    os.makedirs(queue, mode=0o700)
    name = os.path.join(queue, "1-000000-3-cccccccccccc.json")
    with open(name, "wb") as handle:
        handle.write(body)
    messages = []
    assert run_worker(messages) == 1
    assert env.server.calls() == []
    assert ["ignored %s in the hook queue: not a queued event this version wrote (remove it)"
            % name] == messages
    assert os.path.exists(name)


def test_a_queue_directory_others_can_write_is_refused(env):
    queue = os.path.join(env.state_dir, "hook-queue")
    os.makedirs(queue)
    os.chmod(queue, 0o777)
    out, err = env.run(suspend(env.holders[0]))
    assert out == ("1 tokensweeper: suspendacct %s: revoke_all failed (details in cPanel's "
                   "error_log)\n" % env.holders[0]).encode()
    assert "writable by group or others" in err
    assert env.server.calls() == []


def test_two_hooks_never_start_two_workers(env):
    lock = hookqueue.worker_lock().acquire()  # as a running worker holds it
    try:
        assert hookqueue.start_worker(lambda: NOW) is False
    finally:
        lock.release()


def test_queue_run_while_a_worker_runs_does_nothing(env):
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", env.holders[0], NOW)
    lock = hookqueue.worker_lock().acquire()
    try:
        status, out, _ = env.cli("queue", "--run")
    finally:
        lock.release()
    assert status == 0 and "The hook's worker is handling the queue now" in out
    assert env.server.calls() == [] and len(env.queue_names()) == 1
    status, out, _ = env.cli("queue")
    assert "1 event waiting for the hook's worker" in out and env.holders[0] in out


def test_the_same_account_twice_in_one_round_is_revoked_once(env):
    account = env.holders[5]
    count = len(env.server.cpanel_token_names(account))
    for _ in range(2):
        hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    messages = []
    assert run_worker(messages) == 0
    revokes = [c for c in env.server.calls() if c["function"] == "batch"]
    assert len(revokes) == floor(count, 1)
    outcomes = [r for r in env.audit() if r["event"] == "outcome"]
    assert len(outcomes) == 2  # one record per event
    assert all({t["action"] for t in r["tokens"]} == {"revoked"} for r in outcomes)


NO_FORK = """
import os

def fork():
    raise OSError(11, "Resource temporarily unavailable")
os.fork = fork
"""


def test_a_worker_that_cannot_start_leaves_the_event_queued_and_says_so(storm, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_FORK)
    account = storm.holders[0]
    out, err = storm.run(suspend(account), PYTHONPATH=str(site))
    assert out == ("1 tokensweeper: suspendacct %s: revoke_all queued, but its worker could "
                   "not start; the next event, the scheduled run or tokensweeper queue --run "
                   "applies it\n" % account).encode()
    assert "Resource temporarily unavailable" in err
    assert storm.server.calls() == [] and len(storm.queue_names()) == 1
    status, out, err = storm.cli("queue", "--run")
    assert status == 0, err
    assert "suspendacct %s: revoked" % account in out
    assert storm.server.cpanel_token_names(account) == set() and storm.queue_names() == []


def test_an_event_whose_tokens_could_not_be_listed_stays_queued_until_they_can(env):
    """A whmapi1 failure while listing (here the batch listing's process fails once) must
    not cost a suspended account its revoke_all: the event waits in the queue, its run
    record says why, and the next worker (or queue --run) revokes the tokens."""
    account = env.holders[0]
    env.server.add_fault("exit", function="batch", times=1)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    messages = []
    assert run_worker(messages) == 1
    assert env.server.cpanel_token_names(account)  # nothing could be revoked...
    assert len(env.queue_names()) == 1  # ...so the event is not forgotten
    assert ("suspendacct %s: could not list its tokens, nothing revoked" % account
            in "\n".join(messages))
    assert "the event waits in the queue" in messages[-1]
    listed_once = len([c for c in env.server.calls() if c["function"] == "batch"])
    assert listed_once == 1  # the worker did not retry the failing event in a loop

    status, out, err = env.cli("queue", "--run")
    assert status == 0, out + err
    assert env.server.cpanel_token_names(account) == set() and env.queue_names() == []
    outcomes = [r for r in env.audit() if r["event"] == "outcome"]
    assert [bool(r["owner_errors"]) for r in outcomes] == [True, False]


def test_a_foreign_worker_lock_never_stops_the_scheduled_sweep(env):
    """hook-worker.lock not root's (a restored backup, a planted file): the queue cannot be
    handled and every run says so, but cron's sweep of the config's policy still runs."""
    env.config(CONFIG + "policy: {older_than_days: 10}\n")
    account = env.holders[2]  # 15 tokens, 1 to 15 days old
    old = {name for name in env.server.cpanel_token_names(account)
           if int(name.split("-")[1]) >= 10}
    assert old
    os.makedirs(env.state_dir, mode=0o700, exist_ok=True)
    lock = os.path.join(env.state_dir, "hook-worker.lock")
    open(lock, "w").close()
    os.chown(lock, 4242, 4242)
    status, out, err = env.cli("sweep", "--scheduled")
    assert status == 1  # the admin must look at it...
    assert "refusing to use %s: the file is owned by uid 4242" % lock in err
    assert not old & env.server.cpanel_token_names(account)  # ...and the sweep was done
    status, out, err = env.cli("queue", "--run")
    assert status == 1 and "refusing to use %s" % lock in err


def test_a_foreign_worker_lock_leaves_the_event_queued_and_the_answer_says_so(env):
    os.makedirs(env.state_dir, mode=0o700, exist_ok=True)
    lock = os.path.join(env.state_dir, "hook-worker.lock")
    open(lock, "w").close()
    os.chown(lock, 4242, 4242)
    account = env.holders[0]
    out, err = env.run(suspend(account))
    # Not "revoke_all failed": the event is queued and is applied once the file is fixed.
    assert out == ("1 tokensweeper: suspendacct %s: revoke_all queued, but its worker could "
                   "not start; the next event, the scheduled run or tokensweeper queue --run "
                   "applies it\n" % account).encode()
    assert "refusing to use %s: the file is owned by uid 4242" % lock in err
    assert len(env.queue_names()) == 1
    assert [r["event"] for r in env.audit()] == []  # no failure recorded for a queued event
    os.unlink(lock)
    status, out, err = env.cli("queue", "--run")
    assert status == 0, out + err
    assert env.server.cpanel_token_names(account) == set()


class Rounds(list):
    """The worker's messages; a worker that goes round in circles is stopped."""

    def append(self, message):
        list.append(self, message)
        if sum(1 for m in self if m.startswith("handling ")) > 3:
            raise AssertionError("the worker handles the same events again and again")


def test_a_handled_event_that_cannot_leave_the_queue_is_reported_not_redone(env, monkeypatch):
    """The queue directory refuses unlink (an immutable or read-only bind): the worker must
    say so and stop, not handle the same events again and again, nor claim they left."""
    account = env.holders[0]
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    queue = os.path.join(env.state_dir, "hook-queue")
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if os.path.dirname(str(path)) == queue and hookqueue.ENTRY_RE.match(
                os.path.basename(str(path))):
            raise PermissionError(1, "Operation not permitted", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    messages = Rounds()
    assert run_worker(messages) == 1
    assert env.server.cpanel_token_names(account) == set()  # it was handled once
    assert sum(1 for m in messages if m.startswith("handling ")) == 1
    assert "Operation not permitted" in messages[-1], messages
    assert len(env.queue_names()) == 1


# -- a worker finishing an empty round must not strand an event (break-it #1) ----------


def test_an_event_queued_while_the_worker_ends_an_empty_round_is_handled(env, monkeypatch):
    """The worker's round reads the queue and finds nothing; before it lets go of its lock
    a hook queues an event and, finding the lock held, trusts the running worker. That
    worker must see the event before it exits, or nothing handles it until some later
    event or cron."""
    account = env.holders[0]
    real_read = hookqueue.read_queue
    hooks = []

    def read_then_a_hook_comes(*args, **kwargs):
        entries, problems = real_read(*args, **kwargs)
        if not entries and not hooks:  # the empty round, between its read and its exit
            hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
            hooks.append(hookqueue.start_worker(lambda: NOW))
        return entries, problems

    monkeypatch.setattr(hookqueue, "read_queue", read_then_a_hook_comes)
    messages = []
    assert run_worker(messages) == 0
    assert hooks == [False]  # the hook was told the running worker applies its event
    assert env.server.cpanel_token_names(account) == set(), messages
    assert env.queue_names() == []


# -- cPanel may start the hook with its standard descriptors closed (break-it #2) -------


def close_stdout_and_stderr():
    os.close(1)
    os.close(2)


def test_a_hook_started_with_stdout_and_stderr_closed_still_queues_its_event(storm):
    """With descriptors 1 and 2 closed, the first file the hook opens takes one of them:
    a log line or the answer must not fail the hook (the event was lost), and the
    worker's /dev/null must not replace its own lock."""
    account = storm.holders[0]
    proc = subprocess.Popen([sys.executable, HOOK], stdin=subprocess.PIPE,
                            env=storm.env(), preexec_fn=close_stdout_and_stderr)
    proc.communicate(suspend(account), timeout=120)
    storm.wait_for_worker()
    assert storm.server.cpanel_token_names(account) == set()
    assert storm.queue_names() == []
    outcomes = [r for r in storm.audit() if r["event"] == "outcome"]
    assert [r["selectors"]["owners"] for r in outcomes] == [[account]]
    with open(storm.error_log) as handle:  # the worker still reports to cPanel's log
        assert "suspendacct %s: revoked" % account in handle.read()


# -- queued events follow their account's rename (break-it #3) --------------------------


def test_queued_events_follow_their_account_to_its_new_name(storm):
    """A suspension queued, then the account renamed before the worker ran: cPanel moved
    the tokens to the new name, so the event must revoke them there (the old name has
    none left: it was dropped as 'nothing to do' and the tokens stayed). events.rename is
    `ignore` (the default): the queued event follows all the same."""
    old, new = storm.holders[1], "renamed1"
    tokens = storm.server.cpanel_token_names(old)
    with storm.sweep_lock():
        storm.run(suspend(old))
        storm.server.rename_account(old, new)
        out, err = storm.run(modify(old, new))
        assert out == ("1 tokensweeper: Modify %s: events.rename is ignore; nothing to do; "
                       "1 queued event of %s follows it\n" % (new, old)).encode(), err
        assert [e["account"] for e in json.loads(storm.cli("queue", "--json")[1])[
            "queued"]] == [new]
    storm.wait_for_worker()
    assert storm.server.cpanel_token_names(new) == set()
    assert storm.queue_names() == []
    outcomes = [r for r in storm.audit() if r["event"] == "outcome"]
    assert [r["selectors"]["owners"] for r in outcomes] == [[new]]
    assert {t["name"] for t in outcomes[0]["tokens"] if t["action"] == "revoked"} == tokens


def test_a_rename_onto_another_account_that_cpanel_refused_revokes_none_of_its_tokens(storm):
    """cPanel refuses to rename an account to a name another account has; its Modify post
    hook, whose data are modifyacct's arguments without an outcome, would still name the
    stranger as `newuser`. The suspended account's queued revoke_all stays with it and
    takes its tokens; the stranger keeps every one of its own."""
    old, stranger = storm.holders[0], storm.holders[1]
    for user in (old, stranger):
        storm.server.write_users_file(storm.cpanel_root, user)
    theirs = storm.server.cpanel_token_names(stranger)
    with storm.sweep_lock():
        storm.run(suspend(old))
        out, err = storm.run(modify(old, stranger))  # the rename did not happen
        assert b"follow" not in out
        assert "%s was not renamed to %s" % (old, stranger) in err
    storm.wait_for_worker()
    assert storm.server.cpanel_token_names(stranger) == theirs
    assert storm.server.cpanel_token_names(old) == set()
    assert storm.queue_names() == []


def test_an_account_renamed_to_the_name_of_a_removed_one_keeps_its_tokens(env):
    """shop-gone was suspended while a sweep ran (its revoke_all waits in the queue) and
    removed (cPanel deleted its tokens); then another account was renamed to shop-gone.
    The queued event is the former account's: the renamed account keeps its tokens."""
    account = env.holders[0]
    env.server.write_users_file(env.cpanel_root, account)
    tokens = env.server.cpanel_token_names(account)
    with env.sweep_lock():
        hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "shop-gone", NOW)
        env.server.rename_account(account, "shop-gone")
        out, err = env.run(modify(account, "shop-gone"))
        assert out.endswith(b"; 1 queued event of a former shop-gone dropped\n"), err
    env.wait_for_worker()
    assert env.server.cpanel_token_names("shop-gone") == tokens
    assert env.queue_names() == []


def test_a_worker_round_between_the_token_move_and_the_modify_hook_loses_no_event(storm):
    """cPanel moves the tokens during the rename and runs the Modify post hook once the
    whole rename is done. A worker round in between found the old name without tokens and
    took the suspension's revoke_all out of the queue before the hook could move it: the
    renamed account kept every token."""
    account = storm.holders[0]
    storm.server.write_users_file(storm.cpanel_root, account)
    with storm.sweep_lock():
        storm.run(suspend(account))
        storm.server.rename_account(account, "moved")  # the Modify hook has not run yet
    storm.wait_for_worker()
    assert len(storm.queue_names()) == 1  # the event waits for the rename's hook
    out, _ = storm.run(modify(account, "moved"))
    assert out.endswith(b"; 1 queued event of %s follows it\n" % account.encode())
    storm.wait_for_worker()
    assert storm.server.cpanel_token_names("moved") == set()
    assert storm.queue_names() == []


def test_an_account_renamed_under_the_workers_revoke_keeps_its_event(env, monkeypatch):
    """The rename lands between the worker's listing and its revoke: the old name's tokens
    cannot be listed right before the revoke, or are no longer listed (revoked 0, failed or
    already gone). The event stays for the rename's hook,
    which moves it, and the renamed account loses its tokens."""
    from tokensweeper import sweep

    account = env.holders[0]
    env.server.write_users_file(env.cpanel_root, account)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    real_list = sweep.list_tokens

    def list_then_cpanel_renames(*args, **kwargs):
        listed = real_list(*args, **kwargs)
        env.server.rename_account(account, "moved")
        return listed

    monkeypatch.setattr(sweep, "list_tokens", list_then_cpanel_renames)
    messages = []
    run_worker(messages)
    assert "suspendacct %s: revoked 0 tokens" % account in " ".join(messages), messages
    assert len(env.queue_names()) == 1
    monkeypatch.setattr(sweep, "list_tokens", real_list)
    lock = hookqueue.worker_lock().acquire()  # the hook's worker is this test's
    try:
        out, _ = env.run(modify(account, "moved"))
    finally:
        lock.release()
    assert out.endswith(b"; 1 queued event of %s follows it\n" % account.encode())
    assert run_worker(messages) == 0
    assert env.server.cpanel_token_names("moved") == set()
    assert env.queue_names() == []


def test_an_event_of_a_removed_account_waits_an_hour_for_a_rename_then_goes(env):
    """Its account gone (no tokens, no users file, in a users directory cPanel keeps): the
    worker cannot tell a removal from a rename whose hook has not run yet. The event waits
    RENAME_GRACE from the event, then a worker drops it."""
    account = env.holders[0]
    env.server.write_users_file(env.cpanel_root, env.holders[1])  # cPanel's users directory
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    for name in env.server.cpanel_token_names(account):  # removed: cPanel deleted them
        env.server.remove_cpanel_token(account, name)
    os.unlink(os.path.join(env.cpanel_root, "var", "cpanel", "authn", "api_tokens_v2",
                           "cpanel", account + ".json"))
    messages = []
    assert run_worker(messages) == 0
    assert len(env.queue_names()) == 1
    assert ("suspendacct %s: the account is gone (renamed, or removed); the event waits in "
            "the queue for a rename to take it along, at most until " % account) in " ".join(
                messages)
    lock = hookqueue.worker_lock().acquire()
    later = NOW + hookqueue.RENAME_GRACE
    assert hookqueue.work(lock, lambda: later, settle_for=(0.0, 0.0), log=messages.append) == 0
    assert env.queue_names() == []


# -- a sweep and a revoke_all of one round share their whmapi1 calls (break-it #4) -------


def test_a_sweep_and_a_revoke_all_of_one_account_share_one_listing_and_revoke(env):
    """A password change (sweep) and a suspension (revoke_all) of the same account queued
    together: one listing, one revoke and one verification, as for one event (4 whmapi1
    processes, not 8), and each event still gets its own run."""
    env.config(CONFIG + "policy: {older_than_days: 10}\nevents: {suspend: revoke_all, "
               "password_change: sweep}\n")
    account = env.holders[2]  # 15 tokens, 1 to 15 days old
    count = len(env.server.cpanel_token_names(account))
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", account, NOW)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    messages = []
    assert run_worker(messages) == 0, messages
    assert env.server.cpanel_token_names(account) == set()
    batches = [c for c in env.server.calls() if c["function"] == "batch"]
    assert len(batches) == floor(count, 1) == 4
    outcomes = {r["actor"]: r for r in env.audit() if r["event"] == "outcome"}
    assert sorted(outcomes) == ["hook:Accounts::suspendacct", "hook:Passwd::ChangePasswd"]
    swept = outcomes["hook:Passwd::ChangePasswd"]["tokens"]
    assert {t["name"] for t in swept} == {"app-%02d" % n for n in range(10, count)}  # stale
    assert len(outcomes["hook:Accounts::suspendacct"]["tokens"]) == count
    assert env.queue_names() == []


def test_a_revoke_all_beside_a_quarantining_sweep_of_the_same_account_revokes_everything(env):
    """The shared listing is taken before the sweep plans: had the sweep quarantined a
    token (its IP list changed), the revoke_all would find it 'changed since it was
    planned' and leave it. A suspended account keeps no token."""
    env.config(CONFIG + "policy: {older_than_days: 10, quarantine_days: 7}\nevents: "
               "{suspend: revoke_all, password_change: sweep}\n")
    env.reseller("sub", [("old-ci", 200, -10), ("fresh", 1, None)])
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", "sub", NOW)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", "sub", NOW)
    messages = []
    assert run_worker(messages) == 0, messages
    assert env.server.token_names("sub") == set()
    assert env.queue_names() == []


# -- a full disk while the hook writes its queue entry (break-it #5) ---------------------


DISK_FULL = """
import os

_open, _state = os.open, os.environ["TOKENSWEEPER_STATE_DIR"] + os.sep


def full_open(path, flags, *args, **kwargs):
    # A new file in the state dir is created, and every write to it fails as on a full
    # disk: /dev/full answers ENOSPC.
    fd = _open(path, flags, *args, **kwargs)
    if str(path).startswith(_state) and flags & os.O_EXCL:
        full = _open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
    return fd


os.open = full_open
"""


def test_a_full_disk_names_the_queue_file_and_loses_no_queued_event(storm, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(DISK_FULL)
    first, second = storm.holders[:2]
    with storm.sweep_lock():
        storm.run(suspend(first))
        out, err = storm.run(suspend(second), PYTHONPATH=str(site))
        assert out == ("1 tokensweeper: suspendacct %s: revoke_all failed, state directory "
                       "unusable (details in cPanel's error_log)\n" % second).encode()
        queue = os.path.join(storm.state_dir, "hook-queue")
        assert re.search(r"revoke_all failed: the state directory cannot be used: %s/[0-9]+-"
                         r"[0-9]{6}-[0-9]+-[0-9a-f]{12}\.json: No space left on device"
                         % re.escape(queue), err), err
        assert "Traceback" not in err
        assert len(storm.queue_names()) == 1  # the first event, and no half-written file
    storm.wait_for_worker()
    assert storm.server.cpanel_token_names(first) == set()
    assert storm.queue_names() == []


# -- kill -9 of the worker at each stage loses nothing (break-it #6) --------------------


STAGES = {  # (whmapi1 batches that answer first, whether the one that hangs did its work);
    # revoking takes a batch per 100 tokens: the last of them hangs once its work is done
    "after claiming the events, listing": (lambda revokes: 0, "before"),
    "after listing, before revoking": (lambda revokes: 1, "before"),
    "after revoking, before the outcome is recorded": (lambda revokes: 1 + revokes, "after"),
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_worker_killed_at_any_stage_leaves_every_event_for_the_next_run(storm, tmp_path,
                                                                          stage):
    tokens = {a: storm.server.cpanel_token_names(a) for a in storm.holders}
    after, when = STAGES[stage]
    after = after(-(-sum(len(names) for names in tokens.values()) // 100))
    kill_the_worker_mid_revoke(storm, tmp_path, after, when)

    revoked = when == "after"
    assert storm.tokens_left() == ({} if revoked else tokens)
    assert len(storm.queue_names()) == WITH_TOKENS  # no event left the queue
    intents = [r for r in storm.audit() if r["event"] == "intent"]
    assert len(intents) == (0 if after == 0 else WITH_TOKENS)
    assert [r["event"] for r in storm.audit()] == ["intent"] * len(intents)
    if intents:  # a run cut off after its intent says so
        assert "INTERRUPTED" in storm.cli("audit")[1]

    status, out, err = storm.cli("queue", "--run")
    assert status == 0, out + err
    assert storm.tokens_left() == {} and storm.queue_names() == []
    outcomes = {r["selectors"]["owners"][0]: {t["name"] for t in r["tokens"]
                                              if t["action"] == "revoked"}
                for r in storm.audit() if r["event"] == "outcome"}
    if revoked:
        # The killed run revoked them all (its intent record names each token, and the
        # audit shows that run INTERRUPTED); their events found nothing left to do.
        assert outcomes == {}
        assert out.count("no tokens of the kinds the config acts on") == WITH_TOKENS, out
        assert "INTERRUPTED" in storm.cli("audit")[1]
    else:
        assert outcomes == tokens  # each event's own run revoked its account's tokens


# -- a bare start: no PATH, a deleted working directory, umask 0 (break-it #6) ----------


def start_bare(directory):
    def start():
        os.chdir(directory)
        os.rmdir(directory)  # cPanel's working directory removed under it
        os.umask(0)
    return start


def test_a_hook_started_bare_still_queues_and_handles_its_event(storm, tmp_path):
    account = storm.holders[0]
    # cPanel's whmapi1 is a binary at a fixed path: the fake must not need PATH either
    # (its `#!/usr/bin/env python3` does).
    whmapi1 = tmp_path / "whmapi1"
    whmapi1.write_text("#!%s\nimport runpy, sys\nsys.argv[0] = %r\nrunpy.run_path(%r, "
                       "run_name='__main__')\n" % (sys.executable, FAKE_PATH, FAKE_PATH))
    whmapi1.chmod(0o755)
    env = {k: v for k, v in storm.env().items() if k != "PATH"}
    env["TOKENSWEEPER_WHMAPI1"] = str(whmapi1)
    gone = tmp_path / "cwd"
    gone.mkdir()
    proc = subprocess.Popen([sys.executable, HOOK], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=start_bare(str(gone)))
    out, err = proc.communicate(suspend(account), timeout=120)
    assert out == queued("suspendacct %s" % account, "revoke_all"), err
    storm.wait_for_worker()
    assert storm.server.cpanel_token_names(account) == set()
    assert storm.queue_names() == []
    with open(storm.error_log) as handle:
        assert "suspendacct %s: revoked" % account in handle.read()
    # umask 0 widened nothing the hook and its worker created: all root's alone
    for where, _, names in os.walk(storm.state_dir):
        for path in [where] + [os.path.join(where, name) for name in names]:
            assert os.stat(path).st_mode & 0o077 == 0, path


# -- a queued event acts on the tokens its account had when it came (break-it 2 #1) -----


def test_a_token_created_after_the_event_is_not_revoked_by_its_queued_revoke_all(env):
    """A provisioning system resets an account's password and creates its new token at
    once (or an account is unsuspended and makes one) while the event waits for its
    worker: the queued revoke_all takes the tokens the account had when the event came,
    as the hook did at once before the queue, not the one made after it."""
    env.config(CONFIG + "events: {password_change: revoke_all}\n")
    account = env.holders[3]
    before = env.server.cpanel_token_names(account)
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "revoke_all", account,
                      NOW - 30)
    env.server.add_cpanel_token(account, "new-after-reset", NOW - 20)
    env.server.write_token_files(env.cpanel_root)
    messages = []
    assert run_worker(messages) == 0, messages
    assert env.server.cpanel_token_names(account) == {"new-after-reset"}
    (outcome,) = [r for r in env.audit() if r["event"] == "outcome"]
    assert {t["name"] for t in outcome["tokens"] if t["action"] == "revoked"} == before
    assert ("ChangePasswd %s: 1 token created after the event (2026-11-27T11:59:30Z) left "
            "alone" % account) in messages
    assert env.queue_names() == []


def test_a_token_dated_after_now_by_a_clock_set_back_is_still_revoked(env):
    """The clock went back after a token was made: its creation time is later than the
    event's and than now. It existed before the event; revoke_all takes it."""
    account = env.holders[3]
    env.server.add_cpanel_token(account, "made-before-the-clock-went-back", NOW + 3600)
    env.server.write_token_files(env.cpanel_root)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW - 30)
    messages = []
    assert run_worker(messages) == 0, messages
    assert env.server.cpanel_token_names(account) == set()


# -- many sweeps of one account in a round quarantine once (break-it 2 #2) -------------


def test_many_sweeps_of_one_account_in_a_round_quarantine_its_tokens_once(env):
    """A cPanel user changing a reseller's password again and again queues a sweep each
    time. With quarantine_days the first sweep quarantines; the others must not each list
    the account again and record a quarantine run that finds the token's IP list 'set by
    someone else' (it was set by this very round)."""
    env.config(CONFIG + "policy: {older_than_days: 10, quarantine_days: 7}\nevents: "
               "{password_change: sweep}\n")
    env.reseller("sub", [("old-ci", 200, -10), ("fresh", 1, None)])
    for _ in range(5):
        hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", "sub", NOW)
    messages = []
    assert run_worker(messages) == 0, messages
    # the shared listing, then the quarantine's listing, update and verifying listing
    assert [c["function"] for c in env.server.calls()] == [
        "api_token_list", "api_token_list", "batch", "api_token_list"]
    quarantines = [r for r in env.audit() if r.get("operation") == "quarantine"]
    assert [r["event"] for r in quarantines] == ["intent", "outcome"]
    assert [(t["name"], t["action"]) for t in quarantines[1]["tokens"]] == [
        ("old-ci", "quarantined")]
    assert "someone else" not in json.dumps(env.audit())
    outcomes = [r for r in env.audit() if r["event"] == "outcome" and "operation" not in r]
    assert len(outcomes) == 5  # one record per event
    assert env.server.token_names("sub") == {"old-ci", "fresh"}
    assert env.queue_names() == []


# -- what `queue --run` says is waiting are events, not refused files (break-it 2 #3) ---


def test_queue_run_counts_only_events_as_waiting_not_refused_files(env):
    """A directory or a FIFO with an event's name in the queue is refused (and reported);
    `queue --run` must not count it as an event still waiting when `tokensweeper queue`
    lists none."""
    account = env.holders[0]
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    queue = os.path.join(env.state_dir, "hook-queue")
    os.mkfifo(os.path.join(queue, "1-000000-1-aaaaaaaaaaaa.json"), 0o600)
    os.mkdir(os.path.join(queue, "1-000000-2-bbbbbbbbbbbb.json"), 0o700)
    status, out, err = env.cli("queue", "--run")
    assert status == 1  # the refused files need the admin
    assert "it is not a regular file" in out
    assert "suspendacct %s: revoked" % account in out
    assert "still waiting" not in out and out.endswith("No hook events are waiting.\n"), out
    status, out, err = env.cli("queue", "--run", "--json")
    assert json.loads(out)["remaining"] == 0
    assert env.cli("queue")[1] == "No hook events are waiting.\n"


# -- the audit's queued events beside the runs that tried them (break-it 2 #4) ----------


def test_the_audit_never_says_a_queued_event_has_no_run_when_its_listing_failed(env):
    """An event whose listing failed stays queued and has a run record saying why: the
    audit's list of queued events must not tell the admin that no run above is theirs."""
    account = env.holders[0]
    env.server.add_fault("exit", function="batch", times=1)
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    assert run_worker([]) == 1
    status, out, err = env.cli("audit")
    assert status == 0, err
    (run,) = [line for line in out.splitlines() if "hook:Accounts::suspendacct" in line]
    assert run.endswith("outcome  could not list the tokens of 1 holder"), out
    assert "no run above is theirs" not in out
    assert ("Queued by the hook, not handled yet (a run above may have tried one and left it "
            "queued: its tokens could not be listed, or the run was cut off; "
            "`tokensweeper queue --run` handles them now):") in out


# -- an event that came while the scheduled run swept is not left for a day (break-it 2 #5)


def test_an_event_queued_during_the_scheduled_sweep_is_handled_by_that_run(env, monkeypatch):
    """The scheduled run handles the queue, then sweeps under the sweep lock. A suspension
    during a long sweep queues its event; its worker waits for the lock and, past
    LOCK_PATIENCE, gives up, leaving the event for 'the scheduled run', which already
    read the queue: the tokens stayed until the next night. The run looks again at the
    queue once its sweep let go of the lock."""
    from tokensweeper import cli
    from tokensweeper.commands.actions import sweep as sweep_action

    account = env.holders[0]
    real_carry_out = sweep_action.carry_out

    def sweep_during_which_a_hook_comes(*args, **kwargs):
        # The worker that hook started gave up waiting: the event is queued, nobody runs.
        hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
        return real_carry_out(*args, **kwargs)

    monkeypatch.setattr(sweep_action, "carry_out", sweep_during_which_a_hook_comes)
    assert cli.main(["sweep", "--scheduled"]) == 0
    assert env.server.cpanel_token_names(account) == set()
    assert env.queue_names() == []


def test_the_scheduled_runs_json_stays_json_when_it_handles_queued_events(env):
    """`sweep --scheduled --json` handles the queue first: its lines went to stdout before
    the JSON document, which no longer parsed. They go to stderr."""
    account = env.holders[0]
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    status, out, err = env.cli("sweep", "--scheduled", "--json")
    assert status == 0, err
    assert json.loads(out)["actor"] == "cron"
    assert "suspendacct %s: revoked 1 token" % account in err
    assert env.server.cpanel_token_names(account) == set()


# -- queued events never follow a rename to a name the queue refuses (break-it 2 #7) ----


def test_queued_events_never_follow_a_rename_to_a_name_that_is_no_cpanel_user(env):
    """A Modify event whose new name is no cPanel user name (cPanel would have refused
    the rename): the old name's queued events moved to it were refused by the queue's
    reader, lost, and left a file for the admin to remove."""
    account = env.holders[0]
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", account, NOW)
    lock = hookqueue.worker_lock().acquire()  # no worker runs meanwhile
    try:
        out, err = env.run(modify(account, "Shop-New"))
    finally:
        lock.release()
    assert b"follow" not in out
    entries, problems = hookqueue.read_queue()
    assert problems == []
    assert [e.account for e in entries] == [account]
    assert run_worker([]) == 0
    assert env.server.cpanel_token_names(account) == set()


# -- events.<key> set to ignore stops the events still queued (break-it 2 #8) ----------


def test_events_set_to_ignore_stops_the_queued_events_of_that_kind(env):
    """A reseller's suspension storm is queued with `events.suspend: revoke_all` (a sweep
    holds the lock, say); the admin, seeing that this would revoke every account's tokens,
    sets `events.suspend: ignore`. The worker reads the config again when it handles the
    queue (mode, owners, kinds, policy): the events' own key is honoured too."""
    first, second = env.holders[:2]
    tokens = {a: env.server.cpanel_token_names(a) for a in (first, second)}
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", first, NOW)
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "revoke_all", second, NOW)
    env.config(CONFIG.replace("{suspend: revoke_all}", "{suspend: ignore, password_change: "
                                                       "revoke_all}"))
    messages = []
    assert run_worker(messages) == 0, messages
    assert env.server.cpanel_token_names(first) == tokens[first]
    assert env.server.cpanel_token_names(second) == set()
    assert "suspendacct %s: events.suspend is now ignore; nothing to do" % first in messages
    assert env.queue_names() == []


def test_a_token_made_between_two_sweeps_of_one_account_is_quarantined_not_revoked(env):
    """The first sweep's quarantine covers the tokens it planned; a later sweep of the
    same account that also has a token made between the two events must quarantine it
    too (quarantine_days), never revoke it outright."""
    env.config(CONFIG + "policy: {expired: true, quarantine_days: 7}\nevents: "
               "{password_change: sweep}\n")
    env.reseller("sub", [("old-exp", 200, -10)])
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", "sub", NOW - 60)
    env.server.add_token("sub", "short-lived", NOW - 30, expires_at=NOW - 5)
    env.server.write_token_files(env.cpanel_root)
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", "sub", NOW - 10)
    messages = []
    assert run_worker(messages) == 0, messages
    assert env.server.token_names("sub") == {"old-exp", "short-lived"}, messages
    quarantined = {t["name"] for r in env.audit() if r.get("operation") == "quarantine"
                   and r["event"] == "outcome" for t in r["tokens"]
                   if t["action"] == "quarantined"}
    assert quarantined == {"old-exp", "short-lived"}
    assert "someone else" not in json.dumps(env.audit())


def test_events_switched_from_revoke_all_to_sweep_soften_the_queued_events(env):
    """The admin's softer brake: a storm queued with `events.suspend: revoke_all` is
    applied as a sweep once the config says `sweep` (only the stale tokens go); a queued
    sweep is never hardened into a revoke_all by the opposite change."""
    first, second = env.holders[:2]
    tokens = {a: env.server.cpanel_token_names(a) for a in (first, second)}
    assert tokens[first] and tokens[second]
    hookqueue.enqueue("Accounts::suspendacct", "suspend", "revoke_all", first, NOW)
    hookqueue.enqueue("Passwd::ChangePasswd", "password_change", "sweep", second, NOW)
    env.config(CONFIG.replace("{suspend: revoke_all}", "{suspend: sweep, password_change: "
                                                       "revoke_all}"))
    messages = []
    assert run_worker(messages) == 0, messages
    assert "suspendacct %s: events.suspend is now sweep; applied as a sweep, not " \
           "revoke_all" % first in messages
    assert env.server.cpanel_token_names(first), messages  # not every token went
    assert env.server.cpanel_token_names(second), messages  # the sweep stayed a sweep
    assert env.queue_names() == []
