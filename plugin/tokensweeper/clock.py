"""The only place front ends read the time.

TOKENSWEEPER_NOW (an epoch) pins it for tests and demos.
"""

import os
import time


def now():
    pinned = os.environ.get("TOKENSWEEPER_NOW", "").strip()
    return int(pinned) if pinned.isdigit() else int(time.time())
