"""The account-event hook: a cPanel standardized hook script (cpanel-facts.md §3).

`tokensweeper-hook --describe` prints the descriptors manage_hooks registers.
Otherwise cPanel writes one JSON event to stdin and reads the result from
stdout, where the first word decides: `0` would abort the admin's action in a
blocking pre stage. So stdout carries exactly one line, always `1 <message>`,
whatever happens (bad input, bad config, whmapi1 failures, a busy lock, a bug);
the details go to stderr (cPanel's error_log) and the audit log. An event it does not
handle where words could act (a pre stage, a UAPI event, a blocking registration, an
oversized event) gets a bare `1`. The other exception is the creation guard's event
(UAPI::Tokens::create_full_access pre, guard.py), which guard.verdict answers itself:
`1`, or `0 MESSAGE` to stop the creation.

A reseller suspension fires one event per owned account and almost none of
them can own WHM tokens, so that answer comes first: no whmapi1 call, no
config parser. The rest are queued (hookqueue.py: one detached worker handles
a storm's events together) unless they must be done before cPanel goes on:
`snapshot`, and anything on Accounts::Remove (cPanel deletes the token files
right after that pre hook). This module therefore imports only the standard library's
cheapest parts at the top and the engine lazily, after the fast path.

Hook payloads can hold plaintext passwords (Passwd::ChangePasswd): the
payload is never logged or stored; only the account name is taken from it.
"""

import json
import os
import sys

from . import guard, hookqueue
from .hookqueue import may_own_cpanel_tokens, may_own_whm_tokens
from .resellers import is_reseller

INSTALLED_PATH = "/usr/local/cpanel/3rdparty/bin/tokensweeper-hook"
WEIGHT = 100
# The account action waits for the hook. A real whmapi1 call takes well under a
# second; one that hangs is killed after this many seconds, not the default 60.
WHMAPI_TIMEOUT = hookqueue.WHMAPI_TIMEOUT
MAX_MESSAGE = 200
# cPanel's events are a few kilobytes; anything this big is not one (and is not read whole).
MAX_EVENT_BYTES = 10 * 1024 * 1024


class Event(object):
    """One cPanel event this hook registers for, and where its payload names the account."""

    def __init__(self, category, event, stage, key, description):
        self.category = category
        self.event = event
        self.stage = stage
        self.key = key  # the config's events.<key>
        self.description = description

    @property
    def label(self):
        """Short name for result lines: suspendacct, Remove, Modify, ChangePasswd."""
        return self.event.split("::")[-1]

    @property
    def actor(self):
        return "hook:%s" % self.event

    def descriptor(self, hook_path):
        # manage_hooks wants integers for flags; `blocking` is left out on purpose:
        # this hook must never be able to stop an account action.
        return {"category": self.category, "event": self.event, "stage": self.stage,
                "hook": hook_path, "exectype": "script", "weight": WEIGHT,
                "description": self.description}


EVENTS = (
    Event("Whostmgr", "Accounts::suspendacct", "post", "suspend",
          "Token Sweeper: apply events.suspend to the suspended account's WHM API tokens"),
    Event("Whostmgr", "Accounts::Remove", "pre", "remove",
          "Token Sweeper: apply events.remove (snapshot to the audit log) before cPanel "
          "deletes the account's WHM API tokens"),
    Event("Whostmgr", "Accounts::Modify", "post", "rename",
          "Token Sweeper: apply events.rename to a renamed account's WHM API tokens"),
    Event("Passwd", "ChangePasswd", "post", "password_change",
          "Token Sweeper: apply events.password_change to the account's WHM API tokens"),
)


class Answer(Exception):
    """Stop here and report this message (still a success line)."""


class NotOurs(Answer):
    """An event this hook does not handle, in a stage or category where cPanel may act on
    any message: answered with a bare `1` (the message goes to stderr only)."""


# -- entry point ------------------------------------------------------------------


def main(argv=None, script=None):
    """Run as cPanel runs the hook. Returns the exit status (cPanel ignores it)."""
    fill_standard_fds()
    argv = sys.argv[1:] if argv is None else argv
    if "--describe" in argv:
        return describe(script or sys.argv[0])
    real_stdout = sys.stdout
    # A stray print anywhere below would decide the hook's result: send it to stderr.
    sys.stdout = sys.stderr
    verdict = None
    try:
        if argv:
            log("ignoring unexpected arguments (only --describe is known)")
        raw, guards = read_event()
        # a cPanel account creating (renaming) a token: the guard answers
        verdict = (guard.oversized_verdict(MAX_EVENT_BYTES, guards) if guards
                   else guard.verdict(raw))
        message = handle(raw) if verdict is None else None
    except Exception:
        import traceback  # only on this path: it costs the fast path ~2 ms

        log("internal error, the event was not handled:\n" + traceback.format_exc())
        message = "internal error, the event was not handled (details in cPanel's error_log)"
    finally:
        sys.stdout = real_stdout
    if verdict is not None:
        return guard.emit(verdict)
    if message is None:  # not this hook's event: allowed, and nothing for cPanel to show
        return guard.emit("1")
    return answer(message)


