"""The line reader (_Scan): the exact reader, the fast block reader, and the per-token
and per-address records they fill."""

import calendar
import collections
import datetime
import re

from .fast import (
    _DIGITS_TO_ZERO,
    _MINUTE_TENS,
    _PAIR_SEPARATOR,
    _SECOND_TENS,
    _STAMP_LEN,
    _STAMP_SHAPE,
    _UNDER_SIX,
    _WHOSTMGRD_MARK,
    _fast_patterns,
    _pair_of,
    _stamp_of,
)

# Distinct addresses kept per token (memory stays bounded when a leaked token is used
# from a botnet): the most recently used are kept, and the latest use of any address
# that was not kept is remembered, so a question about that period says "cannot tell".
ADDRESS_CAP = 64
# The fast path's per-address tallies are decoded once this many (token, address) pairs
# have piled up, so they cannot grow with the log either.
FLUSH_PAIRS = 20000
BLOCK_SIZE = 2 << 20
# A "line" longer than this is garbage (or not a log at all): it is counted
# as one malformed line and skipped, so a file without newlines cannot make
# memory grow.
MAX_LINE = 64 * 1024

# Only [whostmgrd] lines are uses of WHM API tokens. Every pattern below starts
# at the newline before a line (each block is scanned with a newline in front),
# which lets `re` search for a literal instead of trying every position, and
# keeps a match from starting inside a line.
#
# The exact reading of a whostmgrd line, either shape. The lazy gaps take the
# FIRST "User:" and "Token Name:", so a request path that contains those words
# cannot spoof them; `[^\n]` keeps every match inside one line.
_EXACT_RE = re.compile(
    br"\n\[(\d{4}-\d\d-\d\d \d\d:\d\d):(\d\d) ([+-]\d{4})\] \w+ \[whostmgrd\]"
    br"(?: Host: \['([^'\n]*)'\])?[^\n]*?"
    br" User: \['([^'\n]*)'\][^\n]*?"
    br" Token Name: \['([^'\n]*)'\]")
# A line of another service: counted, never a use, never damage.
_OTHER_RE = re.compile(
    br"\n\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \w+ \[(?!whostmgrd\])[^\]\n]*\]")
# The UTC offset of a block's first ordinary whostmgrd line (see _fast_patterns).
_OFFSET_RE = re.compile(
    br"\n\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([+-]\d{4})\] info \[whostmgrd\] ")
_HOST_RE = re.compile(br"Host: \['([^'\n]*)'\]")
_KEY_SEPARATOR = b"'], Token Name: ['"

