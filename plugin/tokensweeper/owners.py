"""Who owns WHM API tokens, and listing all their tokens.

Token functions only act on the tokens of the user they run as, so every
owner is listed separately: root, every reseller `listresellers` knows, and
every user whose token file holds tokens (that directory also finds owners
`listresellers` misses, such as a reseller whose privileges were removed; a
file cPanel left as `{"tokens":{}}` after the last revoke is no owner).
"""

import json
import os
import re

from . import paths, statefiles, tokenfiles
from .resellers import owner_acls, read_resellers
from .tokens import TokenDataError, parse_token_list
from .whmapi import WhmapiError

# cPanel user names are short lower-case words; anything else is refused so a
# name can never turn into an option or a path.
OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")


def _listing_time(value):
    """A remembered listing time, or None (unknown) for one no clock can show (a damaged
    cache: never a bool, nothing before 1970 or past year 9999) that would crash the page."""
    from .audit import MAX_EPOCH

    return value if type(value) is int and 0 <= value <= MAX_EPOCH else None


def valid_owner(name):
    return name == "root" or bool(OWNER_RE.match(name or ""))


def token_file_owners(token_dir=None, listed=()):
    """Users whose token file holds tokens, or cannot be read (then only whmapi1 can tell).
    Users in `listed` (listed anyway) are taken without reading their file. A missing or
    unreadable directory means none."""
    directory = token_dir or paths.token_dir()
    return [name for name in tokenfiles.users_with_files(directory)
            if name in listed or tokenfiles.may_hold_tokens(name, directory)]


def order_owners(names):
    """Root first when it is among them, then the rest sorted, without duplicates."""
    names = set(names)
    first = ["root"] if "root" in names else []
    return first + sorted(names - {"root"})


def find_owners(client):
    """Every WHM token owner. Returns (owners, problems): names that could not be trusted are
    left out and said in problems, never passed to whmapi1."""
    listed = ["root"] + client.list_resellers()
    found = listed + token_file_owners(listed=set(listed))
    problems = ["ignored the owner name %r: not a valid cPanel user name" % name
                for name in sorted(set(found)) if not valid_owner(name)]
    return order_owners(name for name in found if valid_owner(name)), problems


class Inventory(object):
    """Tokens of a set of owners, the owners whose listing failed (owner -> message), and
    notes: owners whose tokens could not be listed for a harmless reason (dormant)."""

    def __init__(self, owners, tokens, errors, notes=()):
        self.owners = owners
        self.tokens = tokens
        self.errors = errors
        self.notes = list(notes)


def dormant_note(owner):
    """Why a failed listing of `owner` is no error, or None: a user who has a token file but
    is no reseller (any more) cannot be listed with --user, and WHM accepts API tokens only
    from root and resellers, so those tokens cannot be used until the user is one again."""
    resellers = read_resellers()
    if owner == "root" or resellers is None or owner in resellers:
        return None  # a reseller, or no way to tell: a real failure
    if not tokenfiles.token_count(owner):  # no file, or cPanel's empty one: nothing dormant
        return None
    return ("%s has WHM API tokens on disk but is not a reseller: whmapi1 cannot list them, "
            "and WHM does not accept them while %s is not a reseller" % (owner, owner))


def take_inventory(client, owners, parallel=4):
    """List every owner's tokens, a bounded number of owners at a time (each call is slow)."""
    def list_one(owner):
        try:
            return owner, client.list_tokens(owner), None
        except (WhmapiError, TokenDataError) as error:
            return owner, [], str(error)

    # Remembered answers cost nothing: only the owners whmapi1 must be asked about go to the pool.
    remembers = getattr(client, "remembers", lambda owner: False)
    answers = [list_one(owner) for owner in owners if remembers(owner)]
    asked = [owner for owner in owners if not remembers(owner)]
    if asked:
        # Imported only now: a page answered from the listing cache starts no thread.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            answers += list(pool.map(list_one, asked))
    order = {owner: index for index, owner in enumerate(owners)}
    answers.sort(key=lambda answer: order[answer[0]])
    tokens = [token for _, listed, _ in answers for token in listed]
    errors, notes = {}, []
    for owner, _, error in answers:
        if error:
            note = dormant_note(owner)
            if note:
                notes.append(note)
            else:
                errors[owner] = error
    return Inventory(list(owners), tokens, errors, notes)