def fill_standard_fds():
    """cPanel may start a hook with descriptors 0-2 closed. Then the next file opened (the
    queue entry, the worker's lock) would take one of them: the answer would be written
    into it, and the worker's /dev/null over 0-2 would close its own lock. So the gaps
    are filled with /dev/null first, and Python's missing streams are given to them."""
    missing = [fd for fd in (0, 1, 2) if not _is_open(fd)]
    if not missing:
        return
    null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: missing[0]
    for fd in missing:
        if fd != null:
            os.dup2(null, fd)
        os.set_inheritable(fd, True)  # whmapi1 and the worker get them too
    if null not in missing:
        os.close(null)
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None:  # Python found the descriptor closed at start
            setattr(sys, name, open(fd, mode, closefd=False))


def _is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def answer(message):
    """The one line cPanel reads: success, with a short message on one line."""
    text = " ".join(str(message).split())
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 3] + "..."
    # As bytes, ASCII-escaped: cPanel's reasons carry curly quotes, and under a stripped
    # environment (C locale) Python 3.6 cannot encode them for a text stdout.
    line = ("1 tokensweeper: %s\n" % text).encode("ascii", "backslashreplace")
    out = getattr(sys.stdout, "buffer", None)
    try:
        if out is None:
            sys.stdout.write(line.decode("ascii"))
            sys.stdout.flush()
        else:
            sys.stdout.flush()
            out.write(line)
            out.flush()
    except (OSError, ValueError, AttributeError):
        pass  # nobody is reading (or no stream at all): nothing else to do
    return 0


def describe(script):
    """The descriptor array manage_hooks registers, for this script's own path
    (install.sh copies it to INSTALLED_PATH; the checkout copy describes itself)."""
    hook_path = os.path.realpath(script) if script else INSTALLED_PATH
    described = [event.descriptor(hook_path) for event in EVENTS]
    described.extend(guard.descriptors(hook_path, WEIGHT))
    sys.stdout.write(json.dumps(described, indent=2) + "\n")
    return 0


def log(message):
    hookqueue.stderr_log(message)


# -- reading the event --------------------------------------------------------------


def read_event():
    """(the whole of stdin, the creation guard's event it names when it is too large to
    parse, else None). cPanel writes one compact JSON document, no newline."""
    stream = sys.stdin
    if stream is None:
        return b"", None
    if stream.isatty():
        log("no event: cPanel writes the event as JSON on standard input")
        return b"", None
    raw = stream.buffer.read(MAX_EVENT_BYTES + 1)  # one byte more tells "too big"
    if len(raw) > MAX_EVENT_BYTES:
        # Too big to parse, but an account can pad a token creation this far: where the
        # guard's event is named (anywhere: the key order is Perl's), the guard answers.
        guards = _drain(stream.buffer, raw[-OVERLAP:]) or guard.marked(raw)
        return raw, guards
    return raw, None


# A chunk boundary can split the context naming the guard's event (about 130 bytes): this
# much of the previous chunk is searched again with the next.
OVERLAP = 1024


def _drain(stream, before=b""):
    """Read the rest of an oversized event and drop it: cPanel writes the whole event and
    expects it read to EOF (cpanel-facts.md §3); a hook that leaves early would break the
    writer's pipe under the admin's action. Nothing more is kept in memory. Returns
    the guard's event the rest names (guard.marked), else None."""
    found = None
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return found
        found = found or guard.marked(before + chunk)
        before = chunk[-OVERLAP:]


