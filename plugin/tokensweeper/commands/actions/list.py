"""`tokensweeper list`: every owner's tokens with their state, fitted to the terminal."""

from ... import audit
from ...policy import STATE_WORDS, state_of
from ..output import cut_to_fit, day, emit_json, fit_columns, plural, table, terminal_width
from ..status import OK, PARTIAL

# The list's columns, most telling first: a narrow terminal drops them from the right.
LIST_COLUMNS = ["owner", "name", "state", "last_used", "expires", "age_days", "full_access",
                "ip_limit", "created"]

def run(ctx, args):
    plan = ctx.plan(ctx.cfg.selectors(), [args.owner] if args.owner else None, everyone=True)
    protection = ctx.cfg.protection()
    rows, cells = [], []
    for item in plan.items:
        token = item.token
        state, why = state_of(item, protection, ctx.now)
        if args.state and state not in args.state:
            continue
        row = {
            "owner": token.owner,
            "name": token.name,
            "created": day(token.create_time),
            "expires": day(token.expires_at),
            "age_days": token.age_days(ctx.now),
            "last_used": ctx.usage.describe(token, ctx.now),
            "full_access": token.full_access,
            "ip_limit": ", ".join(token.whitelist_ips) or "none",
            "state": STATE_WORDS[state],
            # Which rule protects it ("protected: ... (built-in rule WP-Dashboard)").
            "protected_by": why if state == "protected" else None,
        }
        rows.append(row)
        cells.append({h: _cell(row, h, token) for h in LIST_COLUMNS})
    if args.json:
        emit_json({"tokens": rows, "owner_errors": plan.owner_errors, "problems": plan.problems,
                   "now": audit.iso(ctx.now)})
        return PARTIAL if plan.owner_errors else OK
    width = None if args.wide else terminal_width()
    cut = width is not None and cut_to_fit(cells, LIST_COLUMNS, "state", width)
    headers, hidden = fit_columns(LIST_COLUMNS, cells, width)
    print(table([[c[h] for h in headers] for c in cells], headers))
    summary = "%s of %s" % (plural(len(rows), "token"), plural(len({r["owner"] for r in rows}),
                                                                    "owner"))
    if args.state:
        summary += " in state %s (of %s listed)" % (" or ".join(args.state),
                                                      plural(len(plan.items), "token"))
    print("\n" + summary)
    if hidden or cut:
        said = (["Hidden: " + ", ".join(hidden)] if hidden else []) + (
            ["%s cut short (...)" % ("states" if hidden else "States")] if cut else [])
        print("%s to fit %d columns. `tokensweeper list --wide` or --json shows every "
              "column whole." % ("; ".join(said), width))
    return PARTIAL if plan.owner_errors else OK


def access_cell(token):
    """yes / yes (owner's privileges) / no: a reseller's full access is the reseller's own."""
    if not token.full_access:
        return "no"
    return "yes" if token.access_words == "full access" else "yes (owner's privileges)"


def _cell(row, header, token):
    if header == "full_access":
        return access_cell(token)
    if header == "state" and row["protected_by"]:
        return row["protected_by"]  # "protected: <why> (<which rule>)"
    return row[header]
