"""cPanel's resellers file, `var/cpanel/resellers`: one `user:acl,acl,...` line per reseller.

Read by the page's privilege check and the hook's fast path, so it imports
nothing but paths: it must stay cheap to load.
"""

from . import paths


def reseller_acls(user):
    """The ACL list of `user`, or None when `user` is not a reseller (or the file is unreadable)."""
    try:
        with open(paths.resellers_file(), encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, acls = line.partition(":")
        if name.strip() == user:
            return [acl.strip() for acl in acls.split(",") if acl.strip()]
    return None


def is_reseller(user):
    return reseller_acls(user) is not None
