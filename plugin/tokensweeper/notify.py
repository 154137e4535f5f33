"""Notices before unattended revocations, and expiry reminders (config `notify:`).

An unattended run (cron's `sweep --scheduled`, the hook's `sweep`) with
notify.notice_days > 0 revokes a stale token only after giving notice:

  1. a stale token without a valid notice gets one now: it is mailed to its recipients
     and recorded in the audit log (event `notice`, one entry per token with its
     identity, why it is stale, the day its revocation is due and the mail outcome),
     and it is NOT revoked by this run;
  2. a run on or after the due day revokes it, if it is still stale and still the same
     token (policy.notice_states: same identity, no use seen since the notice).

The audit log is the only memory: it must never be lost, it is written whole or not at
all, and it already passes the state-dir trust checks (statefiles). Expiry reminders
(`expiry_reminders: [7, 1]`) are remembered the same way, as `reminder` entries of a
`notice` record: a reminder for a token identity and a reminder day is sent once.

Mail goes out once per recipient per run (mail.py); a mail that fails is an error in the
run's output and in the record, and does not stop revocations that are due. The notice
counts from the moment it is recorded, whether or not the MTA took the mail: the record
says which mails failed, and the run exits non-zero so that cron tells root.

Recipients: `owner` (the owner's contact address: root's is CONTACTEMAIL in
/etc/wwwacct.conf, a reseller's the `email` of `whmapi1 accountsummary user=NAME`;
OWNER_LOOKUPS says how per token kind), `contact` (CONTACTEMAIL, the server contact) and
literal addresses. A missing or invalid address is a problem noted in the record and
the run's output, never a crash.
"""

import re

from . import audit, paths
from .config import valid_address
from .policy import Notice, NoticeState, day, due_day, hold_for_notice, notice_states, share_cap
from .tokens import CPANEL, DAY, WHM

