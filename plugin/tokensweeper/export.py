"""The token inventory as CSV (issue 30.11): one row per token, the columns an auditor asks
for, shared by `tokensweeper list --csv` and the page's download. Pure: rows in, text out."""

import csv
import io
import time

from .tokens import expiry_words

# The inventory's columns, in order. Times are UTC; a cell with no value is empty.
CSV_COLUMNS = ("owner", "kind", "holder", "account_of", "name", "created", "created_by",
               "expires", "last_used", "state", "protected_by", "full_access", "ip_limit")

# A spreadsheet runs a cell that starts with one of these as a formula: a token name or a
# log's words must never run in the auditor's spreadsheet. Such a cell is written with a
# leading apostrophe, which spreadsheets show as text (OWASP's "CSV injection" advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def iso(epoch):
    return "" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def inventory_row(token, state_words, protected_by, last_used, created_by):
    """One token's CSV row (a dict of CSV_COLUMNS)."""
    return {
        "owner": token.owner,
        "kind": token.kind,
        "holder": token.holder,
        "account_of": token.account_owner if token.kind != "whm" else "",
        "name": token.name,
        "created": iso(token.create_time),
        "created_by": created_by or "",
        "expires": expiry_words(token, iso),
        "last_used": last_used or "",
        "state": state_words,
        "protected_by": protected_by or "",
        "full_access": "yes" if token.full_access else "no",
        "ip_limit": " ".join(token.whitelist_ips),
    }


def safe_cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows):
    """The inventory as CSV text (RFC 4180: CRLF line ends, a header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()
