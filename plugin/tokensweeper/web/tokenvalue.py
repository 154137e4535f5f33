"""A token as the page's forms carry it: "HOLDER:NAME" (the overview's checkboxes, Retry
failed) or its identity "HOLDER:NAME:CREATE_TIME:DIGEST" (confirmations, Restore), the
name in its form spelling.

cPanel lets a token name end in a newline (tokens.LISTED_NAME_RE: Perl's `$`), and a
browser sends a newline inside a form value as CRLF (HTML's form submission newline
normalisation): the raw name would come back as another name. So every form value spells
that newline as the two characters `\\n`, as the page shows it (`leak\\n`); a backslash is
in no name cPanel lets through, so the spelling is unambiguous, and only that one escape,
at the end, is read back. Typed names (filters, the command's --name) stay strict.
"""

import re

from tokensweeper.tokens import LISTED_NAME_RE

FINAL_NEWLINE = "\\n"
# A name as a form spells it: cPanel's characters, and its one final newline escaped.
FORM_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}(?:\\n)?\Z")


def form_name(name):
    """A listed token name as a form value spells it: `leak\\n` for "leak\n"."""
    name = str(name)
    if name.endswith("\n"):
        return name[:-1] + FINAL_NEWLINE
    return name


def name_from_form(text):
    """The token name a form value spells (form_name's inverse), or None when it spells no
    name cPanel lets through (a raw newline or carriage return included)."""
    if not FORM_NAME_RE.match(text):
        return None
    name = text[:-len(FINAL_NEWLINE)] + "\n" if text.endswith(FINAL_NEWLINE) else text
    return name if LISTED_NAME_RE.match(name) else None


def key_value(holder, name):
    """What a checkbox sends for a token: "HOLDER:NAME" (the holder naming the kind)."""
    return "%s:%s" % (holder, form_name(name))


def identity_value(token):
    """What a confirmation or Restore sends for a token: its identity, the name spelt for
    a form (tokens.Token.identity binds the same facts)."""
    parts = token.identity().split(":")  # no holder or name holds a colon
    parts[1] = form_name(parts[1])
    return ":".join(parts)