NOTICE_EVENT = "notice"
NOTICE, REMINDER = "notice", "reminder"
NOT_DELIVERED = "notice-not-delivered"  # a notice no valid address received: not a notice
WWWACCT_LIMIT = 1024 * 1024
_SEPARATORS = re.compile(r"[,; ]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_BREAK = re.compile(r"[ \t]+")
NO_ADDRESS_VALUES = ("", "*unknown*")  # what cPanel lists for an account without one


class NoticeReport(object):
    """What the notice step of one run did: run_id of its record (None: nothing to
    record), the tokens noticed and reminded, mail outcomes, problems and errors."""

    def __init__(self):
        self.run_id = None
        self.noticed = []
        self.reminded = []
        self.mail = []  # {"to", "outcome"}: "sent" or "failed: why"
        self.problems = []  # missing or invalid addresses: warnings
        self.errors = []  # failed mail, an unwritable record: the run exits non-zero

    @property
    def failed(self):
        return bool(self.errors)


def enabled(cfg):
    settings = cfg.notify
    return settings["notice_days"] > 0 or bool(settings["expiry_reminders"])


def weigh(plan, cfg, now, records=None):
    """Read-only: record in plan.notices where each selected token stands (plan and
    the page show it). Needs the audit log; does nothing when notices are off."""
    days = cfg.notify["notice_days"]
    if days <= 0:
        return {}
    if records is None:
        records, _damaged = audit.read_window(window_start(plan, cfg, now))
    notices, _reminded = history(records)
    states = notice_states(plan, notices, days, now)
    _withhold(plan, cfg, undelivered(records))
    return states


# A notice stamped this much before its token's creation still counts.
CLOCK_SLACK = audit.CLOCK_SLACK


def window_start(plan, cfg, now):
    """The oldest moment a record can carry and still matter to this plan's notices and
    expiry reminders; notify reads the audit log only from there (audit.read_window).

    Notices, undelivered notices and reminders are looked up by token identity, and an
    identity names its token's creation time: no record about a token can be older than
    the token (give or take CLOCK_SLACK). So the window starts at the creation of the
    oldest token that can be looked up: a selected token (its notice) or one whose expiry
    reminder may be due. Nothing selected and no reminder due: nothing is read (now + 1).
    A notice older than notice_days still counts while its token stays selected (the cap
    deferred its holder, the mode was preview for a while), so notice_days alone is no
    window."""
    settings = cfg.notify
    looked_up = []
    if settings["notice_days"] > 0:
        looked_up.extend(token.create_time for token in plan.to_revoke())
    reminder_days = settings["expiry_reminders"]
    if reminder_days:
        within = max(reminder_days) * DAY
        looked_up.extend(item.token.create_time for item in plan.items
                         if item.token.expires_at is not None
                         and now < item.token.expires_at <= now + within)
    if not looked_up:
        return now + 1
    return min(min(looked_up), now) - CLOCK_SLACK


def _withhold(plan, cfg, missed, refused=None):
    """Mark the new notices that will not go out (the cap refuses their holder) or whose
    last try reached nobody: the page and the record say so, the token is never revoked
    on the strength of a notice nobody got. Returns the tokens whose notice the cap
    withholds."""
    if refused is None:
        refused = over_the_cap(plan, cfg)
    withheld = []
    for token in plan.to_revoke():
        state = plan.notice_of(token)
        if state is None or not state.new:
            continue
        if token.holder in refused:
            state.withheld = ("%s has %d selected tokens, more than max_revoke_per_run (%d): "
                              "the cap refuses them, so no notice promises a revocation" % (
                                  token.holder, refused[token.holder], cfg.max_revoke_per_run))
            withheld.append(token)
        elif token.identity() in missed:
            state.withheld = ("the notice of %s reached nobody (%s); a notice is sent again "
                              "on the next run, and the token is kept until one is delivered"
                              % (day(missed[token.identity()][0]),
                                 missed[token.identity()][1]))
    return withheld


def over_the_cap(plan, cfg):
    """{holder: count} of the holders an unattended run's cap would refuse outright."""
    cap = cfg.max_revoke_per_run
    if cap is None or cap <= 0:
        return {}
    return share_cap(plan.to_revoke(), cap).refused


def undelivered(records):
    """{identity: (epoch, why)} of the latest notices that reached nobody."""
    missed = {}
    for record in records:
        if record.get("event") != NOTICE_EVENT:
            continue
        sent = audit.epoch_of(record)
        entries = record.get("tokens")
        for entry in entries if isinstance(entries, list) else ():
            if (isinstance(entry, dict) and entry.get("action") == NOT_DELIVERED
                    and isinstance(entry.get("identity"), str)):
                known = missed.get(entry["identity"])
                if known is None or sent >= known[0]:
                    reason = entry.get("reason")
                    missed[entry["identity"]] = (sent, reason if isinstance(reason, str)
                                                 else "no recipient")
    return missed


def apply(plan, cfg, client, now, actor, mode, mail_timeout=None):
    """The unattended run's notice step, under the sweep lock, before execute():
    weigh notices, send the new ones (enforce mode only) and due expiry reminders,
    record them, and hold back every selected token whose notice is not due.
    mail_timeout: seconds each sendmail may take (None: mail.TIMEOUT); the hook, which
    holds up the account action, gives less. Returns a NoticeReport."""
    report = NoticeReport()
    settings = cfg.notify
    records, _damaged = audit.read_window(window_start(plan, cfg, now))
    notices, reminded = history(records)
    days = settings["notice_days"]
    if days > 0:
        notice_states(plan, notices, days, now)
    new = [token for token in plan.to_revoke()
           if plan.notice_of(token) is not None and plan.notice_of(token).new]
    if mode != "enforce" or cfg.max_revoke_per_run == 0:
        # Nothing will be revoked (preview mode, or a cap of 0): announcing it would be a
        # lie. The plan still says "would send a notice now".
        new = []
    if days > 0:
        # A holder the cap refuses outright is never told "will be revoked on D".
        refused = over_the_cap(plan, cfg)
        withheld = _withhold(plan, cfg, {}, refused)
        new = [token for token in new if token not in withheld]
        for holder in sorted({token.holder for token in withheld}):
            report.problems.append(
                "no notice sent to %s: its %d selected tokens exceed max_revoke_per_run "
                "(%d), so the cap refuses them" % (holder, refused[holder],
                                                   cfg.max_revoke_per_run))
    reminders = due_reminders([item.token for item in plan.items], reminded,
                              settings["expiry_reminders"], now)
    if new or reminders:
        _send_and_record(report, plan, new, reminders, settings, client, now, actor, mode,
                         mail_timeout)
    if days > 0:
        hold_for_notice(plan, now)
    return report


def history(records):
    """({identity: Notice} latest per identity, {identity: set of reminder days}).

    Latest by the time it was sent, not by its place in the file: an older record pasted
    in later (an admin restoring a line) must not replace the notice that counts."""
    notices, reminded = {}, {}
    for record in records:
        if record.get("event") != NOTICE_EVENT:
            continue
        sent = audit.epoch_of(record)
        entries = record.get("tokens")
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict) or not isinstance(entry.get("identity"), str):
                continue
            identity = entry["identity"]
            if entry.get("action") == NOTICE and isinstance(entry.get("due_epoch"), int):
                known = notices.get(identity)
                if known is None or sent >= known.sent:
                    notices[identity] = Notice(identity, sent, _due_claim(entry["due_epoch"]))
            elif entry.get("action") == REMINDER and isinstance(entry.get("reminder_days"), int):
                reminded.setdefault(identity, set()).add(entry["reminder_days"])
    return notices, reminded


