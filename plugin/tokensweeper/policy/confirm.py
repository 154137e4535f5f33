"""Confirmation checks: what changed between a preview and the revocation it confirms."""

from .words import GONE, day


def identity_key(identity):
    """(holder, name) of an identity string "HOLDER:NAME:CREATE_TIME:DIGEST" (Token.identity),
    the holder naming the kind ("bob@cpanel"): Token.key()."""
    owner, _, rest = identity.partition(":")
    return owner, rest.split(":", 1)[0]


def confirmation_changes(confirmed, plan):
    """What differs between the tokens a person confirmed (identity strings) and the
    plan made now, in sentences; empty when they are the same tokens, unchanged.

    The plan's items hold every token listed now for the owners concerned (a policy
    plan: all of them; a plan for names: the names asked for), so a confirmed token
    that is not among them is gone.
    """
    planned = {token.identity() for token in plan.to_revoke()}
    listed = {item.token.key(): item for item in plan.items if item.decision != GONE}
    changes = []
    for identity in sorted(set(confirmed) - planned):
        key = identity_key(identity)
        item = listed.get(key)
        label = "%s/%s" % key
        if item is None:
            changes.append("%s is no longer listed (revoked or removed meanwhile)" % label)
        elif identity.count(":") != 3:
            changes.append("%s: the confirmation did not say which token of that name it "
                           "meant (no creation time)" % label)
        elif item.token.identity() != identity:
            if identity.split(":")[2] != str(item.token.create_time):
                changes.append("%s was re-created under the same name (the token listed now was "
                               "created %s)" % (label, day(item.token.create_time)))
            else:
                changes.append("%s was changed (expiry, ACLs or IP limit)" % label)
        else:
            changes.append("%s is no longer selected: %s" % (label, item.reason))
    confirmed_keys = {identity_key(identity) for identity in confirmed}
    for token in plan.to_revoke():
        if token.key() not in confirmed_keys:
            changes.append("%s/%s is newly selected: %s" % (token.holder, token.name,
                                                            plan.reason_of(token)))
    return changes
