"""The only place front ends read the time.

TOKENSWEEPER_NOW (an epoch) pins it for tests and demos, for every front end
alike: the command, the hook and the page.
"""

import os
import re
import time

# Whole seconds since 1970 (longer numbers are out of range anyway: said so below).
PINNED_RE = re.compile(r"^[0-9]{1,30}\Z")
LAST_YEAR = 9999  # datetime's and strftime's range everywhere the plugin formats a time


class ClockError(ValueError):
    """TOKENSWEEPER_NOW is set to something that is not a usable time."""


def now(environ=None):
    """The current epoch, or TOKENSWEEPER_NOW when set. Raises ClockError for a pinned
    value that is not a whole number of seconds or is out of the platform's range."""
    environ = os.environ if environ is None else environ
    pinned = (environ.get("TOKENSWEEPER_NOW") or "").strip()
    if not pinned:
        return int(time.time())
    if not PINNED_RE.match(pinned):
        raise ClockError("TOKENSWEEPER_NOW=%s is not a time: expected whole seconds since "
                         "1970 (an epoch like 1790000000), or unset it" % ascii(pinned[:40]))
    value = int(pinned)
    try:
        in_range = time.gmtime(value).tm_year <= LAST_YEAR
    except (OverflowError, OSError, ValueError):
        in_range = False
    if not in_range:
        raise ClockError("TOKENSWEEPER_NOW=%s is beyond the last time this platform can "
                         "show (year %d); unset it" % (pinned, LAST_YEAR))
    return value
