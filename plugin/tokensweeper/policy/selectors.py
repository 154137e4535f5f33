"""Selectors: what a run selects (the criteria, owners, kind and name filters)."""

import copy
import time


class Selectors(object):
    """What to select. Criteria are AND-ed (the command line) or OR-ed (the config's policy:
    a token is stale when it is expired OR too old OR unused). Names and owners only ever
    narrow what the criteria select: without a criterion nothing is selected, so a policy
    of only `owners: [bob]` or `names: ["*"]` is never "every token of bob" or "every
    token". every_token is the one explicit "all of them" (an account event's revoke_all)."""

    CRITERIA = (
        "every_token",
        "expired",
        "expiring_within_days",
        "older_than_days",
        "unused_for_days",
        "no_expiry",
        "full_access",
        "no_ip_limit",
        "created_after",
        "created_before",
        "used_after",
        "used_from",
    )
    # Criteria whose value is a UTC epoch (shown and recorded as a time), and those that
    # need usage evidence (without it they select nothing, and say so).
    TIME_CRITERIA = ("created_after", "created_before", "used_after")
    EVIDENCE_CRITERIA = ("unused_for_days", "used_after", "used_from")

    def __init__(
        self,
        every_token=False,
        expired=False,
        expiring_within_days=None,
        older_than_days=None,
        unused_for_days=None,
        no_expiry=False,
        full_access=False,
        no_ip_limit=False,
        names=(),
        owners=(),
        combine="all",
        created_after=None,
        created_before=None,
        used_after=None,
        used_from=None,
        resellers=(),
    ):
        if combine not in ("all", "any"):
            raise ValueError("combine must be 'all' or 'any'")
        self.every_token = every_token
        self.expired = expired
        self.expiring_within_days = expiring_within_days
        self.older_than_days = older_than_days
        self.unused_for_days = unused_for_days
        self.no_expiry = no_expiry
        self.full_access = full_access
        self.no_ip_limit = no_ip_limit
        # Incident response (incident.py parses them): epochs, and a tuple of canonical
        # networks or None. created_after/used_after include their instant, created_before
        # does not: --created-after D1 --created-before D2 is [D1, D2).
        self.created_after = created_after
        self.created_before = created_before
        self.used_after = used_after
        self.used_from = tuple(used_from) if used_from else None
        self._networks = None
        self.names = tuple(names)
        self.owners = tuple(owners)
        # Narrows to the tokens of cPanel accounts these resellers (or root) own.
        self.resellers = tuple(resellers)
        self.combine = combine

    def narrowed(self, owners=None, names=None, resellers=None):
        """The same criteria, limited to these owners, names and/or resellers' accounts."""
        narrowed = copy.copy(self)
        if owners:
            narrowed.owners = tuple(owners)
        if names:
            narrowed.names = tuple(names)
        if resellers:
            narrowed.resellers = tuple(resellers)
        return narrowed

    def active_criteria(self):
        return [name for name in self.CRITERIA if getattr(self, name) not in (None, False)]

    def selects_anything(self):
        """Whether any token can be selected: owners and names alone never select."""
        return bool(self.active_criteria())

    def networks(self):
        """used_from as ipaddress networks, parsed once."""
        if self._networks is None:
            from ..incident import networks

            self._networks = networks(self.used_from or ())
        return self._networks

    def _value(self, name):
        value = getattr(self, name)
        if name in self.TIME_CRITERIA:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
        if name == "used_from":
            return list(value)
        return value

    def to_dict(self):
        """What the audit log and --json record: only what is set."""
        out = {name: self._value(name) for name in self.active_criteria()}
        if self.names:
            out["names"] = list(self.names)
        if self.owners:
            out["owners"] = list(self.owners)
        if self.resellers:
            out["resellers"] = list(self.resellers)
        if len(self.active_criteria()) > 1:
            out["combine"] = self.combine
        return out

    def describe(self):
        """One line for people: 'expired or older_than_days=365, names ci-*, owners bob'."""
        criteria = [
            "%s=%s" % (n, self._describe_value(n)) if getattr(self, n) is not True else n
            for n in self.active_criteria()
        ]
        parts = [(" and " if self.combine == "all" else " or ").join(criteria)] if criteria else []
        if self.names:
            parts.append("names " + " ".join(self.names))
        if self.owners:
            parts.append("owners " + " ".join(self.owners))
        if self.resellers:
            parts.append("accounts of " + " ".join(self.resellers))
        return ", ".join(parts) or "nothing"


    def _describe_value(self, name):
        if name in self.TIME_CRITERIA:
            return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(getattr(self, name)))
        if name == "used_from":
            return ",".join(self.used_from)
        return getattr(self, name)
