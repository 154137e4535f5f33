"""Who owns WHM API tokens, and listing all their tokens.

Token functions only act on the tokens of the user they run as, so every
owner is listed separately: root, every reseller `listresellers` knows, and
every user with a token file (that directory also finds owners
`listresellers` misses, such as a reseller whose privileges were removed).
"""

import os
import re
from concurrent.futures import ThreadPoolExecutor

from . import paths
from .tokens import TokenDataError
from .whmapi import WhmapiError

# cPanel user names are short lower-case words; anything else is refused so a
# name can never turn into an option or a path.
OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def valid_owner(name):
    return name == "root" or bool(OWNER_RE.match(name or ""))


def token_file_owners(token_dir=None):
    """Users with a token file. A missing or unreadable directory means none."""
    directory = token_dir or paths.token_dir()
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [name[:-len(".json")] for name in names if name.endswith(".json")]


def order_owners(names):
    """Root first when it is among them, then the rest sorted, without duplicates."""
    names = set(names)
    first = ["root"] if "root" in names else []
    return first + sorted(names - {"root"})


def find_owners(client):
    """Every WHM token owner. Returns (owners, problems): names that could not be trusted are
    left out and said in problems, never passed to whmapi1."""
    found = ["root"] + client.list_resellers() + token_file_owners()
    problems = ["ignored the owner name %r: not a valid cPanel user name" % name
                for name in sorted(set(found)) if not valid_owner(name)]
    return order_owners(name for name in found if valid_owner(name)), problems


class Inventory(object):
    """Tokens of a set of owners, and the owners whose listing failed (owner -> message)."""

    def __init__(self, owners, tokens, errors):
        self.owners = owners
        self.tokens = tokens
        self.errors = errors

    def tokens_of(self, owner):
        return [token for token in self.tokens if token.owner == owner]


def take_inventory(client, owners, parallel=4):
    """List every owner's tokens, a bounded number of owners at a time (each call is slow)."""
    def list_one(owner):
        try:
            return owner, client.list_tokens(owner), None
        except (WhmapiError, TokenDataError) as error:
            return owner, [], str(error)

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        answers = list(pool.map(list_one, owners))
    tokens = [token for _, listed, _ in answers for token in listed]
    errors = {owner: error for owner, _, error in answers if error}
    return Inventory(list(owners), tokens, errors)
