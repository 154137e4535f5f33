"""`tokensweeper list`: every owner's tokens with their state, fitted to the terminal."""

import sys

from ... import accounting, audit, export, quarantine
from ...policy import NOT_LOGGED, STATE_WORDS, state_of
from ...tokens import expiry_words
from ..arguments import kinds_from
from ..output import (
    cut_to_fit,
    day,
    emit_json,
    fit_columns,
    fitted,
    footnotes,
    plural,
    terminal_width,
    wrap,
)
from ..status import OK, PARTIAL, USAGE, CliError

# The list's columns, most telling first: a narrow terminal drops them from the right.
# The holder is the owner and, for a cPanel account's own token, its kind (bob@cpanel).
LIST_COLUMNS = ["holder", "name", "state", "kind", "last_used", "expires", "age_days",
                "full_access", "ip_limit", "created", "created_by", "account_of"]

NAME_CAP = {"name": 24}  # a longer name is wrapped when the terminal is narrow


def run(ctx, args):
    if args.csv and args.json:
        raise CliError("--csv and --json: choose one", USAGE)
    try:
        kinds = kinds_from(args, ctx.cfg)
    except ValueError as error:
        raise CliError(str(error), USAGE)
    selectors = ctx.cfg.selectors().narrowed(resellers=args.reseller)
    plan = ctx.plan(selectors, [args.owner] if args.owner else None, everyone=True, kinds=kinds)
    if args.reseller:  # only the tokens of those resellers' accounts
        plan.items = [i for i in plan.items if i.token.account_owner in args.reseller]
    protection = ctx.cfg.protection()
    rows, cells, inventory = [], [], []
    creations = accounting.read()  # who created each WHM token (cPanel's accounting.log)
    days = ctx.cfg.policy.get("quarantine_days") or 0
    held = quarantine.held_among((item.token for item in plan.items), days)
    for item in plan.items:
        token = item.token
        state, why = state_of(item, protection, ctx.now)
        entry = held.get(token.key())
        if entry is not None:
            state = "quarantined"
        if args.state and state not in args.state:
            continue
        row = {
            "owner": token.owner,
            "kind": token.kind,
            "account_of": token.account_owner if token.kind != "whm" else None,
            "name": token.name,
            "created": day(token.create_time),
            # The WHM user cPanel's accounting.log names; None (shown "unknown") when it
            # names nobody: cPanel accounts' tokens, transfers, restores, rotated-away lines.
            "created_by": accounting.creator(token, creations),
            "expires": expiry_words(token, day),
            "age_days": token.age_days(ctx.now),
            "last_used": (ctx.usage.describe(token, ctx.now) if token.usage_logged
                          else NOT_LOGGED),
            "full_access": token.full_access,
            "ip_limit": ", ".join(token.whitelist_ips) or "none",
            "state": STATE_WORDS.get(state, state),
            # Which rule protects it ("protected: ... (built-in rule WP-Dashboard)").
            "protected_by": why if state == "protected" else None,
        }
        if entry is not None:
            row.update(state="quarantined since %s%s" % (day(entry.since), (
                           ", revoked on %s if still selected" % day(entry.revoke_day(days)))
                           if days else ""),
                       quarantined_since=audit.iso(entry.since), quarantine_run=entry.run_id,
                       own_ip_list=entry.describe_originals(),
                       revoke_on=day(entry.revoke_day(days)) if days else None)
        rows.append(row)
        inventory.append(export.inventory_row(
            token, row["state"], row["protected_by"],
            row["last_used"] if token.usage_logged else "", row["created_by"]))
        cells.append({h: _cell(row, h, token) for h in LIST_COLUMNS})
    if args.csv:
        sys.stdout.write(export.csv_text(inventory))
        return PARTIAL if plan.owner_errors else OK
    if args.json:
        emit_json({"tokens": rows, "owner_errors": plan.owner_errors, "problems": plan.problems,
                   "now": audit.iso(ctx.now)})
        return PARTIAL if plan.owner_errors else OK
    width = None if args.wide else terminal_width()
    cut = width is not None and cut_to_fit(cells, LIST_COLUMNS, "state", width)
    notes = footnotes(cells, "last_used", [])  # cPanel tokens' "unknown (...)", said once
    headers, hidden = fit_columns(LIST_COLUMNS, cells, width, caps=NAME_CAP)
    print(fitted([[c[h] for h in headers] for c in cells], headers, width,
                 notes if "last_used" in headers else None))
    holders = {(r["owner"], r["kind"]) for r in rows}
    summary = "%s of %s" % (plural(len(rows), "token"), plural(len(holders), "owner"))
    if args.state:
        summary += " in state %s (of %s listed)" % (" or ".join(args.state),
                                                      plural(len(plan.items), "token"))
    print("\n" + summary)
    if hidden or cut:
        said = (["Hidden: " + ", ".join(hidden)] if hidden else []) + (
            ["%s cut short (...)" % ("states" if hidden else "States")] if cut else [])
        print("\n".join(wrap("%s to fit %d columns. `tokensweeper list --wide` or --json "
                             "shows every column whole." % ("; ".join(said), width), width)))
    return PARTIAL if plan.owner_errors else OK


def access_cell(token):
    """yes / yes (owner's privileges) / no: a reseller's full access is the reseller's own."""
    if not token.full_access:
        return "no"
    return "yes" if token.access_words == "full access" else "yes (owner's privileges)"


def _cell(row, header, token):
    if header == "holder":
        return token.holder
    if header == "account_of":
        return row["account_of"] or "-"
    if header == "created_by":
        return accounting.words(row["created_by"])
    if header == "full_access":
        return access_cell(token)
    if header == "state" and row["protected_by"]:
        return row["protected_by"]  # "protected: <why> (<which rule>)"
    return row[header]
