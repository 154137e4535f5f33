"""The Incident panel: the incident selectors on the page (issue 19).

A GET form (it changes nothing) previews a plan like any other selection and
shows, per token, the evidence that matched: the addresses in the given
networks with their first and last use. Durations are turned into times when
the preview is made, and the confirmation carries those times, so the plan
made again under the lock uses the very same instants.
"""

import time

from tokensweeper import incident
from tokensweeper.owners import valid_owner
from tokensweeper.policy import KEEP, PROTECTED, REVOKE, Selectors
from tokensweeper.tokens import KINDS

from .request import bad_request

FLAGS = (("full_access", "Full access"), ("no_ip_limit", "No IP limit"),
         ("no_expiry", "Never expires"))
TIMES = ("created_after", "created_before", "used_after")
MAX_NETWORKS = incident.MAX_NETWORKS
# What a field may hold: a time is at most a few dozen characters; 50 IPv6 networks in
# their longest spelling (45 + "/128") with separators fit in USED_FROM_LIMIT. Anything
# longer is refused whole, never cut (a cut list loses networks or changes the last one).
TIME_LIMIT = 100
USED_FROM_LIMIT = MAX_NETWORKS * 52


class Form(object):
    """What was typed, and the selectors it means (None when it is empty or wrong)."""

    def __init__(self, values, now):
        self.values = {name: values(name).strip() for name in TIMES}
        self.values["used_from"] = values("used_from")
        self.flags = {name: values(name) == "1" for name, _ in FLAGS}
        self.errors = []
        self.selectors = None
        times = {}
        for name in TIMES:
            if len(self.values[name]) > TIME_LIMIT:
                self.errors.append("%s: longer than %d characters (%d), so not read" % (
                    name.replace("_", " "), TIME_LIMIT, len(self.values[name])))
            elif self.values[name]:
                try:
                    times[name] = incident.parse_moment(self.values[name], now)
                except ValueError as error:
                    self.errors.append("%s: %s" % (name.replace("_", " "), error))
        networks = []
        typed = self.values["used_from"].replace(",", " ").split()
        if len(self.values["used_from"]) > USED_FROM_LIMIT:
            self.errors.append("used from: longer than %d characters (%d), so not read" % (
                USED_FROM_LIMIT, len(self.values["used_from"])))
            typed = []
        elif len(typed) > MAX_NETWORKS:
            self.errors.append("used from: at most %d networks, got %d" % (MAX_NETWORKS,
                                                                            len(typed)))
            typed = []
        for text in typed:
            try:
                networks.append(incident.parse_network(text))
            except ValueError as error:
                self.errors.append("used from: %s" % error)
        # Kind and owner narrow the selection (issue 30.8); alone they select nothing.
        self.values["kind"] = values("kind").strip()
        self.values["owner"] = values("owner").strip()
        self.kinds = None
        if self.values["kind"]:
            if self.values["kind"] not in KINDS:
                self.errors.append("kind: “%s” is none of %s" % (
                    self.values["kind"][:40], ", ".join(KINDS)))
            else:
                self.kinds = [self.values["kind"]]
        if self.values["owner"] and not valid_owner(self.values["owner"]):
            self.errors.append("owner: “%s” is not a cPanel user name" %
                               self.values["owner"][:40])
        if self.errors or not (times or networks or any(self.flags.values())):
            return
        self.selectors = Selectors(used_from=networks or None,
                                   owners=[self.values["owner"]] if self.values["owner"] else (),
                                   **dict(times, **{k: v for k, v in self.flags.items() if v}))

    def hidden_fields(self):
        """The confirmation's copy of this selection, with every time made absolute."""
        fields = [(name, _iso(getattr(self.selectors, name))) for name in TIMES
                  if getattr(self.selectors, name) is not None]
        fields += [("used_from", " ".join(self.selectors.used_from or ()))]
        fields += [(name, "1") for name, on in sorted(self.flags.items()) if on]
        fields += [(name, self.values[name]) for name in ("kind", "owner") if self.values[name]]
        return fields


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def form_from(request, now, posted=False):
    source = request.field if posted else request.arg
    form = Form(source, now)
    if posted and form.selectors is None:
        raise bad_request("The incident selection is missing or invalid: " +
                          ("; ".join(form.errors) or "no selector"))
    return form


class Evidence(object):
    """One planned token and the usage evidence that selected it."""

    def __init__(self, item, addresses, last_used):
        self.item = item
        self.token = item.token
        self.addresses = addresses  # AddressUse list (used_from), newest first
        self.last_used = last_used


def evidence_rows(plan, usage, selectors):
    rows = []
    for item in plan.items:
        if item.decision not in (REVOKE, PROTECTED):
            continue
        matched = []
        if selectors.used_from and item.token.usage_logged:
            _, _, matched = usage.used_from(item.token, selectors.networks(),
                                            selectors.used_after)
        rows.append(Evidence(item, matched, plan.last_used_of(item.token)))
    return rows


def counts(plan):
    return {"revoke": len(plan.with_decision(REVOKE)),
            "protected": len(plan.with_decision(PROTECTED)),
            "untouched": len(plan.with_decision(KEEP)) - len(plan.unjudged)}
