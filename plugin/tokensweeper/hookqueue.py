"""The hook's queue: account events handled together, by one worker, after the storm.

Suspending or terminating a reseller makes cPanel run the account hooks once per owned
account, one after another, while the admin waits. Handling each event on its own costs
four whmapi1 processes per token-holding account (list, list again, revoke, verify). So
the hook (hook.py) records a `sweep` or `revoke_all` event here and returns at once; one
worker, started by the hook when none runs, waits for the storm to settle (no new event
for `QUIET_SECONDS`, never longer than `SETTLE_BOUND` seconds), then handles every queued
event at once under the sweep lock, exactly as a sweep does: one listing per WHM owner,
one `batch` listing per 100 cPanel accounts, one revoke and one verifying listing per
owner and kind (sweep.execute_many). Each event still gets its own run and records, as
when the hook handled it alone. (`snapshot`, and every action of the Remove pre hook, are
not queued: cPanel deletes the token files right after that hook returns,
docs/cpanel-notes.md; `handle_at_once` does them in the hook.)

The queue is a directory in the state dir, one file per event, created whole (statefiles:
O_EXCL, then linked into place) and removed only once its event's outcome is recorded:
a worker killed at any point leaves the rest for the next event's worker, the scheduled
run, or `tokensweeper queue --run`. Files that are not ours alone are refused (reported,
never read or followed). Entries hold the account, the event and the action, never the
payload (a password change's payload holds the password).

The worker is detached from cPanel's process (new session, stdin/stdout/stderr not
cPanel's: cPanel reads the hook's output to its end and waits), its stderr appended to
cPanel's error_log. One worker at a time: `hook-worker.lock`, held from the hook's fork
on, so a hook that finds it held knows a worker will still see its event.

This module's top imports stay cheap: the hook imports it past its fast path only, but
`tokensweeper audit` reads the queue too.
"""

import binascii
import json
import os
import re
import time

from . import paths, statefiles, tokenfiles
from .resellers import is_reseller

SWEEP, REVOKE_ALL = "sweep", "revoke_all"
QUEUED_ACTIONS = (SWEEP, REVOKE_ALL)
# A storm has settled when no event came for this long (a real suspendacct takes about a
# second per account)...
QUIET_SECONDS = 2.0
# ...and a round starts at the latest this long after the worker first looked.
SETTLE_BOUND = 10.0
POLL_SECONDS = 0.1
# A running sweep (cron's, a person's) holds the sweep lock: the worker waits this long.
LOCK_PATIENCE = 3600
# An event whose account vanished (renamed, its Modify post hook not run yet; or removed)
# waits this long for that hook to take it along before it is dropped.
RENAME_GRACE = 3600
MAX_ENTRY_BYTES = 4096
ENTRY_RE = re.compile(r"\A[0-9]+-[0-9]{6}-[0-9]+-[0-9a-f]{12}\.json\Z")
LOG_PREFIX = "tokensweeper-hook: "
# The hook's whmapi1 calls and mails are bounded like an interactive hook's were.
WHMAPI_TIMEOUT = 20
MAIL_TIMEOUT = WHMAPI_TIMEOUT


