"""One token source per kind: how its owners are found, listed, revoked and verified.

The engine (sweep, policy, audit) and the front ends never ask which kind a token
is: they call the source of the token's kind. Each source module offers:

  KIND                                   "whm" or "cpanel"
  find_holders(client, owners=None, resellers=None) -> (owners, problems)
                                         who to list (the kind's own discovery;
                                         `owners`/`resellers` narrow it)
  inventory(client, owners, parallel) -> owners.Inventory
                                         tokens; errors and notes keyed by holder
  listings(client, owners, parallel) -> {owner: {name: Token} or error sentence}
                                         strict: for the revoke and its verification
  revoke(client, names_by_owner, parallel) -> {owner: error sentence or None}
                                         whatever it answers, the caller lists again
  check_hint(owner) -> str               the command that shows the owner's tokens now
  require_owner(client, owner, error, status), empty_listing(client, owner, error, status)
                                         the revoke command's checks of the owner named:
                                         raise error(message, status) when it owns none
"""

from ..tokens import CPANEL, KINDS, WHM

# The kinds an existing configuration without `kinds:` acts on: what it revoked before
# cPanel-account tokens were known (an upgrade never widens an enforce-mode policy).
DEFAULT_KINDS = (WHM,)


def source_for(kind):
    if kind == WHM:
        from . import whm

        return whm
    if kind == CPANEL:
        from . import cpanel

        return cpanel
    raise ValueError("unknown token kind %r (known: %s)" % (kind, ", ".join(KINDS)))


def ordered(kinds):
    """The kinds in their one display order, without duplicates."""
    return tuple(kind for kind in KINDS if kind in set(kinds))
