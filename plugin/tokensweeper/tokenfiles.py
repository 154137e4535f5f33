"""cPanel's per-user WHM token files, `var/cpanel/authn/api_tokens_v2/whostmgr/USER.json`.

A file exists for every WHM user that ever had a token: cPanel keeps it as
`{"tokens":{}}` after the last one is revoked. So "has a file" is not "owns
tokens": where that decides anything (owner discovery, the hook's fast path)
the file's token count does. The records are keyed by a hash of each secret:
only their number is kept, never a key or a record.

Read by the hook's fast path, so it imports nothing but the standard library's
cheapest parts and paths.
"""

import json
import os

from . import paths

SUFFIX = ".json"


def token_file(user, token_dir=None):
    return os.path.join(token_dir or paths.token_dir(), user + SUFFIX)


def token_count(user, token_dir=None):
    """How many tokens `user`'s file holds: 0 without a file, None when the file cannot be
    read or is not cPanel's shape (then only whmapi1 can tell, so callers must ask it)."""
    try:
        with open(token_file(user, token_dir), "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError):
        return None
    tokens = document.get("tokens") if isinstance(document, dict) else None
    return len(tokens) if isinstance(tokens, dict) else None


def may_hold_tokens(user, token_dir=None):
    """False only when the file says `user` has no token (missing, or `{"tokens":{}}`)."""
    return token_count(user, token_dir) != 0


def users_with_files(token_dir=None):
    """Users with a token file, holding tokens or not. A missing or unreadable directory: none."""
    try:
        names = os.listdir(token_dir or paths.token_dir())
    except OSError:
        return []
    return [name[:-len(SUFFIX)] for name in names if name.endswith(SUFFIX)]
