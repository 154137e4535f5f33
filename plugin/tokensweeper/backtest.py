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
from bisect import bisect_left

from . import usage
from .policy import make_plan
from .tokens import WHM
from .usage.files import _MAGIC, _opener, damaged_errors
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
    return read_splits([moment], cpanel_root)[moment]


def read_splits(moments, cpanel_root=None):
    """{moment: Split} for several moments from ONE pass over every api_tokens_log file:
    each token keeps, per stretch between two moments, its latest use and number of uses
    (2 x (moments + 1) numbers), and each moment's Split is summed from those at the end."""
    if cpanel_root is None:
        from . import paths
        cpanel_root = paths.cpanel_root()
    bounds = sorted(set(moments))
    table, errors, span = {}, [], [None, None]
    damaged = damaged_errors()
    for path in usage._discover(os.path.join(cpanel_root, *usage.LOG_DIR)):
        try:
            _read_file(path, bounds, table, span)
        except damaged as error:
            errors.append("%s: %s" % (os.path.basename(path), error))
    table = _decoded(table)
    splits = {}
    for index, moment in enumerate(bounds):
        split = Split()
        split.oldest, split.newest = span
        split.errors = list(errors)
        cut = 2 * (index + 1)
        for key, stretches in table.items():
            uses = sum(stretches[1:cut:2])
            if uses:
                split.before[key] = [max(stretches[0:cut:2]), uses]
            if any(stretches[cut + 1::2]):
                split.after[key] = max(stretches[cut::2])
        splits[moment] = split
    return splits


def _read_file(path, bounds, table, span):
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
            _scan(handle, bounds, table, span)
        finally:
            if handle is not raw:
                handle.close()


def _scan(handle, bounds, table, span):
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
                continue  # the long line ended this block: the file goes on
        if not data:
            _matches(pending, bounds, table, span, minutes)
            return
        text = pending + data
        cut = text.rfind(b"\n")
        if len(text) - cut > MAX_LINE:
            # The unfinished line is already too long: garbage, skipped to its end.
            _matches(text[:cut], bounds, table, span, minutes)
            pending, skipping = b"\n", True
            continue
        _matches(text[:cut], bounds, table, span, minutes)
        pending = text[cut:]


def _matches(body, bounds, table, span, minutes):
    """Fold one block's whostmgrd lines into the table: {(owner, name): [latest use,
    uses] per stretch}, stretch i holding the uses after bounds[i - 1] up to bounds[i]
    (keys stay bytes until the end: read_splits decodes each token's key once)."""
    oldest, newest = span
    width = 2 * (len(bounds) + 1)
    single = bounds[0] if len(bounds) == 1 else None
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
        entry = table.get(key)
        if entry is None:
            entry = table[key] = [0] * width
        if single is not None:
            at = 0 if stamp <= single else 2
        else:
            at = 2 * bisect_left(bounds, stamp)
        if stamp > entry[at]:
            entry[at] = stamp
        entry[at + 1] += 1
    span[0], span[1] = oldest, newest


def _decoded(table):
    out = {}
    for (owner, name), value in table.items():
        key = (owner.decode("utf-8", "replace"), name.decode("utf-8", "replace"))
        old = out.get(key)
        if old is not None:  # two byte spellings of one name: merge, stretch by stretch
            value = [max(a, b) if i % 2 == 0 else a + b
                     for i, (a, b) in enumerate(zip(old, value))]
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
