"""WHM API tokens (root and resellers): whmapi1 api_token_list / api_token_revoke, run
as each owner (--user). Owners: root, listresellers, and the users whose
`whostmgr/USER.json` token file holds tokens (owners.find_owners)."""

from ..owners import find_owners, take_inventory
from ..tokens import WHM, TokenDataError, parse_token_list
from ..whmapi import WhmapiBadOutput, WhmapiError

KIND = WHM


def find_holders(client, owners=None, resellers=None):
    """Every WHM token owner, or the `owners` asked for. `resellers` selects cPanel
    accounts' tokens only: no WHM owner then."""
    if resellers:
        return [], []
    if owners is not None:
        return list(owners), []
    return find_owners(client)


def inventory(client, owners, parallel=4):
    return take_inventory(client, owners, parallel)


def listings(client, owners, parallel=4):
    """{owner: {name: Token} or error sentence}, one api_token_list per owner."""
    def list_one(owner):
        try:
            return owner, _listing(client, owner)
        except (WhmapiError, TokenDataError) as error:
            return owner, str(error)

    return dict(_pooled(list_one, owners, parallel))


def revoke(client, names_by_owner, parallel=4):
    """{owner: error sentence or None}: batched api_token_revoke calls per owner."""
    def revoke_one(owner):
        try:
            client.revoke_tokens(owner, names_by_owner[owner])
            return owner, None
        except WhmapiError as error:
            return owner, str(error)  # a batch may still have gone through: listing decides

    return dict(_pooled(revoke_one, sorted(names_by_owner), parallel))


def update_ips(client, updates_by_owner, parallel=4):
    """{owner: {name: error sentence or None}}: each token's IP list set, one `batch` of
    api_token_update per owner (quarantine.py); the listing afterwards decides."""
    def update_one(owner):
        return owner, client.update_whitelists(owner, updates_by_owner[owner])

    return dict(_pooled(update_one, sorted(updates_by_owner), parallel))


def list_one(client, owner):
    """The owner's tokens now (raises WhmapiError, TokenDataError)."""
    return client.list_tokens(owner)


def require_owner(client, owner, error, status):
    """Only root's and resellers' WHM API tokens can be listed and revoked: any other name
    is a mistake of the command line, raised as error(message, status)."""
    if owner != "root" and owner not in client.list_resellers():
        raise error("%s is not root or a reseller: only their WHM API tokens can be revoked "
                    "(`tokensweeper list` shows every owner)" % owner, status)


def empty_listing(client, owner, error, status):
    """The owner listed no token: cPanel's own code lists a user who is no reseller that
    way too (result 1, no tokens), so a mistaken owner must not pass for one whose
    tokens are already gone."""
    require_owner(client, owner, error, status)


def selector_args(owner):
    """The command-line options that select this owner's tokens of this kind."""
    return "--owner %s" % owner


def check_hint(owner):
    return "tokensweeper list %s" % selector_args(owner)


def _listing(client, owner):
    """The owner's tokens by name, as listed now. Listing tolerates an answer without a token
    list (read as "no tokens"), but here that would pass for proof that every token went."""
    data = client.call("api_token_list", owner=owner)
    if data.get("tokens") is None:
        raise WhmapiBadOutput("api_token_list", owner, "the answer has no token list")
    return {token.name: token for token in parse_token_list(owner, data)}


def _pooled(work, items, parallel):
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # not on the overview's path

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(work, items))
