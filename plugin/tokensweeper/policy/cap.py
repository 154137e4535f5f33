"""The per-owner cap: how many of an owner's tokens one run may revoke."""

class CapShare(object):
    """How max_revoke_per_run splits an unattended run's tokens between owners.

    admitted: the tokens this run may revoke; refused: {owner: count} for owners whose own
    candidates alone exceed the cap; deferred: {owner: count} for owners that fit the cap
    alone but not into what this run has left.
    """

    def __init__(self, admitted, refused, deferred):
        self.admitted = admitted
        self.refused = refused
        self.deferred = deferred

    @property
    def held_back(self):
        return bool(self.refused or self.deferred)


def share_cap(tokens, cap):
    """Owners are independent: one owner over the cap is refused, never the whole run.

    Owners are admitted root first, then the owner that has waited longest (its oldest
    candidate was created first), then by ascending number of candidates (then name), while
    the run's total stays within the cap: a big owner cannot crowd out small ones, and a bad
    policy across the server still revokes at most `cap` tokens in one run. A deferred owner
    is left for the next run. Its turn always comes: were it only "fewest first", a reseller
    that re-created a few fewer stale tokens every day would be admitted before it forever;
    but nobody can create a token older than the ones already waiting, so each run clears
    the owner holding the oldest one."""
    by_owner = {}
    for token in tokens:
        by_owner.setdefault(token.holder, []).append(token)  # bob and bob@cpanel: two holders
    order = sorted(by_owner, key=lambda owner: (owner != "root", len(by_owner[owner]), owner))
    # Among the owners that can be admitted at all: one over the cap is refused anyway.
    waited_longest = min((owner for owner in order
                          if owner != "root" and len(by_owner[owner]) <= cap),
                         key=lambda owner: (min(t.create_time for t in by_owner[owner]),
                                            len(by_owner[owner]), owner),
                         default=None)
    if waited_longest is not None:
        order.remove(waited_longest)
        order.insert(1 if "root" in by_owner else 0, waited_longest)
    admitted, refused, deferred, total = [], {}, {}, 0
    for owner in order:
        count = len(by_owner[owner])
        if count > cap:
            refused[owner] = count
        elif total + count > cap:
            deferred[owner] = count
        else:
            admitted.extend(by_owner[owner])
            total += count
    return CapShare(admitted, refused, deferred)