def parse(raw):
    """(Event, data dict) from the raw stdin, or Answer when there is nothing to act on."""
    if len(raw) > MAX_EVENT_BYTES:
        log("the event is larger than %d MiB: not a cPanel event" % (MAX_EVENT_BYTES >> 20))
        # Its stage is unknown (unparsed): any words could stop a pre stage's action.
        raise NotOurs("the event is too large to be a cPanel event; nothing to do")
    if not raw.strip():
        raise Answer("no event on standard input; nothing to do")
    try:
        document = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as error:
        # The error names a position (or the nesting), never the content: safe to log.
        # Nesting deeper than Python's recursion limit is no cPanel event either.
        log("the event is not JSON: %s" % error)
        raise Answer("the event is not valid JSON; nothing to do")
    if not isinstance(document, dict):
        raise Answer("the event is not a JSON object; nothing to do")
    context = _mapping(document.get("context"))
    registered = _mapping(document.get("hook"))
    where = {key: _text(context.get(key) or registered.get(key))
             for key in ("category", "event", "stage")}
    for event in EVENTS:
        if (event.category, event.event, event.stage) == (where["category"], where["event"],
                                                           where["stage"]):
            return event, _mapping(document.get("data"))
    why = "%s %s %s is not an event this hook handles; nothing to do" % (
        _safe(where["category"]), _safe(where["event"]), _safe(where["stage"]))
    # Any message in a pre stage or through a blocking registration (the guard's) can stop
    # the action (suspendacct pre aborts on one), and a UAPI event's message is shown to the
    # account: there, only a bare 1 means "allowed".
    blocking = "1" in (_text(context.get("blocking")), _text(registered.get("blocking")))
    if where["stage"] != "post" or where["category"] == "Cpanel" or blocking:
        raise NotOurs(why)
    raise Answer(why)


def account_of(event, data):
    """The account the event is about. Raises Answer when there is none to act on.

    suspendacct: data.args.user. data.user is always the literal "root" (whoever
    suspended, even a reseller), so it never names the account.
    Remove, ChangePasswd: data.user. Modify: only a rename counts, and the tokens
    follow the account to its new name, so the new name is the one acted on.
    """
    args = _mapping(data.get("args"))
    if event.key == "suspend":
        if _text(data.get("result")).strip() == "0":
            raise Answer("%s: cPanel reports the suspension failed; nothing to do" % event.label)
        return _valid_account(event, _text(args.get("user")))
    user = _text(data.get("user") or args.get("user"))
    if event.key != "rename":
        return _valid_account(event, user)
    new_user = _text(data.get("newuser") or args.get("newuser"))
    if not new_user or new_user == user:
        raise Answer("%s: not a rename; nothing to do" % event.label)
    return _valid_account(event, new_user)