def _due_claim(due):
    """The due day a notice entry claims, or 0 when no clock can show it (a boolean, before
    1970, past year 9999: a hand-edited line): then the notice period counts from the
    notice itself (policy.notice_states never makes it shorter)."""
    if isinstance(due, bool) or not 0 <= due <= audit.MAX_EPOCH:
        return 0
    return due


def due_reminders(tokens, reminded, reminder_days, now):
    """[(token, days)]: tokens not yet expired that expire within one of reminder_days and
    were not reminded for that day or a nearer one. A token first seen 5 days before its
    expiry gets the 7-day reminder now and the 1-day one later; never one twice."""
    due = []
    for token in tokens:
        if token.expires_at is None or token.expires_at <= now:
            continue
        left = token.expires_at - now
        within = [d for d in reminder_days if left <= d * DAY]
        if not within:
            continue
        nearest = min(within)
        if any(sent <= nearest for sent in reminded.get(token.identity(), ())):
            continue
        due.append((token, nearest))
    return due


# -- recipients ------------------------------------------------------------------


def split_addresses(value):
    """(valid, invalid) addresses in a field that may hold several, or none."""
    if not isinstance(value, str) or value.strip() in NO_ADDRESS_VALUES:
        return [], []
    if _CONTROL.search(value):  # a line break inside a field is damage (or an attack)
        return [], [value]
    valid, invalid = [], []
    for part in _SEPARATORS.split(value.strip()):
        if part:
            (valid if valid_address(part) else invalid).append(part)
    return valid, invalid


def server_contact():
    """(addresses, problem or None): CONTACTEMAIL of /etc/wwwacct.conf."""
    path = paths.wwwacct_conf()
    try:
        text = _read_regular(path).decode("utf-8", "replace")
    except OSError as error:
        return [], "the server contact address cannot be read from %s: %s" % (
            path, error.strerror or error)
    value = None
    for line in text.split("\n"):  # a \r inside a line stays in (and spoils) its value
        # cPanel's loadConfig: key and value apart at the first run of whitespace (a tab
        # too), and a key given twice takes its last value.
        key, _, rest = _FIELD_BREAK.sub(" ", line.strip(" \t\r"), 1).partition(" ")
        if key == "CONTACTEMAIL":
            value = rest
    if value is not None:
        valid, invalid = split_addresses(value)
        problem = None
        if invalid:
            problem = "CONTACTEMAIL in %s holds %s, not mail address%s" % (
                path, ", ".join(_shown(v) for v in invalid), "" if len(invalid) == 1 else "es")
        elif not valid:
            problem = "CONTACTEMAIL in %s is empty" % path
        return valid, problem
    return [], "%s sets no CONTACTEMAIL (WHM > Basic WebHost Manager Setup)" % path


