"""The per-file cache in the state dir."""

import json
import re

from tokensweeper import statefiles

from .files import HEAD_SIZE, _FileState

CACHE_NAME = "usage-cache.json"
# 2: lines without Host: are read, other services' lines are not uses, last_ip may be null.
# 3: each token's addresses, with first and last use from each (incident response).
CACHE_VERSION = 3
# ---------------------------------------------------------------- cache


def _read_cache(cache_path, log_dir):
    """(cached file states by (dev, inode), the raw entries); ({}, None) without a usable cache."""
    try:
        data = json.loads(statefiles.read_bytes(cache_path).decode("utf-8"))
    except (OSError, ValueError):
        return {}, None
    if not isinstance(data, dict):
        return {}, None
    if data.get("version") != CACHE_VERSION or data.get("log_dir") != log_dir:
        return {}, None
    entries = data.get("files")
    if not isinstance(entries, list):
        return {}, None
    states = {}
    for entry in entries:
        try:
            state = _FileState.from_json(entry)
        except (KeyError, TypeError, ValueError):
            continue  # one damaged entry costs a re-read of that file, nothing more
        if not _plausible(state):
            continue  # never trusted: that file is read again
        states[state.identity()] = state
    return states, entries


def _plausible(state):
    """Whether a cache entry could describe a real file. An entry whose fingerprint is
    empty would match ANY file at that inode (and skip its content), so it is ignored, as
    is one that claims more than the file held: a cache is a shortcut, never evidence."""
    return (
        state.head_len == min(state.size, HEAD_SIZE) and state.head_len > 0
        and re.match(r"^[0-9a-f]{64}\Z", state.head_sha) is not None
        and 0 <= state.offset <= state.size
        and (state.codec == "plain" or state.offset == 0)
        and state.lines >= 0 and 0 <= state.malformed <= state.lines
        and all(uses > 0 for _, _, uses in state.tokens.values())
        and all(uses > 0 and first <= last
                for ips, _ in state.addresses.values() for first, last, uses in ips.values())
    )


def _write_cache(cache_path, log_dir, entries):
    """Replace the cache atomically (0600); silently do without when it cannot be written."""
    data = {"version": CACHE_VERSION, "log_dir": log_dir, "files": entries}
    try:
        statefiles.write_atomically(
            cache_path, json.dumps(data, separators=(",", ":")).encode("utf-8"))
    except OSError:
        pass
