"""cPanel's per-user WHM token files, `var/cpanel/authn/api_tokens_v2/whostmgr/USER.json`.

A file exists for every WHM user that ever had a token: cPanel keeps it as
`{"tokens":{}}` after the last one is revoked. So "has a file" is not "owns
tokens": where that decides anything (owner discovery, the hook's fast path)
the file's token count does. The records are keyed by a hash of each secret:
only their number is kept, never a key or a record.

One more reader, read_token_file, serves the removal snapshot when
`whmapi1 --user=X api_token_list` can no longer list X (terminatereseller
strips reseller status before the account's Remove hook runs): each token's
name, times, IP list and whether it has an ACL list, never the keys.
Nothing here writes these files.

Read by the hook's fast path, so it imports nothing but the standard library's
cheapest parts and paths (the token parser is imported by read_token_file only).
"""

import json
import os
import stat

from . import paths

SUFFIX = ".json"
# A real file holds a few hundred bytes per token; anything far bigger is not a token file.
MAX_BYTES = 32 * 1024 * 1024
# Never wait on a FIFO nor follow a link out of the token directory: cPanel writes
# regular files there, so anything else is only whmapi1's to judge.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class TokenFileError(Exception):
    """The token file could not be read or is not in cPanel's shape."""


def token_file(user, token_dir=None):
    return os.path.join(token_dir or paths.token_dir(), user + SUFFIX)


def token_count(user, token_dir=None):
    """How many tokens `user`'s file holds: 0 without a file, None when the file cannot be
    read or is not cPanel's shape (then only whmapi1 can tell, so callers must ask it)."""
    try:
        document = _load(token_file(user, token_dir))
    except FileNotFoundError:
        return 0
    except TokenFileError:
        return None
    if document == {}:
        return 0  # an empty file or `null` (see _load)
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


def read_token_file(owner, token_dir=None):
    """The tokens in `owner`'s file as tokens.Token, sorted by name; [] when it holds none.

    A record without an ACL list has full access (shown as `all`, as root's
    listing does); one with a list has exactly those ACLs. Raises TokenFileError.
    """
    from .tokens import TokenDataError, parse_token

    path = token_file(owner, token_dir)
    try:
        document = _load(path)
    except FileNotFoundError:
        raise TokenFileError("cannot open %s: no such file" % path)
    records = document.get("tokens") if isinstance(document, dict) else None
    if records is None or records == []:
        return []
    if not isinstance(records, dict):
        raise TokenFileError("%s's token file: 'tokens' is not an object" % owner)
    tokens = []
    for record in records.values():  # the keys are digests of the secrets: left alone
        if not isinstance(record, dict) or not isinstance(record.get("name"), str):
            raise TokenFileError("%s's token file holds a record without a name" % owner)
        listed = {field: record.get(field)
                  for field in ("name", "create_time", "expires_at", "whitelist_ips")}
        listed["acls"] = _acls(record.get("acls"))
        try:
            tokens.append(parse_token(owner, listed["name"], listed))
        except TokenDataError as error:
            raise TokenFileError(str(error))
    return sorted(tokens, key=lambda token: token.name)


def read_records(user, token_dir):
    """The records of `user`'s token file in `token_dir` ({digest: record}; the digests are
    the caller's to leave alone). Raises TokenFileError (also when there is no file)."""
    path = token_file(user, token_dir)
    try:
        document = _load(path)
    except FileNotFoundError:
        raise TokenFileError("cannot open %s: no such file" % path)
    records = document.get("tokens") if isinstance(document, dict) else None
    if records is None or records == []:
        return {}
    if not isinstance(records, dict):
        raise TokenFileError("%s's token file: 'tokens' is not an object" % user)
    return records


def _acls(stored):
    """The file's ACL list as a listing would show it: absent = full access (`all`)."""
    if stored is None:
        return {"all": 1}
    if isinstance(stored, list):
        # The file lists the granted ACLs only: a list without `all` is a limited token
        # (`all: 0`, as root's listing says it), whatever a reseller's listing would show.
        granted = dict.fromkeys((acl for acl in stored if isinstance(acl, str)), 1)
        granted.setdefault("all", 0)
        return granted
    return stored  # an unexpected shape: parse_token judges it


def _load(path):
    """The JSON document in the regular file at `path`. Raises FileNotFoundError when there
    is none, TokenFileError for anything else that is not a readable cPanel token file: a
    symlink (not followed), a FIFO or device (never waited on), over MAX_BYTES, not JSON."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise TokenFileError("cannot open %s: %s" % (path, error.strerror or error))
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise TokenFileError("%s is not a regular file" % path)
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise TokenFileError("cannot read %s: %s" % (path, error.strerror or error))
    if len(data) > MAX_BYTES:
        raise TokenFileError("%s is larger than any token file" % path)
    if not data:
        # cPanel leaves an empty file after `api_token_revoke` of an unknown name for a
        # user who had none (tests/contract), and `null` after UAPI `Tokens::revoke` does
        # the same; its reader takes both as no tokens (APITokens.pm _read_data: `|| {}`).
        return {}
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise TokenFileError("%s is not JSON: %s" % (path, error))
    return {} if document is None else document