def _valid_account(event, user):
    # Only a name that is safe as a file name reaches the fast path's os.path calls;
    # the full cPanel user name rule is checked before any whmapi1 call.
    if not user or len(user) > 64 or "/" in user or "\0" in user or user.startswith((".", "-")):
        raise Answer("%s: the event names no valid account; nothing to do" % event.label)
    return user


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _text(value):
    """Numbers may arrive as strings and strings as numbers: compare as text."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (str, int)):
        return str(value)
    return ""


def _safe(text):
    """Payload text echoed in a message: event names only, never free text."""
    kept = "".join(c for c in text if c.isalnum() or c in ":_.-")
    return (kept[:64] or "?")


# -- the fast path ------------------------------------------------------------------


def may_own_tokens(user):
    """Whether `user` can have API tokens: root, a reseller, or anyone whose WHM token file
    holds tokens (a former reseller keeps its tokens; cPanel keeps an emptied file as
    `{"tokens":{}}`, which is no reason to ask whmapi1), or whose cPanel account's token
    file does. Reads at most three small files, starts nothing."""
    return may_own_whm_tokens(user) or may_own_cpanel_tokens(user)


# -- acting on the event ------------------------------------------------------------


def handle(raw):
    """The message for the result line (None: answer a bare `1`). Every failure becomes a
    message, never an abort."""
    try:
        event, data = parse(raw)
        account = account_of(event, data)
        followed = follow_rename(event, data, account)
        if not may_own_tokens(account):
            return "%s %s: the account owns no API tokens; nothing to do%s" % (
                event.label, account, followed)
        log("%s for %s" % (event.event, account))
        return act(event, account) + followed
    except NotOurs as message:
        log(str(message))
        return None
    except Answer as message:
        return str(message)


def follow_rename(event, data, new):
    """On a rename, the old name's queued events now apply to `new`, whatever
    events.rename says (hookqueue.follow_rename). Returns what to add to the answer.

    Only a rename cPanel carried out: the Modify post hook's data are modifyacct's
    arguments, with no outcome. A rename that did not happen (refused, failed) would
    move the old name's events, a revoke_all perhaps, onto `new`, which may be another
    account. So `new` must have its users file and the old name none any more
    (cpusers.has_users_file); otherwise Answer, nothing moved and nothing done."""
    if event.key != "rename":
        return ""
    from .cpusers import has_users_file
    from .statefiles import UntrustedState

    old = _text(data.get("user") or _mapping(data.get("args")).get("user"))
    new_exists, old_exists = has_users_file(new), has_users_file(old)
    if not (new_exists is True and old_exists is False):
        why = ("no users file for %s" % new if new_exists is not True else
               "%s still has its users file" % _safe(old) if old_exists else
               "the users file of %s cannot be checked" % _safe(old))
        log("%s: %s was not renamed to %s (%s); nothing done, its queued events stay with "
            "%s" % (event.event, _safe(old), new, why, _safe(old)))
        raise Answer("%s %s: %s was not renamed to %s (cPanel's users files say otherwise); "
                     "nothing to do, its queued events stay with %s" % (
                         event.label, new, _safe(old), new, _safe(old)))
    try:
        moved, dropped = hookqueue.follow_rename(old, new)
    except (OSError, UntrustedState) as error:
        log("the queued events of %s could not follow its rename: %s" % (
            old, error if isinstance(error, UntrustedState) else _os_error(error)))
        return "; ITS QUEUED EVENTS STILL NAME %s (details in cPanel's error_log)" % old
    gone = ""
    if dropped:
        log("%s of a former %s dropped: that account was gone when %s took its name" % (
            _plural(dropped, "queued event"), new, old))
        gone = "; %s of a former %s dropped" % (_plural(dropped, "queued event"), new)
    if not moved:
        return gone
    log("%s of %s now for %s" % (_plural(moved, "queued event"), old, new))
    try:
        from . import clock

        hookqueue.start_worker(clock.now)  # a running worker sees them as new events
    except (OSError, UntrustedState) as error:
        log("the queue's worker could not start: %s" % error)
    return "; %s of %s follow%s it%s" % (_plural(moved, "queued event"), old,
                                        "s" if moved == 1 else "", gone)


def act(event, account):
    """What the config says to do about the event: nothing (`ignore`), a snapshot now
    (`snapshot`: cPanel deletes the token files as soon as the Remove pre hook returns),
    or, for `sweep` and `revoke_all`, the event queued for the worker (hookqueue.py),
    which handles a reseller's storm of events together, seconds later (on removal they
    too are done before the hook returns)."""
    # The engine is loaded only here, past the fast path.
    from . import audit, clock, config
    from .lock import LockBusy
    from .owners import valid_owner
    from .statefiles import UntrustedState
    from .tokens import TokenDataError
    from .whmapi import WhmapiError

    label = "%s %s" % (event.label, account)
    try:
        now = clock.now()
    except clock.ClockError as error:
        log(str(error))
        return "%s: TOKENSWEEPER_NOW is not a usable time, nothing done" % label
    try:
        cfg = config.load()
    except config.ConfigError as error:
        log(str(error))
        note(event, account, now, None, "hook-error", "config error, nothing done: %s" % error)
        return "%s: config error, nothing done (run tokensweeper check-config)" % label
    action = cfg.events[event.key]
    if action == "ignore":
        return "%s: events.%s is ignore; nothing to do" % (label, event.key)
    if not valid_owner(account):
        return "%s: not a cPanel user name; nothing to do" % event.label
    try:
        if action == "snapshot":
            return "%s: %s" % (label, snapshot(event, account, now))
        return "%s: %s" % (label, queue(event, account, action, cfg, now))
    except LockBusy as error:  # only the Remove event waits for nothing queued
        log("skipped: %s" % error)
        note(event, account, now, cfg.mode, "hook-skipped",
             "%s was not applied: %s" % (action, error))
        return "%s: skipped, another sweep is running; nothing done" % label
    except (WhmapiError, TokenDataError, audit.AuditError, UntrustedState) as error:
        log("%s failed: %s" % (action, error))
        note(event, account, now, cfg.mode, "hook-error", "%s failed: %s" % (action, error))
        return "%s: %s failed (details in cPanel's error_log)" % (label, action)
    except OSError as error:
        # The state directory (queue, audit log) cannot be used: read-only, full, a file
        # in the way. One line in the error_log, a record if the audit log still takes one.
        why = "%s failed: the state directory cannot be used: %s" % (action, _os_error(error))
        log(why)
        note(event, account, now, cfg.mode, "hook-error", why)
        return "%s: %s failed, state directory unusable (details in cPanel's error_log)" % (
            label, action)


def queue(event, account, action, cfg, now):
    """sweep (the configured policy) or revoke_all: queued, and the worker started unless
    one runs; on removal, done at once. The checks that need no whmapi1 call answer at
    once."""
    from . import clock
    from .statefiles import UntrustedState

    why = hookqueue.nothing_to_do(cfg, account, action)
    if why:
        return why
    if event.key == "remove":
        # cPanel deletes the account's token files as soon as this pre hook returns: what
        # is revoked (and recorded) must be done by then (docs/cpanel-notes.md).
        return hookqueue.handle_at_once(event.event, event.key, action, account, now, log)
    hookqueue.enqueue(event.event, event.key, action, account, now)
    try:
        started = hookqueue.start_worker(clock.now)
    except (OSError, UntrustedState) as error:
        # No process could be started (fork failed), or hook-worker.lock is not root's
        # alone: the event stays queued, it did not fail.
        log("the queue's worker could not start: %s" % (
            error if isinstance(error, UntrustedState) else _os_error(error)))
        return ("%s queued, but its worker could not start; the next event, the scheduled "
                "run or tokensweeper queue --run applies it" % action)
    return "%s queued; %s within seconds (tokensweeper queue shows what waits)" % (
        action, "a worker applies it" if started else "the running worker applies it")


def snapshot(event, account, now):
    """Both kinds: the account's WHM tokens (a reseller's) and its cPanel account's."""
    from .sweep import record_snapshot

    tokens, source = snapshot_tokens(account) if may_own_whm_tokens(account) else ([], "")
    if may_own_cpanel_tokens(account):
        from .sources import cpanel

        more, more_source = cpanel.snapshot(_client(), account, log)
        tokens = list(tokens) + list(more)
        source = "; ".join(part for part in (source, more_source) if part)
    if not tokens:
        return "no tokens to record"
    why = {"remove": "the account is being removed; cPanel deletes its tokens next"}.get(
        event.key, "recorded on %s" % event.event)
    note = "%s: %s" % (account, why) + ("; %s" % source if source else "")
    run_id = record_snapshot(tokens, event.actor, now, note)
    from_file = " (from cPanel's token file)" if source.startswith(FROM_FILE) else ""
    return "recorded %s in the audit log%s (run %s)" % (
        _plural(len(tokens), "token"), from_file, run_id)


