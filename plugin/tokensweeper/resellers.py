"""cPanel's resellers file, `var/cpanel/resellers`: one `user:acl,acl,...` line per reseller.

Read by the page's privilege check, the hook's fast path and the owner
listing, so it imports nothing but paths: it must stay cheap to load.
"""

from . import paths


def read_resellers():
    """{user: [acl, ...]}, or None when the file cannot be read (unknown, not "no resellers")."""
    try:
        with open(paths.resellers_file(), encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return None
    table = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, acls = line.partition(":")
        if name.strip() not in table:  # the first line of a user decides
            table[name.strip()] = [acl.strip() for acl in acls.split(",") if acl.strip()]
    return table


def reseller_acls(user):
    """The ACL list of `user`, or None when `user` is not a reseller (or the file is unreadable)."""
    return (read_resellers() or {}).get(user)


def is_reseller(user):
    return reseller_acls(user) is not None


def owner_acls(owner, table=None):
    """The privileges a token of `owner` can have at most, for tokens.has_full_access:
    None for root (its tokens show `all`) and when unknown; else the reseller's ACLs.
    `table`: an already read resellers file (read_resellers()), to read it once."""
    if owner == "root":
        return None
    if table is None:
        table = read_resellers()
    return (table or {}).get(owner)