_MISSING = object()
class _Scan:
    """Streams blocks of log text into a _FileState.

    Each block of whole lines takes the fast path when it can: one pattern
    finds every line's time and its Host/Status part with its user and token
    as one string (a "pair": one token used from one address), and C code
    (Counter, dict) counts each pair's uses and keeps its first and last time.
    Pairs are decoded once, at the end of the file, when the UTC offset
    changes or when too many piled up; a token's latest line is its pair
    with the latest time. A block the fast path cannot vouch for (damaged
    lines, unknown fields, mixed offsets) is read exactly, line by line. Both
    give the same answer for every line they both accept.
    """

    def __init__(self, state):
        self.state = state
        self.agg = {}  # (owner bytes, name bytes) -> [last, ip bytes or None, uses]
        self.addr = {}  # (owner bytes, name bytes) -> [{ip bytes: [first, last, uses]}, dropped]
        self.oldest = None
        self.newest = None
        self.bytes_read = 0
        self._epochs = {}  # (b"YYYY-MM-DD HH:MM", b"+HHMM") -> UTC epoch of that minute
        # The fast path's raw results, for lines written at self._offset: per pair,
        # its uses, its first and last stamp, and the number of the line that gave
        # the last stamp (of two pairs of a token with the same last time, the later
        # line is the token's latest, as in a line-by-line reading).
        self._offset = None
        self._newest_stamp = None
        self._fast_lines = 0
        self._pair_uses = collections.Counter()
        self._pair_first = {}
        self._pair_last = {}
        self._pair_line = {}

    def run(self, read, final):
        """Parse everything `read` yields; return the bytes consumed.

        When not `final`, an unterminated last line is left unconsumed.
        """
        try:
            return self._blocks(read, final)
        finally:
            # Even when a compressed file ends too early, what was read counts.
            self._finish()

    def _blocks(self, read, final):
        consumed, pending, skipping = 0, b"", False
        while True:
            block = read(BLOCK_SIZE)
            if not block:
                break
            self.bytes_read += len(block)
            if skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    consumed += len(block)
                    continue
                consumed += cut + 1
                block, skipping = block[cut + 1:], False
            # The newline in front makes the first line look like every other one.
            text = b"\n" + pending + block
            end = text.rfind(b"\n") + 1
            if end > 1:
                self._scan(text, end)
                consumed += end - 1
            pending = text[end:]
            if len(pending) > MAX_LINE:
                self.state.lines += 1
                self.state.malformed += 1
                consumed += len(pending)
                pending, skipping = b"", True
        if final and pending:
            self._scan(b"\n" + pending + b"\n", len(pending) + 2)
            consumed += len(pending)
        return consumed

    def _scan(self, text, end):
        """Parse the whole lines in text[1:end] (text[0] and text[end - 1] are newlines)."""
        lines = text.count(b"\n", 0, end) - 1
        self.state.lines += lines
        if not self._fast(text, end, lines):
            # The fast path's pending lines come first in the file: decode them now, so
            # that on equal times this block's lines win, as in a line-by-line reading.
            self._flush()
            self._exact(text, end, lines)

    # -- fast path

    def _fast(self, text, end, lines):
        """Take the block through the fast path; False (nothing taken) when it cannot."""
        taken = self._fast_lines_of(text, end, lines)
        if taken is None:
            return False
        found, offset = taken
        if not found:
            return True  # only other services' lines: counted, nothing else to take
        stamps = list(map(_stamp_of, found))
        ordered = sorted(stamps)
        if not self._possible_stamps(ordered, offset):
            # A damaged or impossible time (Feb 30, 24:00): the exact reading counts that
            # line as damaged. Here it could become a token's latest line and hide that
            # token's real uses.
            return False
        if offset != self._offset:
            self._flush()
            self._offset = offset
        in_sequence = ordered == stamps and (self._newest_stamp is None or
                                             stamps[0] >= self._newest_stamp)
        if self._newest_stamp is None or ordered[-1] > self._newest_stamp:
            self._newest_stamp = ordered[-1]
        self._tally_pairs(list(map(_pair_of, found)), stamps, in_sequence)
        self._span(self._fast_epoch(ordered[0], offset), self._fast_epoch(ordered[-1], offset))
        if len(self._pair_uses) > FLUSH_PAIRS:
            self._flush()  # decoding early changes no answer; it keeps memory bounded
        return True

    def _fast_lines_of(self, text, end, lines):
        """(every line's (stamp, pair), UTC offset) when the fast path may take the block
        (every line a plain whostmgrd line, or another service's); ([], None) for a block of
        other services' lines only; None when it may not."""
        first = _OFFSET_RE.search(text, 0, end)
        if first is None:
            return None
        offset = first.group(1)
        loose, strict = _fast_patterns(offset)
        if text.count(_WHOSTMGRD_MARK, 0, end) >= lines:
            found = loose.findall(text, 0, end)
            if len(found) == lines:
                return found, offset
        # Other services' lines, or lines the fast path does not know: it may only
        # go on when those are all other services' lines, counted exactly.
        others = len(_OTHER_RE.findall(text, 0, end))
        found = strict.findall(text, 0, end)
        if len(found) + others != lines:
            return None
        return found, offset

    def _tally_pairs(self, pairs, stamps, in_sequence):
        """Per pair: uses, first and last stamp, and the number of its latest line."""
        first_seen, last_seen, last_line = self._pair_first, self._pair_last, self._pair_line
        number = self._fast_lines
        self._fast_lines += len(pairs)
        self._pair_uses.update(pairs)
        if in_sequence:
            # In time order after everything before it (the usual case): each pair's last
            # line is its latest, and only pairs never seen get a first stamp. All in C.
            known = len(last_seen)
            last_seen.update(zip(pairs, stamps))
            last_line.update(zip(pairs, range(number, number + len(pairs))))
            if len(last_seen) > known:  # new pairs (first_seen has the same keys)
                block_first = dict(zip(reversed(pairs), reversed(stamps)))
                new = set(block_first).difference(first_seen)  # looked up in the dict, in C
                first_seen.update(zip(new, map(block_first.__getitem__, new)))
            return
        # Out of order (concurrent writers): visit the lines by time; the stable sort keeps
        # the later of two lines with the same time last, as a line-by-line reading does.
        order = sorted(range(len(pairs)), key=stamps.__getitem__)
        pairs = list(map(pairs.__getitem__, order))
        stamps = list(map(stamps.__getitem__, order))
        numbers = [number + index for index in order]
        # dict() keeps the last value of a repeated key: the latest, or (reversed) the first.
        for pair, stamp in dict(zip(reversed(pairs), reversed(stamps))).items():
            known = first_seen.get(pair)
            if known is None or stamp < known:
                first_seen[pair] = stamp
        for pair, (stamp, line) in dict(zip(pairs, zip(stamps, numbers))).items():
            known = last_seen.get(pair)
            if known is None or stamp >= known:  # on a tie the later line wins
                last_seen[pair] = stamp
                last_line[pair] = line

    def _possible_stamps(self, ordered, offset):
        """Whether every (sorted) stamp is a real time at a real UTC offset.

        The pattern takes any 19 characters as the time (matching it digit by digit
        costs more than this whole check); C code checks them all at once here: digits
        where digits belong, minutes and seconds under 60 (a leap second's block is read
        line by line), and per date (found by bisection: the stamps are sorted) that
        the date is real and its latest hour is at most 23.
        """
        import bisect  # only a first reading of a log needs it, not a page reload

        joined = b"".join(ordered)
        if joined.translate(_DIGITS_TO_ZERO) != _STAMP_SHAPE * len(ordered):
            return False
        if (joined[_MINUTE_TENS::_STAMP_LEN].translate(None, _UNDER_SIX) or
                joined[_SECOND_TENS::_STAMP_LEN].translate(None, _UNDER_SIX)):
            return False
        start = 0
        while start < len(ordered):
            date = ordered[start][:10]
            if self._day(date, offset) is None:
                return False
            start = bisect.bisect_right(ordered, date + b"\xff", start)
            if ordered[start - 1][11:13] > b"23":
                return False
        return True

    def _day(self, date, offset):
        """UTC epoch of midnight of b"YYYY-MM-DD" at UTC `offset`; None when impossible.
        (Memoised with the minutes: the fast path looks up days, which are few.)"""
        return self._minute(date + b" 00:00", offset, b"00")

    def _fast_epoch(self, stamp, offset):
        """UTC epoch of a stamp the fast path accepted (its date already proven real)."""
        return (self._day(stamp[:10], offset) + int(stamp[11:13]) * 3600 +
                int(stamp[14:16]) * 60 + int(stamp[17:19]))

    def _flush(self):
        """Decode the fast path's pairs into self.agg and self.addr."""
        offset = self._offset
        latest = {}  # (owner, name) -> [stamp, line number, fields of its latest line, uses]
        for pair, uses in self._pair_uses.items():
            fields, _, key = pair.partition(_PAIR_SEPARATOR)  # fields hold no comma
            owner, _, name = key.partition(_KEY_SEPARATOR)
            last, line = self._pair_last[pair], self._pair_line[pair]
            known = latest.get((owner, name))
            if known is None:
                latest[(owner, name)] = [last, line, fields, uses]
            else:
                known[3] += uses
                if (last, line) > (known[0], known[1]):
                    known[0], known[1], known[2] = last, line, fields
            host = _HOST_RE.match(fields)
            _add_address(self.addr, (owner, name), host.group(1) if host else b"",
                         self._fast_epoch(self._pair_first[pair], offset),
                         self._fast_epoch(last, offset), uses)
        for (owner, name), (stamp, _, fields, uses) in latest.items():
            host = _HOST_RE.match(fields)
            self._add(owner, name, self._fast_epoch(stamp, offset),
                      host.group(1) if host else None, uses)
        self._newest_stamp = None
        self._pair_uses = collections.Counter()
        self._pair_first = {}
        self._pair_last = {}
        self._pair_line = {}

    # -- exact path

    def _exact(self, text, end, lines):
        matches = _EXACT_RE.findall(text, 0, end)
        others = len(_OTHER_RE.findall(text, 0, end))
        bad = lines - len(matches) - others
        oldest = newest = None
        for t_minute, t_sec, t_offset, ip, owner, name in matches:
            ts = self._minute(t_minute, t_offset, t_sec)
            if ts is None:
                bad += 1
                continue
            if oldest is None or ts < oldest:
                oldest = ts
            if newest is None or ts > newest:
                newest = ts
            self._add(owner, name, ts, ip or None, 1)
            _add_address(self.addr, (owner, name), ip, ts, ts, 1)
        if oldest is not None:
            self._span(oldest, newest)
        self.state.malformed += bad

    # -- shared

    def _minute(self, minute, offset, seconds):
        # Lines arrive in time order, so a small memo of minute -> epoch avoids
        # nearly all date arithmetic; it is bounded (memory stays flat).
        key = (minute, offset)
        base = self._epochs.get(key, _MISSING)
        if base is _MISSING:
            if len(self._epochs) > 4096:
                self._epochs.clear()
            base = self._epochs[key] = _minute_epoch(minute, offset)
        if base is None or int(seconds) > 60:
            return None
        return base + int(seconds)

    def _add(self, owner, name, ts, ip, uses):
        entry = self.agg.get((owner, name))
        if entry is None:
            self.agg[(owner, name)] = [ts, ip, uses]
            return
        entry[2] += uses
        if ts >= entry[0]:  # in file order, the later line wins a tie
            entry[0] = ts
            entry[1] = ip

    def _span(self, oldest, newest):
        self.oldest = _pick(min, self.oldest, oldest)
        self.newest = _pick(max, self.newest, newest)

    def _finish(self):
        self._flush()
        state = self.state
        state.oldest = _pick(min, state.oldest, self.oldest)
        state.newest = _pick(max, state.newest, self.newest)
        for (owner, name), (last, ip, uses) in self.agg.items():
            _add_use(state.tokens, (_text(owner), _text(name)), last,
                     None if ip is None else _text(ip), uses)
        self.agg = {}
        _merge_addresses(state.addresses, {
            (_text(owner), _text(name)): [{_text(ip): v for ip, v in ips.items()}, dropped]
            for (owner, name), (ips, dropped) in self.addr.items()})
        self.addr = {}


