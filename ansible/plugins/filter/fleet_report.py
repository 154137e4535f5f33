# Copyright (c) Token Sweeper contributors
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
# SPDX-License-Identifier: MIT

"""Filters that turn each server's `tokensweeper plan --json` and `list --json`
into one fleet report (a dict, written as JSON) and its HTML page.

They run on the Ansible controller only. The HTML page is self-contained (its
style is inline, it loads nothing, it runs no script) and every value from a
server is escaped: token names, owners and error messages are data, never markup.
"""

import html
import json
import time

DOCUMENTATION = """
name: fleet_report
short_description: Build Token Sweeper's fleet report from each server's plan and list
description:
  - Reads the registered results C(tokensweeper_plan_result) and C(tokensweeper_list_result)
    of every host and returns the fleet report as a dict.
options:
  _input:
    description: hostvars
    type: dict
    required: true
  hosts:
    description: the inventory names of the servers in the report
    type: list
    elements: str
    required: true
"""

# The words `tokensweeper list` uses for a token's state, in the order a reader wants them.
STATES = ("expired", "stale by policy", "expiring soon", "active", "protected")
PLAN_RESULT = "tokensweeper_plan_result"
LIST_RESULT = "tokensweeper_list_result"
PARTIAL = 3  # the command's exit status when some owners could not be listed


class ServerFailed(Exception):
    """A server whose answer cannot go into the report; the message says why."""


def _last_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _document(result, what):
    """The JSON a command printed, or ServerFailed saying why there is none."""
    if not result:
        raise ServerFailed("no answer to `tokensweeper %s` (the host was skipped or failed earlier)"
                           % what)
    if result.get("unreachable"):
        raise ServerFailed("unreachable: %s" % _last_line(result.get("msg")))
    if result.get("skipped"):
        raise ServerFailed("`tokensweeper %s` was skipped" % what)
    rc = result.get("rc")
    if rc not in (0, PARTIAL):
        why = _last_line(result.get("stderr")) or _last_line(result.get("msg")) or "no message"
        raise ServerFailed("`tokensweeper %s` exited %s: %s" % (what, rc, why))
    try:
        document = json.loads(result.get("stdout") or "")
    except ValueError:
        raise ServerFailed("`tokensweeper %s` did not print JSON" % what)
    if not isinstance(document, dict):
        raise ServerFailed("`tokensweeper %s` printed JSON that is not an object" % what)
    return document


def _count_by_state(tokens):
    counts = dict.fromkeys(STATES, 0)
    for token in tokens:
        state = token.get("state")
        counts[state] = counts.get(state, 0) + 1
    return counts


def _day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch)) if epoch else "never"


def _holder(item):
    """Who holds a token, kind included, as the plugin says it: "bob" for bob's WHM token,
    "bob@cpanel" for his cPanel account's (the same name may be both)."""
    kind = item.get("kind") or "whm"
    owner = item.get("owner")
    return owner if kind == "whm" else "%s@%s" % (owner, kind)


def _stale_tokens(plan):
    return [
        {
            "owner": item.get("owner"),
            "kind": item.get("kind") or "whm",
            "holder": _holder(item),
            "name": item.get("name"),
            "reason": item.get("reason"),
            "last_used": item.get("last_used") or "unknown",
            "created": _day(item.get("create_time")),
            "expires": _day(item.get("expires_at")),
            "full_access": bool(item.get("full_access")),
        }
        for item in plan.get("tokens") or []
        if item.get("decision") == "revoke"
    ]


def server_report(name, plan_result, list_result):
    """One server's part of the report: status ok | partial | failed."""
    try:
        plan = _document(plan_result, "plan --json")
        listing = _document(list_result, "list --json")
    except ServerFailed as failure:
        return {"server": name, "status": "failed", "error": str(failure)}
    tokens = listing.get("tokens") or []
    owners = {}
    for token in tokens:
        owners.setdefault(_holder(token), []).append(token)
    errors = dict(plan.get("owner_errors") or {})
    errors.update(listing.get("owner_errors") or {})
    return {
        "server": name,
        "status": "partial" if errors else "ok",
        "error": "; ".join("%s: %s" % (owner, errors[owner]) for owner in sorted(errors)) or None,
        "owner_errors": errors,
        "problems": sorted(set((plan.get("problems") or []) + (listing.get("problems") or []))),
        "tokens": len(tokens),
        "by_state": _count_by_state(tokens),
        "would_revoke": (plan.get("counts") or {}).get("revoke", 0),
        "policy": plan.get("selectors"),
        "owners": {owner: _count_by_state(owners[owner]) for owner in sorted(owners)},
        "stale": _stale_tokens(plan),
        "now": listing.get("now"),
    }


