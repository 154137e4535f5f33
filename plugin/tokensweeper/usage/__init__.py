"""Last-used evidence for API tokens, from cPanel's api_tokens_log.

cPanel writes one line per token-authenticated request, in one of two shapes
(cpanel-facts.md §1): cPanel's own documentation shows it without the client's
address, and some servers write a `Host:` field before `HTTP Status`:

    [2017-02-07 19:07:13 -0600] info [whostmgrd] HTTP Status: ['200'], User: ['kingrichard'],
    Token Name: ['robin_of_loxley'],
    Request: ['GET /scripts2/reloadbind_local?dnsuniqid=baa HTTP/1.0']
    [2026-05-19 10:01:10 +0300] info [whostmgrd] Host: ['10.0.0.1'] HTTP Status: ['200'],
    User: ['root'], Token Name: ['phclient'], Request: ['GET /json-api/listaccts HTTP/1.1']

Both are read; a use without an address is shown without one. Only lines of
the `[whostmgrd]` service are uses of WHM tokens: another service's line
(a cPanel account's token, whose owner may share a reseller's name and token
name) is counted as a line, never as a use.

It is the only "last used" signal cPanel has, and it rotates: a token missing
from the log is UNKNOWN unless the log reaches back to before the token was
created. Every answer here keeps that distinction.

Reading is streamed in fixed-size blocks (memory does not grow with the log)
and cached per file in the state dir, so a page load reads only the bytes
appended since the previous load. Files are recognised by identity (device,
inode, size, mtime and a hash of their first bytes), never by name, so a
rotation between two loads (api_tokens_log -> api_tokens_log.1 or
api_tokens_log.bkup, new empty api_tokens_log) is neither missed nor counted
twice.

The package: facts (UsageFacts, the per-token and per-address evidence), files
(discovery, file identity, reading plain, compressed or in two processes), scan (the
exact and the fast line readers), fast (the fast reader's patterns) and cache. Its
entry point is load_usage, here; the public names of its modules are importable from here.
"""

import os

from .cache import (  # noqa: F401
    CACHE_NAME,
    CACHE_VERSION,
    _read_cache,
    _write_cache,
)
from .facts import (  # noqa: F401
    DAY,
    AddressUse,
    TokenUsage,
    UsageFacts,
    address_in,
    describe_address,
)
from .files import (  # noqa: F401
    ACTIVE_NAME,
    ARCHIVE_SUBDIR,
    HEAD_SIZE,
    LOG_DIR,
    PARALLEL_MIN,
    _discover,
    _load_file,
)
from .scan import (  # noqa: F401
    ADDRESS_CAP,
    BLOCK_SIZE,
    FLUSH_PAIRS,
    MAX_LINE,
    _add_use,
    _merge_addresses,
    _pick,
)


def load_usage(cpanel_root=None, state_dir=None):
    """Read api_tokens_log and its rotated siblings into UsageFacts.

    Uses (and refreshes) the cache in `state_dir`; works without it when the
    state dir cannot be written. Never raises for a bad or unreadable log:
    such problems are listed in `facts.errors`.
    """
    if cpanel_root is None or state_dir is None:
        from tokensweeper import paths
        cpanel_root = paths.cpanel_root() if cpanel_root is None else cpanel_root
        state_dir = paths.state_dir() if state_dir is None else state_dir
    log_dir = os.path.join(cpanel_root, *LOG_DIR)
    cache_path = os.path.join(state_dir, CACHE_NAME)
    cached, cached_json = _read_cache(cache_path, log_dir)
    states, errors, bytes_read = [], [], 0
    for path in _discover(log_dir):
        is_live = path == os.path.join(log_dir, ACTIVE_NAME)
        state, nread, error = _load_file(path, cached, active=is_live)
        bytes_read += nread
        if error:
            errors.append(f"{os.path.basename(path)}: {error}")
        if state is not None:
            states.append(state)
    fresh_json = [s.to_json() for s in states if s.cacheable]
    if fresh_json != cached_json:  # an unchanged log costs no write
        _write_cache(cache_path, log_dir, fresh_json)
    facts = _merge(states)
    facts.bytes_read = bytes_read
    facts.errors = tuple(errors)
    return facts


# ---------------------------------------------------------------- merge


def _merge(states):
    """One UsageFacts from every file, oldest content first so ties go to the newer file."""
    states = sorted(states, key=lambda s: (s.oldest is not None, s.oldest or 0, s.newest or 0))
    tokens, addresses = {}, {}
    oldest = newest = None
    malformed = lines = 0
    for state in states:
        oldest = _pick(min, oldest, state.oldest)
        newest = _pick(max, newest, state.newest)
        malformed += state.malformed
        lines += state.lines
        for key, (last, ip, uses) in state.tokens.items():
            _add_use(tokens, key, last, ip, uses)
        _merge_addresses(addresses, state.addresses)
    usage = {key: TokenUsage(v[0], v[1], v[2]) for key, v in tokens.items()}
    seen = {key: (tuple(AddressUse(ip, *v) for ip, v in ips.items()), dropped)
            for key, (ips, dropped) in addresses.items()}
    return UsageFacts(usage, oldest, newest, malformed, lines, [s.path for s in states], seen)