def _read_regular(path):
    """The first WWWACCT_LIMIT bytes of a regular file; a FIFO or device never stalls
    the run (O_NONBLOCK, then refused)."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return handle.read(WWWACCT_LIMIT)


def reseller_contact(client, owner):
    """(addresses, problem or None): the `email` accountsummary lists for the account."""
    from .whmapi import WhmapiError

    try:
        data = client.call("accountsummary", {"user": owner})
    except WhmapiError as error:
        return [], "no contact address for %s: %s" % (owner, error)
    accounts = data.get("acct")
    account = accounts[0] if isinstance(accounts, list) and accounts else None
    if not isinstance(account, dict):
        return [], "no contact address for %s: accountsummary listed no account" % owner
    valid, invalid = split_addresses(account.get("email"))
    if invalid:
        return valid, "the contact address of %s is not a mail address: %s" % (
            owner, ", ".join(_shown(v) for v in invalid))
    if not valid:
        return [], "%s has no contact address (cPanel lists none)" % owner
    return valid, None


def _whm_owner(client, token, contact):
    if token.owner == "root":
        return contact()
    return reseller_contact(client, token.owner)


def _cpanel_owner(client, token, _contact):
    """A cPanel account's token: the account's own contact address (accountsummary)."""
    return reseller_contact(client, token.owner)


# Token kind -> how to find its owner's address: (client, token, contact) -> (addresses,
# problem).
OWNER_LOOKUPS = {"whm": _whm_owner, "cpanel": _cpanel_owner}


class AddressBook(object):
    """Each token's recipients under notify.recipients, each owner and the contact
    looked up once per run; problems collects what could not be found."""

    def __init__(self, client, recipients):
        self.client = client
        self.recipients = recipients
        self.problems = []
        self._contact = None
        self._owners = {}

    def contact(self):
        if self._contact is None:
            self._contact = server_contact()
            if self._contact[1]:
                self.problems.append(self._contact[1])
        return self._contact[0], None

    def owner(self, token):
        kind = getattr(token, "kind", "whm")
        key = (kind, token.owner)
        if key not in self._owners:
            lookup = OWNER_LOOKUPS.get(kind, _whm_owner)
            addresses, problem = lookup(self.client, token, self.contact)
            if problem:
                self.problems.append(problem)
            self._owners[key] = addresses
        return self._owners[key]

    def for_token(self, token):
        found = []
        for recipient in self.recipients:
            if recipient == "owner":
                found.extend(self.owner(token))
            elif recipient == "contact":
                found.extend(self.contact()[0])
            else:
                found.append(recipient)
        return list(dict.fromkeys(found))


def _shown(value):
    return repr(value[:80])


# -- mail and record ---------------------------------------------------------------


def _send_and_record(report, plan, new, reminders, settings, client, now, actor, mode,
                     mail_timeout=None):
    from . import mail

    book = AddressBook(client, settings["recipients"])
    due = due_day(now, settings["notice_days"])
    letters = {}  # address -> {"notice": [...], "reminder": [...]}
    entries = []
    delivered = []
    for token in new:
        to = book.for_token(token)
        for address in to:
            letters.setdefault(address, {NOTICE: [], REMINDER: []})[NOTICE].append(token)
        if not to:
            # A notice that reaches nobody is no notice: recorded as not delivered, an
            # error (the run exits non-zero), and the token stays until one is delivered.
            why = "not delivered: notify.recipients found no valid address"
            entries.append(_entry(token, NOT_DELIVERED, why, to, selected=plan.reason_of(token)))
            report.errors.append("the notice for %s/%s was not delivered: notify.recipients "
                                 "found no valid address for it, so it is not revoked on "
                                 "the strength of it" % token.key())
            continue
        delivered.append(token)
        entries.append(_entry(token, NOTICE, plan.reason_of(token), to,
                              due_epoch=due, due=day(due)))
    for token, days in reminders:
        to = book.for_token(token)
        for address in to:
            letters.setdefault(address, {NOTICE: [], REMINDER: []})[REMINDER].append(
                (token, days))
        entries.append(_entry(token, REMINDER, "expires on %s" % day(token.expires_at), to,
                              reminder_days=days))
    host = mail.hostname()
    unavailable = None  # an MTA that cannot run or hung: not tried again in this run
    for address in sorted(letters):
        outcome = "sent"
        try:
            if unavailable is not None:
                raise mail.MailError("not tried: %s" % unavailable)
            mail.send(mail.compose(address, subject(host, letters[address], due),
                                   body(host, plan, letters[address], due), now, host),
                      timeout=mail_timeout)
        except mail.MailUnavailable as error:
            unavailable = error
            outcome = "failed: %s" % error
            report.errors.append("the notice mail to %s failed: %s" % (address, error))
        except mail.MailError as error:
            outcome = "failed: %s" % error
            report.errors.append("the notice mail to %s failed: %s" % (address, error))
        report.mail.append({"to": address, "outcome": outcome})
    report.problems.extend(book.problems)
    record = {
        "event": NOTICE_EVENT, "time": audit.iso(now), "epoch": now,
        "run_id": audit.new_run_id(now), "actor": actor, "mode": mode,
        "selectors": plan.selectors.to_dict(), "tokens": entries, "mail": report.mail,
        "owner_errors": {}, "refused": None,
    }
    if report.problems or report.errors:
        record["problems"] = report.problems + report.errors
    try:
        audit.write(record)
    except audit.AuditError as error:
        # Not recorded: these tokens stay held (they were not due) and get a notice again.
        report.errors.append("the notices could not be recorded, so they will be sent again: "
                             "%s" % error)
        return
    report.run_id = record["run_id"]
    report.noticed = delivered
    report.reminded = reminders
    for token in delivered:  # the notice is on record: its period runs from now
        plan.notices[token.key()] = NoticeState(now, due)
    for token in new:
        if token not in delivered:
            plan.notices[token.key()].withheld = (
                "the notice of %s reached nobody (no valid address); the token is kept until "
                "one is delivered" % day(now))


def _entry(token, action, reason, to, **extra):
    entry = token.to_dict()
    entry.update(identity=token.identity(), action=action, reason=reason, recipients=to)
    entry.update(extra)
    return entry


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def subject(host, letter, due):
    parts = []
    if letter[NOTICE]:
        parts.append("%s will be revoked on %s" % (_plural(len(letter[NOTICE]), "API token"),
                                                   day(due)))
    if letter[REMINDER]:
        count = len(letter[REMINDER])
        parts.append("%s %s soon" % (_plural(count, "API token"),
                                     "expires" if count == 1 else "expire"))
    return "[%s] %s" % (host, "; ".join(parts))


def _these(tokens):
    """"this WHM API token", "these cPanel API tokens", "these API tokens" (both kinds):
    the owner must know where to look (WHM or cPanel » Manage API Tokens)."""
    kinds = {getattr(token, "kind", WHM) for token in tokens}
    what = {WHM: "WHM API token", CPANEL: "cPanel API token"}.get(
        kinds.pop() if len(kinds) == 1 else None, "API token")
    return ("this %s" if len(tokens) == 1 else "these %ss") % what


def _upper_first(text):
    return text[:1].upper() + text[1:]  # str.capitalize would write "Whm api token"


def _held_by(token):
    """A cPanel account's token and a WHM token of the same user may share a name."""
    if getattr(token, "kind", WHM) == CPANEL:
        return "cPanel account %s" % token.owner
    return "owner %s" % token.owner