RESELLERS = ":resellers"  # not a user name, so it never collides with an owner
ABSENT = ["absent"]


def _identity(path):
    """What changes whenever cPanel rewrites the file: inode, size, mtime (ns). ABSENT when
    there is no such file, None when it cannot be told."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ABSENT
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


CPANEL_SUFFIX = "@cpanel"  # a cPanel account's remembered Tokens::list, by holder


def _plausible_cpanel(key, entry):
    """A remembered Tokens::list answer: a list; an absent file may only mean no tokens."""
    account = key[:-len(CPANEL_SUFFIX)]
    identity, data = entry["key"], entry.get("data")
    if account == "root" or not valid_owner(account) or not isinstance(data, list):
        return False
    if identity[:1] == ABSENT:
        return data == []
    return len(identity) == 3 and all(type(part) is int for part in identity)


def _plausible(key, entry):
    """Whether a remembered answer could be true. A key of a file that does not exist
    matches every owner without one, so such an entry may only say "no tokens" (there is no
    token file); anything else in it would add rows cPanel never listed."""
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), list):
        return False
    if key.endswith(CPANEL_SUFFIX):
        return _plausible_cpanel(key, entry)
    identity, data = entry["key"], entry.get("data")
    # A key is the file's identity (ABSENT, or inode, size, mtime), for a reseller followed
    # by its line in the resellers file.
    if identity[:1] == ABSENT:
        if key == RESELLERS:
            return False
        return isinstance(data, dict) and not data.get("tokens")
    if len(identity) < 3 or not all(type(part) is int for part in identity[:3]):
        return False
    if key == RESELLERS:
        return isinstance(data, list) and all(
            isinstance(name, str) and valid_owner(name) for name in data)
    return isinstance(data, dict) and valid_owner(key)


def _json(value):
    # Answers parsed from whmapi1's JSON hold no cycles: skipping the check is a third of
    # the encoding's time.
    return json.dumps(value, separators=(",", ":"), check_circular=False)


class CachedListings(object):
    """A client for read-only views that remembers each owner's api_token_list answer.

    cPanel rewrites an owner's token file on every create, update and revoke, so
    while that file's identity (inode, size, mtime) is unchanged the remembered
    answer is still the truth, and the page skips a whmapi1 call that costs
    hundreds of milliseconds per owner. Without a token directory nothing is
    remembered. Sweeps never use this: they must see the server as it is now.
    """

    def __init__(self, client, path=None, token_dir=None, now=None, fresh=False):
        """now: when this run lists (kept with each answer, so a page can say "listed at
        22:09"); fresh: ask whmapi1 for every owner (the page's Refresh) and remember that."""
        self.client = client
        self.path = path or paths.state_path("listing-cache.json")
        self.token_dir = token_dir or paths.token_dir()
        self.now = now
        self.fresh = fresh
        self.calls_saved = 0
        self._listed = {}  # owner -> when the answer used was listed (None: not known)
        self._entries = self._load()
        self._used = {}
        self._encoded = {}  # holder -> (its entry in _used, that entry as JSON, UTF-8)
        # A reseller's listing shows only its own ACLs, and WHM's setacls changes them in
        # the resellers file without touching the token file: its line is part of the key.
        self._resellers = read_resellers()
        if self._resellers is None and _identity(paths.resellers_file()) == ABSENT:
            self._resellers = {}  # no file: no resellers (unreadable would be unknown)

    def list_resellers(self):
        # listresellers reads cPanel's resellers file: its answer holds while the file does.
        key = _identity(paths.resellers_file())
        entry = self._entries.get(RESELLERS)
        if not self.fresh and key and key != ABSENT and entry and entry.get("key") == key:
            self.calls_saved += 1
            resellers = entry["data"]
        else:
            resellers = self.client.list_resellers()
        if key and key != ABSENT:
            self._used[RESELLERS] = {"key": key, "data": resellers}
        return resellers

    # cPanel accounts' Tokens::list answers are remembered the same way, keyed by the
    # identity of the account's `api_tokens_v2/cpanel/USER.json` (cPanel rewrites it on every
    # create, rename and revoke), under the holder "USER@cpanel".
    def uapi_chunks(self, calls):
        return self.client.uapi_chunks(calls)

    def run_uapi_chunk(self, chunk):
        """The answers of a group of UAPI calls: remembered Tokens::list answers whose
        token file is unchanged, the rest from one whmapi1 batch (none when all are)."""
        from .whmapi import UapiAnswer

        answers, asked = {}, []
        for index, call in enumerate(chunk):
            key, holder = self._uapi_key(call), call.user + CPANEL_SUFFIX
            entry = self._entries.get(holder)
            if key is not None and not self.fresh and entry and entry.get("key") == key:
                self.calls_saved += 1
                listed = entry.get("listed")
                self._listed[holder] = _listing_time(listed)
                self._used[holder] = entry
                answers[index] = UapiAnswer(call, data=entry["data"])
            else:
                asked.append(index)
        if asked:
            for index, answer in zip(asked, self.client.run_uapi_chunk(
                    [chunk[i] for i in asked])):
                answers[index] = answer
                call = chunk[index]
                key, holder = self._uapi_key(call), call.user + CPANEL_SUFFIX
                self._listed[holder] = self.now
                if answer.ok and key is not None and isinstance(answer.data, list):
                    self._used[holder] = {"key": key, "data": answer.data, "listed": self.now}
        return [answers[index] for index in range(len(chunk))]

    def _uapi_key(self, call):
        """The identity of the account's cPanel token file for a plain Tokens::list, else
        None (not remembered)."""
        if (call.module, call.function, call.params) != ("Tokens", "list", ()):
            return None
        directory = paths.cpanel_token_dir()
        if not valid_owner(call.user) or not os.path.isdir(directory):
            return None
        return _identity(os.path.join(directory, call.user + ".json"))

    def remembers(self, owner):
        key = self._key(owner)
        entry = self._entries.get(owner)
        return key is not None and bool(entry) and entry.get("key") == key

    def list_tokens(self, owner):
        if not self.fresh and self.remembers(owner):
            data, listed = self._entries[owner]["data"], self._entries[owner].get("listed")
            self.calls_saved += 1
        else:
            data, listed = self.client.call("api_token_list", owner=owner), self.now
        self._listed[owner] = _listing_time(listed)
        # Parse first: never remember a bad answer.
        tokens = parse_token_list(owner, data, owner_acls(owner, self._resellers))
        key = self._key(owner)
        if key is not None:
            entry = {"key": key, "data": data, "listed": listed}
            self._used[owner] = entry
            if data is not self._entries.get(owner, {}).get("data"):
                # A new answer is encoded now, in the thread that listed it, while the other
                # owners' whmapi1 calls run: save() then only joins the pieces.
                self._encoded[owner] = (entry, _json(entry).encode("utf-8"))
        return tokens

    def listed_at(self):
        """When the oldest answer used was listed: `now` when every owner was listed
        afresh; None when unknown (an answer remembered before listing times were kept)."""
        times = list(self._listed.values())
        return None if not times or None in times else min(times)

    def save(self):
        """Remember this run's answers (only owners seen now). Failing to write is harmless."""
        if self._used == self._entries:
            return
        # The same bytes as json.dumps(self._used) with the same options, piece by piece
        # (joined once: the pieces of 5,000 tokens are megabytes).
        encoded, self._encoded = self._encoded, {}
        parts = [b"{"]
        for holder, entry in self._used.items():
            known = encoded.get(holder)
            parts += [b"," if len(parts) > 1 else b"", _json(holder).encode("utf-8"), b":",
                      known[1] if known and known[0] is entry else _json(entry).encode("utf-8")]
        parts.append(b"}")
        body = b"".join(parts)
        del encoded, parts
        try:
            statefiles.write_atomically(self.path, body)
        except OSError:
            pass

    def _key(self, owner):
        if not os.path.isdir(self.token_dir):
            return None
        key = _identity(os.path.join(self.token_dir, owner + ".json"))
        if owner == "root" or key is None:
            return key
        if self._resellers is None:
            return None  # the reseller's ACLs cannot be told: ask whmapi1
        return key + [self._resellers.get(owner)]

    def _load(self):
        try:
            entries = json.loads(statefiles.read_bytes(self.path).decode("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(entries, dict):
            return {}
        return {key: entry for key, entry in entries.items() if _plausible(key, entry)}
