"""What the commands print: tables fitted to the terminal, JSON, progress, plurals."""

import json
import os
import re
import shutil
import sys
import time

ALWAYS_SHOWN = 3  # owner, name, state: a row means nothing without them


def day(epoch):
    return "never" if epoch is None else time.strftime("%Y-%m-%d", time.gmtime(epoch))


# A cell's control characters as escapes: cPanel accepts a token name ending in a newline
# ("leak\n", tokens.LISTED_NAME_RE), which must stay on its row and look unlike "leak".
CONTROL = {code: "\\x%02x" % code for code in list(range(32)) + [127]}
CONTROL.update({ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"})


def cell(value):
    return str(value).translate(CONTROL)


def table(rows, headers):
    rows = [[cell(value) for value in row] for row in rows]
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


WIDTH_RE = re.compile(r"^[0-9]{1,6}\Z")


def terminal_width():
    """The width to fit a table in: COLUMNS when set, else the terminal's; None (no limit)
    when standard output is a pipe or a file, so scripts and `grep` see every column."""
    columns = os.environ.get("COLUMNS", "")
    # ASCII digits, and not thousands of them: int() refuses "²" and those.
    if WIDTH_RE.match(columns) and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def column_width(header, rows, caps=None):
    """The widest cell of a column (or its header); at most caps[header] when given, for a
    column `fitted` may wrap."""
    natural = max([len(header)] + [len(str(row[header])) for row in rows])
    return max(len(header), min(natural, (caps or {}).get(header, natural)))


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


def fit_columns(headers, rows, width, caps=None):
    """(shown, hidden): the columns of `headers`, in order, that fit `width` (two spaces
    between columns), skipping any too wide for what is left; the first ALWAYS_SHOWN are
    kept whatever the width. `caps`: the widths wrapped columns are counted at."""
    if width is None:
        return list(headers), []
    shown, hidden, used = [], [], -2
    for index, header in enumerate(headers):
        column = column_width(header, rows, caps)
        if used + 2 + column > width and index >= ALWAYS_SHOWN:
            hidden.append(header)
            continue
        shown.append(header)
        used += 2 + column
    return shown, hidden


MIN_WRAPPED = 10  # no column is wrapped narrower than this (or its header)


def fitted(rows, headers, width, notes=None, below=None):
    """A table no wider than `width` (None: no limit, as `table`). When it is too wide, the
    column named `below` (free text: a reason) leaves the table and is printed under each
    row, indented; then the widest columns are narrowed, never below MIN_WRAPPED or their
    header, their long cells wrapped onto more lines inside the column. `notes` (see
    footnotes) ends the table with the notes its cells point to as [1], [2], ..."""
    rows = [[cell(value) for value in row] for row in rows]
    ending = "".join("\n[%d] %s" % (n, text) for n, text in enumerate(notes or [], 1))
    if width is None or not rows:
        return table(rows, headers) + ending
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    under = None
    if below in headers and sum(widths) + 2 * (len(widths) - 1) > width:
        under = headers.index(below)
        headers = headers[:under] + headers[under + 1:]
        del widths[under]
    floors = [max(len(h), min(MIN_WRAPPED, w)) for h, w in zip(headers, widths)]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        room = [w - f for w, f in zip(widths, floors)]
        if max(room) <= 0:
            break  # as narrow as it goes: wider than the terminal, but whole
        widest = max(range(len(widths)), key=lambda i: (widths[i] if room[i] > 0 else -1))
        widths[widest] -= 1
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        text = row.pop(under) if under is not None else ""
        cells = [wrap(value, w) for value, w in zip(row, widths)]
        for n in range(max(len(c) for c in cells)):
            lines.append("  ".join((c[n] if n < len(c) else "").ljust(w)
                                   for c, w in zip(cells, widths)).rstrip())
        if text:
            lines += ["    " + line for line in wrap(text, max(width - 4, MIN_WRAPPED))]
    return "\n".join(lines) + ending


def wrap(text, width):
    """`text` on lines of at most `width`: at spaces where it can, inside a word where not."""
    import textwrap

    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def footnotes(rows, column, notes):
    """Fold a note that repeats down `column` into one footnote: "unknown (why)" in two or
    more rows becomes "unknown [n]", and "why" is added to `notes` once (n is its place)."""
    counts = {}
    for row in rows:
        counts[row[column]] = counts.get(row[column], 0) + 1
    for row in rows:
        text = str(row[column])
        head, bracket, note = text.partition(" (")
        note = note[:-1]
        if counts[row[column]] < 2 or not bracket or not text.endswith(")") or (
                "(" in note or ")" in note):
            continue
        if note not in notes:
            notes.append(note)
        row[column] = "%s [%d]" % (head, notes.index(note) + 1)
    return notes


def reason_beside(action, reason):
    """A reason printed beside its action without the action's word twice: "protected"
    then "protected: SpamExperts token ..." reads "protected  SpamExperts token ..."."""
    reason = str(reason or "")
    if action in ("protected", "kept-protected") and reason.startswith("protected: "):
        return reason[len("protected: "):]
    return reason
