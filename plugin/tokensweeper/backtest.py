"""Back-test a policy: what it would have revoked at an earlier moment, judged with only
the evidence that existed then, and whether api_tokens_log shows a use after that moment
(a would-be false positive).

The log is read once, streamed line by line (memory grows with the number of tokens in
it, never with its size), and split at the moment: uses up to it are the evidence the
policy judges by (usage.UsageFacts, so the one judge, usage.unused_for, decides as it
would have), uses after it are the back-test's answer. The tokens judged are those
listed now that existed then (a token revoked since is not listed and not judged; its
expiry and ACLs are taken as listed now).

A token the log cannot vouch for is listed apart and never counted: a WHM token the
policy could not judge then (plan.unjudged), a cPanel account's token (its use is not in
the log), and a token with no use after the moment while the log does not reach back to
it, or could not be read whole."""

import os

from . import usage
from .policy import make_plan
from .tokens import WHM
from .usage.files import _MAGIC, _opener
from .usage.scan import _EXACT_RE, _minute_epoch

MAX_LINE = usage.MAX_LINE
BLOCK = 1 << 20


class Split(object):
    """What the log says before and after a moment: `before` {(owner, name): [last use
    <= moment, uses]}, `after` {(owner, name): latest use > moment}, `oldest`, `newest`,
    `errors` (files not read whole)."""

    def __init__(self):
        self.before = {}
        self.after = {}
        self.oldest = None
        self.newest = None
        self.errors = []

    def facts_at(self, moment):
        """UsageFacts as they stood at `moment`."""
        tokens = {key: usage.TokenUsage(last, None, uses)
                  for key, (last, uses) in self.before.items()}
        oldest = self.oldest if self.oldest is not None and self.oldest <= moment else None
        facts = usage.UsageFacts(tokens, oldest, None if oldest is None else min(
            self.newest, moment))
        facts.errors = tuple(self.errors)
        return facts


def read_split(moment, cpanel_root=None):
    """Stream every api_tokens_log file (live, rotated, archived) into a Split."""
    if cpanel_root is None:
        from . import paths
        cpanel_root = paths.cpanel_root()
    split = Split()
    for path in usage._discover(os.path.join(cpanel_root, *usage.LOG_DIR)):
        try:
            _read_file(path, moment, split)
        except (OSError, EOFError, ValueError) as error:
            split.errors.append("%s: %s" % (os.path.basename(path), error))
    split.before, split.after = _decoded(split.before), _decoded(split.after)
    return split


def _read_file(path, moment, split):
    with open(path, "rb") as raw:
        head = raw.read(8)
        raw.seek(0)
        codec = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
        handle = raw
        if codec is not None:
            opener = _opener(codec)
            if opener is None:
                raise ValueError("cannot decompress %s" % codec)
            handle = opener(raw)
        try:
            _scan(handle, moment, split)
        finally:
            if handle is not raw:
                handle.close()


def _scan(handle, moment, split):
    """Blocks of BLOCK bytes, each cut at its last newline and searched with the log's own
    pattern (_EXACT_RE, C speed); a "line" longer than MAX_LINE is skipped whole."""
    minutes, pending, skipping = {}, b"\n", False
    while True:
        data = handle.read(BLOCK)
        if skipping:
            cut = data.find(b"\n")
            if cut < 0:
                if not data:
                    return
                continue
            data, skipping = data[cut + 1:], False
        if not data:
            _matches(pending, moment, split, minutes)
            return
        text = pending + data
        cut = text.rfind(b"\n")
        if len(text) - cut > MAX_LINE:
            # The unfinished line is already too long: garbage, skipped to its end.
            _matches(text[:cut], moment, split, minutes)
            pending, skipping = b"\n", True
            continue
        _matches(text[:cut], moment, split, minutes)
        pending = text[cut:]