def stderr_log(message):
    """A line for cPanel's error_log; a closed, broken or missing stderr (None when the
    process started without descriptor 2) never stops the work."""
    import sys

    try:
        sys.stderr.write(LOG_PREFIX + message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


# -- who can own tokens (also the hook's fast path) -------------------------------------


def may_own_whm_tokens(user):
    """root, a reseller, or anyone whose WHM token file holds tokens (a former reseller
    keeps its tokens; cPanel keeps an emptied file as `{"tokens":{}}`)."""
    if user == "root" or is_reseller(user):
        return True
    return tokenfiles.may_hold_tokens(user)


def may_own_cpanel_tokens(user):
    return user != "root" and tokenfiles.may_hold_tokens(user, paths.cpanel_token_dir())


MAY_OWN = {"whm": may_own_whm_tokens, "cpanel": may_own_cpanel_tokens}


def kinds_for(cfg, account):
    """The kinds the config acts on of which `account` can hold tokens: no blind call."""
    return [kind for kind in cfg.kinds if MAY_OWN[kind](account)]


def nothing_to_do(cfg, account, action):
    """Why a sweep or revoke_all of `account` has nothing to do under `cfg`, or None.
    The hook asks before queueing, the worker again before listing (the config may have
    changed meanwhile)."""
    if cfg.owners != "all" and account not in cfg.owners:
        return "not in the config's owners; nothing to do"
    if not kinds_for(cfg, account):
        return "no tokens of the kinds the config acts on (%s); nothing to do" % ", ".join(
            cfg.kinds)
    if action == SWEEP and not cfg.selectors().selects_anything():
        # Names and owners alone select nothing (policy.py): save the whmapi1 calls.
        return "the policy selects nothing; nothing to do"
    return None


# -- the queue ------------------------------------------------------------------------


class Entry(object):
    """One queued account event."""

    def __init__(self, name, account, event, key, action, epoch):
        self.name = name  # the file's name in the queue directory
        self.account = account
        self.event = event  # cPanel's event name: Accounts::suspendacct
        self.key = key  # the config's events.<key>
        self.action = action
        self.epoch = epoch  # when the hook ran (TOKENSWEEPER_NOW or the clock)

    @property
    def label(self):
        return "%s %s" % (self.event.split("::")[-1], self.account)

    @property
    def actor(self):
        return "hook:%s" % self.event

    def to_dict(self):
        return {"queued": self.name, "account": self.account, "event": self.event,
                "key": self.key, "action": self.action, "time": _iso(self.epoch),
                "epoch": self.epoch}


def enqueue(event, key, action, account, now):
    """Record one event (a new file, never an existing one). Returns its Entry. Raises
    statefiles.UntrustedState or OSError when the state dir cannot take it."""
    statefiles.ensure_dir()
    directory = statefiles.ensure_dir(paths.hook_queue_dir())
    stamp = time.time()  # the file name's order is the order events came in
    name = "%d-%06d-%d-%s.json" % (int(stamp), int(stamp % 1 * 1e6), os.getpid(),
                                   binascii.hexlify(os.urandom(6)).decode("ascii"))
    body = {"account": account, "event": event, "key": key, "action": action, "epoch": now}
    statefiles.create_once(os.path.join(directory, name),
                           json.dumps(body, sort_keys=True).encode("utf-8"))
    return Entry(name, account, event, key, action, now)


def read_queue():
    """(entries in the order they came, problems): every queued event, and a sentence for
    each file in the queue that is not one (not ours alone, damaged, foreign): those are
    left where they are for the admin, never read past the trust check, never followed."""
    from .owners import valid_owner

    directory = paths.hook_queue_dir()
    entries, problems = [], []
    for name in statefiles.list_names(directory):
        if name.startswith("."):
            continue  # a file still being written (statefiles' temporary names)
        path = os.path.join(directory, name)
        if not ENTRY_RE.match(name):
            problems.append("ignored %s in the hook queue: not a queued event (remove it)"
                            % path)
            continue
        try:
            raw = statefiles.read_bytes(path, MAX_ENTRY_BYTES + 1)
        except statefiles.UntrustedState as error:
            problems.append(str(error))
            continue
        except FileNotFoundError:
            continue  # handled and removed by a worker meanwhile
        try:
            body = json.loads(raw.decode("utf-8"))
            entry = Entry(name, body["account"], body["event"], body["key"], body["action"],
                          body["epoch"])
        except (ValueError, KeyError, TypeError, AttributeError):
            entry = None
        if (entry is None or len(raw) > MAX_ENTRY_BYTES or not isinstance(entry.account, str)
                or not valid_owner(entry.account) or entry.action not in QUEUED_ACTIONS
                or not isinstance(entry.event, str) or not isinstance(entry.key, str)
                or not _showable(entry.epoch)):
            problems.append("ignored %s in the hook queue: not a queued event this version "
                            "wrote (remove it)" % path)
            continue
        entries.append(entry)
    return entries, problems


def follow_rename(old, new):
    """The queued events of `old`, an account renamed to `new`, now apply to `new`: cPanel
    moves the tokens with the account, so under the old name they would find nothing and
    leave the queue with the tokens untouched. Each is queued afresh for `new` before its
    old entry goes (a crash in between handles it twice, never not at all; a worker that
    already read the old entry sees the new one as a new event). Returns (how many moved,
    how many dropped). A `new` that is no cPanel user name takes none: the queue's reader
    would refuse them.

    Events already queued for `new` are a former account's: cPanel renames only to a name
    no account has, so that one was gone (removed, its tokens deleted) when `old` took the
    name. Applied now they would revoke the tokens `old` brought along: they are dropped."""
    from .owners import valid_owner

    if not valid_owner(new):
        return 0, 0
    moved = dropped = 0
    for entry in read_queue()[0]:
        if entry.account == new:
            done(entry)
            dropped += 1
        elif entry.account == old:
            enqueue(entry.event, entry.key, entry.action, new, entry.epoch)
            done(entry)
            moved += 1
    return moved, dropped


def _showable(epoch):
    """Whether a queued event's time is one the hook could have written: whole seconds from
    1970 to year 9999 (audit.MAX_EPOCH). Anything else (a hand-made or hostile file) would
    crash every reader that shows it (time.gmtime): the entry counts as damaged."""
    from .audit import MAX_EPOCH

    return type(epoch) is int and 0 <= epoch <= MAX_EPOCH


def pending():
    """The names of the queued events (cheap: no file is read)."""
    return [name for name in statefiles.list_names(paths.hook_queue_dir())
            if ENTRY_RE.match(name)]


def done(entry):
    """Take a handled event out of the queue. An entry that cannot be removed raises
    OSError (the worker stops and says why) rather than being handled again and again."""
    if entry.name:  # an event handled at once (handle_at_once) was never queued
        directory = paths.hook_queue_dir()
        statefiles.check_dir(directory)
        try:
            os.unlink(os.path.join(directory, entry.name))  # never follows a link
        except FileNotFoundError:
            pass  # `queue --run` or a killed worker's successor took it already


def handle_at_once(event, key, action, account, now, log=stderr_log):
    """Handle one event in this process, now, under the sweep lock (raises LockBusy when a
    sweep holds it): the Remove pre hook's, since cPanel deletes the account's token files
    right after that hook returns. Returns the event's one-line summary."""
    from . import config
    from .lock import SweepLock

    entry = Entry(None, account, event, key, action, now)
    said = []

    def keep(message):
        log(message)
        said.append(message)

    with SweepLock(paths.lock_file()) as lock:
        handle([entry], config.load(), lock, now, keep)
    prefix = entry.label + ": "
    answers = [line[len(prefix):] for line in said if line.startswith(prefix)]
    return answers[-1] if answers else "nothing to do"


# -- the worker -------------------------------------------------------------------------


def worker_lock():
    from .lock import SweepLock

    return SweepLock(paths.hook_worker_lock())


def start_worker(now_fn):
    """Start the detached worker unless one runs. Returns True when this call started it,
    False when a worker holds the lock (it sees every event queued before it lets go).

    The hook takes the worker lock and forks: the worker inherits the lock (flock belongs
    to the open file, shared across fork), the hook closes its copy and answers cPanel.
    The worker leaves cPanel's session and process group, and keeps none of cPanel's
    pipes: cPanel reads the hook's stdout and stderr to their end before the account
    action goes on."""
    from .lock import LockBusy

    lock = worker_lock()
    try:
        lock.acquire()
    except LockBusy:
        return False
    pid = os.fork()
    if pid:
        os.close(lock.fd)  # the worker's copy keeps the lock
        lock.fd = None
        os.waitpid(pid, 0)
        return True
    status = 1
    try:
        os.setsid()
        worker = os.fork()
        if worker:
            # The lock names the worker before the hook answers (LockBusy says who holds it).
            os.ftruncate(lock.fd, 0)
            os.pwrite(lock.fd, str(worker).encode(), 0)
            os._exit(0)  # the worker is nobody's child: init reaps it
        os.chdir("/")
        _detach_stdio(keep=lock.fd)
        status = work(lock, now_fn)
    except BaseException:
        import traceback

        stderr_log("the hook's worker stopped:\n" + traceback.format_exc())
    finally:
        os._exit(status)


def _detach_stdio(keep):
    """stdin and stdout /dev/null, stderr appended to cPanel's error_log when it is a
    regular file (never created, never through a link), every other descriptor closed."""
    devnull = os.open(os.devnull, os.O_RDWR)
    error_log = devnull
    try:
        fd = os.open(paths.cpanel_error_log(), os.O_WRONLY | os.O_APPEND | os.O_NOCTTY
                     | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        import stat

        if stat.S_ISREG(os.fstat(fd).st_mode):
            error_log = fd
        else:
            os.close(fd)
    except OSError:
        pass
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(error_log, 2)
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = range(3, 1024)
    for fd in open_fds:
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass


def settle_times():
    """(quiet period, bound) in seconds; TOKENSWEEPER_HOOK_SETTLE=0 (tests) waits not at all."""
    try:
        quiet = float(paths.hook_settle(QUIET_SECONDS))
    except ValueError:
        quiet = QUIET_SECONDS
    quiet = max(0.0, min(quiet, SETTLE_BOUND))
    return quiet, (SETTLE_BOUND if quiet else 0.0)


def settle(quiet, bound, sleep=time.sleep, monotonic=time.monotonic):
    """Wait until no event came for `quiet` seconds, or `bound` seconds in all."""
    start = last_change = monotonic()
    seen = pending()
    while True:
        now = monotonic()
        if now - last_change >= quiet or now - start >= bound:
            return
        sleep(POLL_SECONDS)
        current = pending()
        if current != seen:
            seen, last_change = current, monotonic()


def work(lock, now_fn, settle_for=None, log=stderr_log, sleep=time.sleep,
         monotonic=time.monotonic, patience=LOCK_PATIENCE):
    """Handle the queue until it is empty, holding the worker lock `lock` (released on
    return). Returns 0, or 1 when something failed (the details went to `log`)."""
    from .lock import LockBusy

    quiet, bound = settle_times() if settle_for is None else settle_for
    status = 0
    try:
        while True:
            try:
                settle(quiet, bound, sleep, monotonic)
                # What this round sees; an event it leaves queued (its tokens could not be
                # listed) waits for a later worker, it is not retried here in a loop.
                seen = set(pending())
                status = handle_round(now_fn, log, sleep, monotonic, patience) or status
                lock.release()
                # An event queued after the round read the queue (even a round that found
                # nothing), whose hook found the lock still held and trusted this worker,
                # is seen here: take the lock again, or the worker that did has it.
                if not set(pending()) - seen:
                    return status
            except (statefiles.UntrustedState, OSError) as error:
                # The queue directory itself cannot be trusted or read: nothing is handled.
                log("the hook's queue cannot be used: %s" % error)
                return 1
            try:
                lock.acquire()
            except LockBusy:
                return status
    finally:
        lock.release()


def take_sweep_lock(sleep, monotonic, patience, log):
    """The sweep lock, waiting for a running sweep up to `patience` seconds; None then."""
    from .lock import LockBusy, SweepLock

    start, said = monotonic(), False
    while True:
        try:
            return SweepLock(paths.lock_file()).acquire()
        except LockBusy as error:
            if monotonic() - start >= patience:
                log("gave up waiting for the sweep lock after %d s (%s); the queued events "
                    "wait for the next event, the scheduled run or `tokensweeper queue --run`"
                    % (patience, error))
                return None
            if not said:
                log("waiting: %s" % error)
                said = True
            sleep(POLL_SECONDS * 2)


def handle_round(now_fn, log, sleep=time.sleep, monotonic=time.monotonic,
                 patience=LOCK_PATIENCE):
    """Handle every queued event under the sweep lock. Returns 1 if anything failed, else 0."""
    from . import config

    try:
        lock = take_sweep_lock(sleep, monotonic, patience, log)
    except (OSError, statefiles.UntrustedState) as error:
        why = "the sweep lock cannot be taken: %s" % _failure(error)
        log(why)
        now = now_fn()
        for entry in read_queue()[0]:
            note(entry, now, None, "hook-error", "%s failed, the event waits in the queue: %s"
                 % (entry.action, why), log)
        return 1
    if lock is None:
        return 1
    try:
        entries, problems = read_queue()
        for problem in problems:
            log(problem)
        if not entries:
            return 1 if problems else 0
        log("handling %s together" % plural(len(entries), "queued event"))
        now = now_fn()
        try:
            cfg = config.load()
        except config.ConfigError as error:
            log(str(error))
            for entry in entries:
                note(entry, now, None, "hook-error", "config error, %s waits in the queue: %s"
                     % (entry.action, error))
            return 1
        failed = handle(entries, cfg, lock, now, log)
        # A refused file in the queue needs the admin, whatever became of the events.
        return 1 if problems else failed
    finally:
        lock.release()


def handle(entries, cfg, lock, now, log):
    """Plan each event, carry them all out together, record each. Returns 1 if anything
    failed."""
    todo = []
    for entry in entries:
        _soften(cfg, entry, log)
        unwanted = _no_longer_wanted(cfg, entry)
        why = unwanted or nothing_to_do(cfg, entry.account, entry.action)
        if why:
            log("%s: %s" % (entry.label, why))
            if unwanted or not _parked(entry, cfg, now, log):
                done(entry)
        else:
            todo.append(entry)
    if not todo:
        return 0
    try:
        handled = _handle_together(todo, cfg, _client(), lock, now, log)
    except Exception as error:  # whmapi1, a token list, the audit log, the state dir
        why = _failure(error)
        if why is None:
            raise
        for entry in todo:
            log("%s: %s failed: %s" % (entry.label, entry.action, why))
            note(entry, now, cfg.mode, "hook-error", "%s failed%s: %s" % (
                entry.action, ", the event waits in the queue" if entry.name else "", why))
        return 1
    failed = 0
    for entry, result in handled:
        failed = failed or (result is not None and not result.ok)
        # Tokens no longer listed, or not listable, right before the revoke: gone with
        # their account, perhaps (a rename under the revoke).
        moved_away = result is not None and any(
            o.action in ("already-gone", "failed") for o in result.outcomes)
        if not waits(entry, result) and not (moved_away and _parked(entry, cfg, now, log)):
            done(entry)
    return failed


def _parked(entry, cfg, now, log):
    """Whether a queued event stays in the queue because its account vanished under it:
    cPanel moves the tokens during a rename and runs the Modify post hook (which moves
    the event to the new name, hook.follow_rename) only once the rename is done. An
    account that holds no tokens of the config's kinds any more and whose users file is
    gone from cPanel's users directory was renamed or removed: its event waits up to
    RENAME_GRACE seconds from the event for that hook, then it is dropped."""
    from .cpusers import has_users_file, users_file

    if (not entry.name or not 0 <= now - entry.epoch < RENAME_GRACE
            or kinds_for(cfg, entry.account) or has_users_file(entry.account) is not False
            or not os.path.isdir(os.path.dirname(users_file(entry.account)))):
        return False
    log("%s: the account is gone (renamed, or removed); the event waits in the queue for a "
        "rename to take it along, at most until %s" % (
            entry.label, _iso(entry.epoch + RENAME_GRACE)))
    return True


def _no_longer_wanted(cfg, entry):
    """Why a queued event is not applied any more because its `events.<key>` is now
    `ignore` or `snapshot` (the admin's brake on a storm still waiting), or None."""
    now_says = cfg.events.get(entry.key) if entry.name else None
    if now_says in ("ignore", "snapshot"):
        return "events.%s is now %s; nothing to do" % (entry.key, now_says)
    return None


def _soften(cfg, entry, log):
    """A queued `revoke_all` whose `events.<key>` is now `sweep` is applied as a sweep: a
    queued event does at most what the config says now (the admin's softer brake), and
    never more than it said when the event came (a `sweep` is never hardened)."""
    if entry.name and entry.action == "revoke_all" and cfg.events.get(entry.key) == "sweep":
        entry.action = "sweep"
        log("%s: events.%s is now sweep; applied as a sweep, not revoke_all"
            % (entry.label, entry.key))


def waits(entry, result):
    """Whether a queued event stays in the queue after its run: some of its tokens could
    not be listed (a whmapi1 failure), so its action was not applied to them. The run's
    record says so; the next event's worker, the scheduled run or `queue --run` retries."""
    return bool(entry.name and result is not None and result.owner_errors)


def _failure(error):
    from .audit import AuditError
    from .statefiles import UntrustedState
    from .tokens import TokenDataError
    from .whmapi import WhmapiError

    if isinstance(error, (AuditError, UntrustedState, TokenDataError, WhmapiError)):
        return str(error)
    if isinstance(error, OSError):
        where = getattr(error, "filename", None)
        return "the state directory cannot be used: %s" % (
            "%s: %s" % (where, error.strerror) if where and error.strerror else error)
    return None


def _handle_together(entries, cfg, client, lock, now, log):
    """One listing for every account of the round, one plan per event, one execute_many,
    whatever the events' actions: an account's `sweep` and `revoke_all` share the listing,
    the revoke and the verification. Returns [(entry, Result or None)] of the events whose
    outcome is settled."""
    from .policy import REVOKE, make_plan
    from .sweep import PREVIEW, Part, execute_many, list_tokens

    accounts = sorted({entry.account for entry in entries})
    found = {kind: [a for a in accounts if kind in kinds_for(cfg, a)] for kind in cfg.kinds}
    kinds = [kind for kind in cfg.kinds if found[kind]]
    protection, cap = cfg.protection(), cfg.max_revoke_per_run
    usage = {action: usage_for(_selectors(action, accounts[0], cfg)) for action in
             QUEUED_ACTIONS if any(entry.action == action for entry in entries)}
    # Every token of these accounts goes: a sweep's quarantine would only change the
    # tokens under the revoke (then refused as "changed since it was planned").
    revoking_all = {entry.account for entry in entries if entry.action == REVOKE_ALL}
    diverted = {}  # account -> what its first sweep's quarantine made of each token
    listed = list_tokens(client, kinds, parallel=cfg.parallel_owners, found=found)
    for problem in protection.problems:
        log(problem)
    tokens_of = {}
    for token in listed.tokens:
        tokens_of.setdefault(token.owner, []).append(token)
    handled, parts, planned = [], [], []
    for entry in _in_action_order(entries):
        account, action = entry.account, entry.action
        problems = [p for p in listed.problems if _names(p, account)]
        for problem in problems:
            log("%s: %s" % (entry.label, problem))
        tokens = tokens_of.get(account, [])
        errors = {holder: why for holder, why in listed.errors.items()
                  if holder.split("@")[0] == account}
        if problems and not tokens and not errors:
            log("%s: its tokens cannot be listed (not a reseller), nothing revoked" % entry.label)
            handled.append((entry, None))
            continue
        tokens = _as_of_event(tokens, entry, now, log)
        own_protection, own_cap = protection, cap
        if action == REVOKE_ALL and account != "root":
            # revoke_all says this account must lose its tokens: bounded by its own tokens,
            # not by max_revoke_per_run, and a system-looking name does not shield them (only
            # the admin's protect.names do; cPanel never sends root's suspension or removal).
            own_protection, own_cap = protection.for_account_event(), None
        plan = make_plan(tokens, usage[action], _selectors(action, account, cfg),
                         own_protection, now)
        plan.owner_errors = errors
        plan.problems = problems + plan.problems
        notices = None
        if action == SWEEP:
            notices = give_notice(plan, cfg, client, now, entry.actor, log)
            if account not in revoking_all:
                first = diverted.setdefault(account, {})
                _divert_like(plan, first)
                # A token no earlier sweep of the account planned (made between two
                # events) gets a quarantine run of its own.
                if any(item.decision == REVOKE and item.token.key() not in first
                       for item in plan.items):
                    _quarantine(plan, cfg, client, lock, now, entry, log)
                    for item in plan.items:
                        first.setdefault(item.token.key(), (item.decision, item.reason))
        parts.append(Part(plan, entry.actor, own_cap))
        planned.append((entry, notices))
    if parts:
        results = execute_many(parts, client, lock, cfg.mode, now, cfg.parallel_owners)
        for (entry, notices), result in zip(planned, results):
            log_result(result, log)
            said = summary(result, cfg.mode == PREVIEW)
            if waits(entry, result):
                said += "; the event waits in the queue"
            log("%s: %s" % (entry.label, "%s; %s" % (said, notices) if notices else said))
            handled.append((entry, result))
    return handled


def _as_of_event(tokens, entry, now, log):
    """The tokens the account had when its event came: one made while the event waited (a
    password reset followed by a new token, an account unsuspended) is not the event's,
    as when the hook handled it at once. A creation time later than now means the clock
    went back since: that token counts as older than the event."""
    younger = [t for t in tokens if entry.epoch < t.create_time <= now]
    if not younger:
        return tokens
    log("%s: %s created after the event (%s) left alone" % (
        entry.label, plural(len(younger), "token"), _iso(entry.epoch)))
    return [t for t in tokens if not entry.epoch < t.create_time <= now]


def _selectors(action, account, cfg):
    """What an event of `action` about `account` selects: every token, or the policy's."""
    from .policy import Selectors

    if action == REVOKE_ALL:
        return Selectors(every_token=True, owners=(account,))
    return cfg.selectors().narrowed(owners=(account,))


def _in_action_order(entries):
    """sweep events first, then revoke_all, each in the order they came (as when each
    action was a round of its own)."""
    return sorted(entries, key=lambda entry: QUEUED_ACTIONS.index(entry.action))


def _quarantine(plan, cfg, client, lock, now, entry, log):
    """The hook's sweep quarantines first too (policy.quarantine_days; quarantine.py)."""
    from . import quarantine

    report = quarantine.apply(plan, cfg, client, lock, now, entry.actor, cfg.mode)
    if report is not None and report.outcomes:
        log("%s: quarantine run %s: %s" % (entry.label, report.run_id, ", ".join(
            "%s %s" % (o.token.name, o.action) for o in report.outcomes)))


def _divert_like(plan, first):
    """Another sweep of an account the round has quarantined for: its tokens are diverted
    as the first sweep's were, without a quarantine run of its own (that run would list the
    account again and find the IP list it just set 'set by someone else')."""
    from .policy import REVOKE
    from .quarantine import IN_QUARANTINE, QUARANTINE

    for item in plan.items:
        if item.decision == REVOKE and item.token.key() in first:
            decision, reason = first[item.token.key()]
            if decision in (REVOKE, QUARANTINE, IN_QUARANTINE):
                item.decision, item.reason = decision, reason


def _names(sentence, account):
    """Whether a listing's note is about `account` (notes name the account they concern)."""
    return re.search(r"(?<![\w.-])%s(?![\w-])" % re.escape(account), sentence) is not None


def _client():
    from .whmapi import Client

    return Client(timeout=WHMAPI_TIMEOUT)


def usage_for(selectors):
    """The evidence cron and the page would judge by (sweep.evidence_for)."""
    from .sweep import evidence_for
    return evidence_for(selectors)


def give_notice(plan, cfg, client, now, actor, log):
    """The hook's sweep is unattended: notices first (notify.py), like cron's. Returns
    what to add to the event's summary, or None."""
    from . import notify

    if not notify.enabled(cfg):
        return None
    report = notify.apply(plan, cfg, client, now, actor, cfg.mode, mail_timeout=MAIL_TIMEOUT)
    for line in report.problems + report.errors:
        log(line)
    held = plan.counts().get("notice", 0)
    if not (report.noticed or report.reminded or held or report.errors):
        return None
    parts = []
    if report.noticed:
        parts.append("notice sent for %s" % plural(len(report.noticed), "token"))
    if held:
        parts.append("%s waiting for the notice period" % plural(held, "token"))
    if report.reminded:
        parts.append("%s reminded of expiry" % plural(len(report.reminded), "token"))
    if report.errors:
        parts.append("NOTICE MAIL FAILED (details in cPanel's error_log)")
    return ", ".join(parts)


def summary(result, preview):
    """One event's outcome in a line."""
    counts = result.counts()
    run = "(run %s)" % result.run_id
    if result.owner_errors:
        return "could not list its tokens, nothing revoked %s" % run
    if result.refused and preview:
        return "preview mode, over the cap (max_revoke_per_run), would revoke nothing %s" % run
    if result.refused:
        return "refused: over the cap (max_revoke_per_run), nothing revoked %s" % run
    if preview:
        return "preview mode, would revoke %s %s" % (plural(counts["would-revoke"], "token"),
                                                     run)
    parts = ["revoked %s" % plural(counts["revoked"], "token")]
    if counts["failed"]:
        parts.append("%d FAILED" % counts["failed"])
    if counts["unverified"]:
        from .sources import source_for

        token = next(o.token for o in result.outcomes if o.action == "unverified")
        parts.append("%d UNVERIFIED (check with %s)" % (
            counts["unverified"], source_for(token.kind).check_hint(token.owner)))
    if counts["kept-protected"]:
        parts.append("%d kept as protected" % counts["kept-protected"])
    if result.audit_error:
        parts.append("AUDIT LOG NOT WRITTEN")
    return "%s %s" % (", ".join(parts), run)


def log_result(result, log):
    for outcome in result.outcomes:
        log("run %s: %s/%s %s: %s" % (result.run_id, outcome.token.holder, outcome.token.name,
                                      outcome.action, outcome.reason))
    for owner, message in sorted(result.owner_errors.items()):
        log("run %s: could not list the tokens of %s: %s" % (result.run_id, owner, message))
    for problem in (result.refused, result.audit_error):
        if problem:
            log("run %s: %s" % (result.run_id, problem))


def note(entry, now, mode, kind, message, log=stderr_log):
    """An audit record for an event that could not be handled (best effort)."""
    from . import audit

    try:
        audit.write({
            "event": kind, "time": audit.iso(now), "epoch": now, "run_id": audit.new_run_id(now),
            "actor": entry.actor, "mode": mode or "unknown",
            "selectors": {"owners": [entry.account]}, "tokens": [], "owner_errors": {},
            "refused": None, "note": message,
        })
    except audit.AuditError as error:
        log(str(error))


def plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