def body(host, plan, letter, due):
    lines = []
    if letter[NOTICE]:
        lines += [
            "Token Sweeper on %s will revoke %s on or after %s:" % (
                host, _these(letter[NOTICE]), day(due)),
            "",
        ]
        for token in letter[NOTICE]:
            lines.append("  %s (%s, created %s)" % (token.name, _held_by(token),
                                                    day(token.create_time)))
            lines.append("      why: %s" % plan.reason_of(token))
        lines += [
            "",
            "Whatever still uses a revoked token stops working at once. To keep a token:",
            "  - use it before that day, if it is stale for lack of use; or",
            "  - ask the server administrator to protect it (protect.names in",
            "    /etc/tokensweeper/config.yaml).",
            "A token re-created under the same name is a new token and gets its own notice.",
            "",
        ]
    if letter[REMINDER]:
        reminded = [token for token, _days in letter[REMINDER]]
        lines += ["%s %s soon; cPanel refuses an expired token:" % (
            _upper_first(_these(reminded)), "expires" if len(reminded) == 1 else "expire"), ""]
        for token in reminded:
            lines.append("  %s (%s) expires on %s" % (
                token.name, _held_by(token), day(token.expires_at)))
        lines += ["", "Create a new token in time and update whatever uses the old one.", ""]
    lines.append("-- Token Sweeper, an automatic message from %s" % host)
    return "\n".join(lines) + "\n"