def _matches(body, moment, split, minutes):
    """Fold one block's whostmgrd lines into the split (keys stay bytes until the end:
    read_split decodes each token's key once)."""
    before, after = split.before, split.after
    oldest, newest = split.oldest, split.newest
    for minute, seconds, offset, _ip, owner, name in _EXACT_RE.findall(body):
        base = minutes.get((minute, offset))
        if base is None:
            if len(minutes) > 4096:
                minutes.clear()
            base = minutes[(minute, offset)] = _minute_epoch(minute, offset) or -1
        if base < 0 or int(seconds) > 60:
            continue
        stamp = base + int(seconds)
        if oldest is None or stamp < oldest:
            oldest = stamp
        if newest is None or stamp > newest:
            newest = stamp
        key = (owner, name)
        if stamp <= moment:
            entry = before.get(key)
            if entry is None:
                before[key] = [stamp, 1]
            else:
                if stamp > entry[0]:
                    entry[0] = stamp
                entry[1] += 1
        elif stamp > after.get(key, 0):
            after[key] = stamp
    split.oldest, split.newest = oldest, newest


def _decoded(table):
    out = {}
    for (owner, name), value in table.items():
        key = (owner.decode("utf-8", "replace"), name.decode("utf-8", "replace"))
        if key in out:  # two byte spellings of one name: merge
            old = out[key]
            if isinstance(value, list):
                value = [max(old[0], value[0]), old[1] + value[1]]
            else:
                value = max(old, value)
        out[key] = value
    return out


class Outcome(object):
    """would_revoke: [{"owner", "kind", "name", "used_after", "reason"}]; apart: tokens
    the log cannot vouch for, [{"owner", "kind", "name", "why"}]."""

    def __init__(self, moment, would_revoke, apart, split):
        self.moment = moment
        self.would_revoke = would_revoke
        self.apart = apart
        self.split = split

    @property
    def false_positive_rate(self):
        if not self.would_revoke:
            return None
        used = sum(1 for entry in self.would_revoke if entry["used_after"])
        return round(used / float(len(self.would_revoke)), 4)

    def to_dict(self, iso):
        return {"as_of": iso(self.moment), "would_revoke": self.would_revoke,
                "false_positive_rate": self.false_positive_rate,
                "cannot_judge": self.apart,
                "log": {"oldest": None if self.split.oldest is None else iso(self.split.oldest),
                        "newest": None if self.split.newest is None else iso(self.split.newest),
                        "errors": list(self.split.errors)}}


def judge(tokens, selectors, protection, moment, split):
    """Pure: the policy at `moment` over the tokens that existed then, and each selected
    token's use after it."""
    then = [t for t in tokens if t.create_time <= moment]
    facts = split.facts_at(moment)
    plan = make_plan(then, facts, selectors, protection, moment)
    apart = [{"owner": i.token.owner, "kind": i.token.kind, "name": i.token.name,
              "why": "could not be judged then: %s" % i.reason} for i in plan.unjudged]
    unjudged = {i.token.key() for i in plan.unjudged}
    if selectors.unused_for_days:
        # Kept because the log of then could not prove disuse (it did not reach back far
        # enough, or was not read whole): neither a right nor a wrong decision.
        for item in plan.items:
            token = item.token
            if item.decision != "keep" or token.key() in unjudged or token.kind != WHM:
                continue
            unused, why = facts.unused_for(token, selectors.unused_for_days, moment)
            if not unused and not why.startswith(("used ", "created ")):
                apart.append({"owner": token.owner, "kind": token.kind, "name": token.name,
                              "why": "not judged then: %s" % why})
    whole_after = (split.oldest is not None and split.oldest <= moment and not split.errors)
    would = []
    for token in plan.to_revoke():
        if token.kind != WHM:
            apart.append({"owner": token.owner, "kind": token.kind, "name": token.name,
                          "why": "selected; a cPanel account's token's use is not in "
                                 "api_tokens_log"})
            continue
        last = split.after.get((token.owner, token.name))
        if last is not None and last >= token.create_time:
            used = True
        elif whole_after:
            used = False
        else:
            apart.append({"owner": token.owner, "kind": token.kind, "name": token.name,
                          "why": "selected; the log cannot tell whether it was used after "
                                 "(it does not reach back to then, or was not read whole)"})
            continue
        would.append({"owner": token.owner, "kind": token.kind, "name": token.name,
                      "used_after": used, "reason": plan.reason_of(token)})
    return Outcome(moment, would, apart, split)