FROM_FILE = "read from cPanel's token file"


def snapshot_tokens(account):
    """(tokens, how they were read: "" for an ordinary listing).

    terminatereseller strips reseller status before the account's Remove pre hook
    runs (cpanel-facts.md "Lifecycle"), so whmapi1 may refuse to list the tokens,
    or list them without ACLs. Then cPanel's token file, which exists until right
    after this stage, tells names, times and ACL presence (never the secrets).
    """
    from .tokenfiles import TokenFileError, read_token_file
    from .whmapi import WhmapiError

    try:
        tokens = _client().list_tokens(account)
    except WhmapiError as error:
        try:
            tokens = read_token_file(account)
        except TokenFileError as file_error:
            log("the token file cannot stand in for the listing: %s" % file_error)
            raise error
        log("whmapi1 could not list %s's tokens (%s); read its token file" % (account, error))
        return tokens, "%s: whmapi1 could not list them (%s)" % (FROM_FILE, error)
    if not tokens or account == "root" or is_reseller(account) or _resellers_unknown():
        return tokens, ""
    # Listed, but as a user who is no reseller: every ACL map is empty and says nothing.
    why = "whmapi1 listed them without ACLs (%s is no reseller any more)" % account
    try:
        return read_token_file(account), "%s: %s" % (FROM_FILE, why)
    except TokenFileError as file_error:
        log("the token file cannot tell the ACLs: %s" % file_error)
        return tokens, "ACLs unknown: %s" % why


def _client():
    from .whmapi import Client

    return Client(timeout=WHMAPI_TIMEOUT)


def _resellers_unknown():
    from .resellers import read_resellers
    return read_resellers() is None


def note(event, account, now, mode, kind, message):
    """An audit record for a hook that could not do its work (best effort: also on stderr)."""
    from . import audit

    try:
        audit.write({
            "event": kind, "time": audit.iso(now), "epoch": now, "run_id": audit.new_run_id(now),
            "actor": event.actor, "mode": mode or "unknown", "selectors": {"owners": [account]},
            "tokens": [], "owner_errors": {}, "refused": None, "note": message,
        })
    except audit.AuditError as error:
        log(str(error))


def _os_error(error):
    where = getattr(error, "filename", None)
    return "%s: %s" % (where, error.strerror) if where and error.strerror else str(error)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")