def _text(raw):
    return raw.decode("utf-8", "replace")


def _pick(fn, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)


def _add_use(tokens, key, last, ip, uses):
    entry = tokens.get(key)
    if entry is None:
        tokens[key] = [last, ip, uses]
        return
    entry[2] += uses
    if last >= entry[0]:
        entry[0], entry[1] = last, ip


def _add_address(table, key, ip, first, last, uses):
    """Count `uses` from address `ip` (b"" or "": none named) between first and last."""
    entry = table.get(key)
    if entry is None:
        entry = table[key] = [{}, None]
    ips = entry[0]
    known = ips.get(ip)
    if known is None:
        ips[ip] = [first, last, uses]
        if len(ips) > 2 * ADDRESS_CAP:  # trimmed now and then, not on every new address
            _trim_addresses(entry)
        return
    if first < known[0]:
        known[0] = first
    if last > known[1]:
        known[1] = last
    known[2] += uses


def _trim_addresses(entry):
    """Keep the ADDRESS_CAP most recently used addresses; remember the latest use of the rest."""
    ips, dropped = entry
    cap = ADDRESS_CAP
    if len(ips) <= cap:
        return
    ranked = sorted(ips.items(), key=lambda item: (item[1][1], item[0]), reverse=True)
    for ip, (_, last, _) in ranked[cap:]:
        del ips[ip]
        dropped = last if dropped is None else max(dropped, last)
    entry[1] = dropped


def _merge_addresses(into, more):
    """Add another reading's addresses (text keys) into `into`, trimmed to the cap."""
    for key, (ips, dropped) in more.items():
        entry = into.get(key)
        if entry is None:
            entry = into[key] = [{}, None]
        for ip, (first, last, uses) in ips.items():
            _add_address(into, key, ip, first, last, uses)
        if dropped is not None:
            entry[1] = dropped if entry[1] is None else max(entry[1], dropped)
        _trim_addresses(entry)


def _minute_epoch(minute, offset):
    """UTC epoch of b"YYYY-MM-DD HH:MM" written at UTC offset b"+HHMM"; None if invalid."""
    try:
        stamp = datetime.datetime(int(minute[0:4]), int(minute[5:7]), int(minute[8:10]),
                                  int(minute[11:13]), int(minute[14:16]))
    except ValueError:
        return None
    off_h, off_m = int(offset[1:3]), int(offset[3:5])
    if off_h > 23 or off_m > 59:
        return None
    shift = off_h * 3600 + off_m * 60
    if offset[:1] == b"-":
        shift = -shift
    return calendar.timegm(stamp.timetuple()) - shift
