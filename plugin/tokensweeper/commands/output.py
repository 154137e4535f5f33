"""What the commands print: tables fitted to the terminal, JSON, progress, plurals."""

import json
import os
import shutil
import sys
import time

ALWAYS_SHOWN = 3  # owner, name, state: a row means nothing without them


def day(epoch):
    return "never" if epoch is None else time.strftime("%Y-%m-%d", time.gmtime(epoch))


def table(rows, headers):
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def emit_json(document):
    print(json.dumps(document, indent=2, sort_keys=True))


def progress(message):
    if sys.stderr.isatty():
        print(message, file=sys.stderr)


def plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def terminal_width():
    """The width to fit a table in: COLUMNS when set, else the terminal's; None (no limit)
    when standard output is a pipe or a file, so scripts and `grep` see every column."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def column_width(header, rows):
    return max([len(header)] + [len(str(row[header])) for row in rows])


def cut_to_fit(rows, headers, column, width, longest=24):
    """When the whole table is wider than `width`, cut `column`'s long cells (a protection
    rule's words) to `longest` characters or less, ending "...", so that more columns fit.
    True if any was cut."""
    if sum(column_width(h, rows) + 2 for h in headers) - 2 <= width:
        return False
    others = sum(column_width(h, rows) + 2 for h in headers[:ALWAYS_SHOWN] if h != column)
    room = max(min(longest, width - others), len(column), 16)
    cut = False
    for row in rows:
        text = str(row[column])
        if len(text) > room:
            row[column] = text[:room - 3] + "..."
            cut = True
    return cut


def fit_columns(headers, rows, width):
    """(shown, hidden): the columns of `headers`, in order, that fit `width` (two spaces
    between columns), skipping any too wide for what is left; the first ALWAYS_SHOWN are
    kept whatever the width."""
    if width is None:
        return list(headers), []
    shown, hidden, used = [], [], -2
    for index, header in enumerate(headers):
        column = column_width(header, rows)
        if used + 2 + column > width and index >= ALWAYS_SHOWN:
            hidden.append(header)
            continue
        shown.append(header)
        used += 2 + column
    return shown, hidden