def fleet_report(hostvars, hosts, generated=None):
    """The fleet report from every host's registered plan and list results."""
    servers = []
    for name in sorted(set(hosts)):
        facts = hostvars.get(name) or {}
        servers.append(server_report(name, facts.get(PLAN_RESULT), facts.get(LIST_RESULT)))
    answered = [s for s in servers if s["status"] != "failed"]
    by_state = {state: sum(s["by_state"].get(state, 0) for s in answered) for state in STATES}
    return {
        "generated": generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "totals": {
            "servers": len(servers),
            "failed": len(servers) - len(answered),
            "partial": sum(1 for s in answered if s["status"] == "partial"),
            "tokens": sum(s["tokens"] for s in answered),
            "would_revoke": sum(s["would_revoke"] for s in answered),
            "by_state": by_state,
        },
        "failed": [{"server": s["server"], "error": s["error"]}
                   for s in servers if s["status"] != "ok"],
        "servers": servers,
    }


# -- the HTML page ----------------------------------------------------------------

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2939;
margin:0;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#596579;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #d9dee6;border-radius:6px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d9dee6}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e6e9ef;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#a4161a;font-weight:600}.partial{color:#8a5a00;font-weight:600}.ok{color:#1e6b31}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
.none{color:#596579;font-style:italic}
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers, rows, numeric=()):
    head = "".join('<th%s scope="col">%s</th>' % (' class="n"' if i in numeric else "", _e(h))
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>%s</tr>" % "".join(
            "<td%s>%s</td>" % (' class="n"' if i in numeric else "", cell)
            for i, cell in enumerate(row))
        for row in rows)
    return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, body)


def _none(text):
    return '<p class="none">%s</p>' % _e(text)


def _status(server):
    return '<span class="%s">%s</span>' % (_e(server["status"]), _e(server["status"]))


def fleet_report_html(report):
    """The report as one HTML page that needs nothing else to be read."""
    totals = report["totals"]
    servers = report["servers"]
    answered = [s for s in servers if s["status"] != "failed"]
    count_cols = tuple(range(2, 3 + len(STATES)))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Belt and braces: even a value that slipped past escaping could load nothing.
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Token Sweeper fleet report</title><style>%s</style></head><body><main>" % STYLE,
        "<h1>Token Sweeper fleet report</h1>",
        '<p class="meta">Generated %s from <code>tokensweeper plan --json</code> and '
        "<code>tokensweeper list --json</code> on each server; nothing was revoked.</p>"
        % _e(report["generated"]),
        '<div class="cards">%s</div>' % "".join(
            '<div class="card"><b>%s</b>%s</div>' % (_e(value), _e(label))
            for label, value in (
                ("servers", totals["servers"]),
                ("servers failed", totals["failed"]),
                ("tokens", totals["tokens"]),
                ("stale (would revoke)", totals["would_revoke"]),
                ("expired", totals["by_state"].get("expired", 0)),
            )),
        "<h2>Servers that failed</h2>",
    ]
    problems = [s for s in servers if s["status"] != "ok"]
    parts.append(_table(["server", "status", "why"],
                        [[_e(s["server"]), _status(s), _e(s["error"])] for s in problems])
                 if problems else _none("None: every server answered."))
    parts.append("<h2>Servers</h2>")
    parts.append(_table(
        ["server", "status", "tokens"] + list(STATES) + ["would revoke"],
        [[_e(s["server"]), _status(s), _e(s.get("tokens", "-"))]
         + [_e(s["by_state"].get(state, 0)) if "by_state" in s else "-" for state in STATES]
         + [_e(s.get("would_revoke", "-"))] for s in servers],
        numeric=count_cols + (3 + len(STATES),)))
    parts.append("<h2>Owners</h2>")
    owner_rows = [
        [_e(s["server"]), _e(owner), _e(sum(counts.values()))]
        + [_e(counts.get(state, 0)) for state in STATES]
        for s in answered for owner, counts in sorted(s["owners"].items())
    ]
    parts.append(_table(["server", "owner", "tokens"] + list(STATES), owner_rows,
                        numeric=count_cols)
                 if owner_rows else _none("No tokens on any server that answered."))
    parts.append("<h2>Stale tokens (a sweep with each server's policy would revoke them)</h2>")
    stale_rows = [
        [_e(s["server"]), _e(t["holder"]), "<code>%s</code>" % _e(t["name"]), _e(t["reason"]),
         _e(t["last_used"]), _e(t["created"]), _e(t["expires"]),
         "yes" if t["full_access"] else "no"]
        for s in answered for t in s["stale"]
    ]
    parts.append(_table(["server", "owner", "token", "why", "last used", "created", "expires",
                         "full access"], stale_rows)
                 if stale_rows else _none("None: no server's policy selects a token."))
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


class FilterModule(object):
    def filters(self):
        return {"fleet_report": fleet_report, "fleet_report_html": fleet_report_html}
