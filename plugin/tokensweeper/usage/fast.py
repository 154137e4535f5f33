"""The fast block reader's patterns, one pair per UTC offset."""

import operator
import re

# ---------------------------------------------------------------- parsing


_stamp_of = operator.itemgetter(0)
_pair_of = operator.itemgetter(1)
_PAIR_SEPARATOR = b", User: ['"
# Every line of a plain whostmgrd block holds this; counting it (C speed) tells at once
# whether the block also holds other services' lines.
_WHOSTMGRD_MARK = b"] info [whostmgrd] "
_FAST = {}  # UTC offset -> (loose, strict) patterns
# A stamp with its digits made zeros, and where its tens of minutes and seconds are.
_STAMP_SHAPE = b"0000-00-00 00:00:00"
_STAMP_LEN = len(_STAMP_SHAPE)
_MINUTE_TENS = 14
_SECOND_TENS = 17
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_UNDER_SIX = b"012345"


def _fast_patterns(offset):
    """The patterns of the fast path for lines written at UTC `offset` (e.g. b"+0300").

    Two groups per line: its time, and its Host/Status part with its user and
    token as one string (the "pair"). The offset is part of the pattern, so
    within a block every matched time is in one zone and the plain text of two
    times compares like the times do. The time is any 19 characters here:
    `_Scan._possible_stamps` checks every one of them at once, for less than
    matching them digit by digit costs.
    `loose` lets its gaps cross newlines (much faster in `re`); it is only
    trusted when every line of the block matched, which proves no match ran
    over two lines. `strict` cannot cross a newline, for blocks that also hold
    other services' lines.
    """
    patterns = _FAST.get(offset)
    if patterns is None:
        shape = (br"\n\[(.{19}) " + re.escape(offset) +
                 br"\] info \[whostmgrd\] ([^,%s]*, User: "
                 br"\['[^'%s]*'\], Token Name: \['[^'%s]*)'\]")
        patterns = (re.compile(shape % (b"", b"", b"")),
                    re.compile(shape % (b"\n", b"\n", b"\n")))
        _FAST[offset] = patterns
    return patterns
