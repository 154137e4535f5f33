"""The tokensweeper(8) man page, written from the command's own parser (build_parser).

Nothing in the page is written twice: the commands, their descriptions, usages, flags,
help texts, examples and exit statuses all come from commands/arguments.py, so the page
and `tokensweeper --help` cannot disagree. install.sh runs this with the interpreter it
chose, on the library it installed; `make man` writes build/man/tokensweeper.8 in a
checkout. The page is the same bytes on every run (no date, no terminal width), so a
reinstall leaves it alone.

    python3 plugin/tokensweeper/commands/manpage.py > tokensweeper.8
"""

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script (install.sh): import the library it is in,
    # never its own directory's modules as top-level ones
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))
    __package__ = "tokensweeper.commands"

from .. import __version__, paths  # noqa: E402
from .arguments import build_parser  # noqa: E402

# Python before 3.10 titles the flags "optional arguments": the page says "options" on
# every interpreter, so a server's page does not change with its Python.
GROUP_TITLES = {"optional arguments": "options"}
WIDE = 1000000  # usage on one line: roff fills it to the reader's terminal


def escape(text):
    """Roff for plain text: backslashes and minus signs kept, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.split("\n"))


def plain(text):
    """One paragraph of filled text, as argparse fills a help string."""
    return escape(" ".join(text.split()))


def formatter(parser):
    return argparse.HelpFormatter(parser.prog, width=WIDE, max_help_position=WIDE)


def usage(parser):
    """The parser's usage line (what `--help` prints after "usage: "), unwrapped."""
    form = formatter(parser)
    form.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return " ".join(form.format_help().split())


def subcommands(parser):
    """(name, sub-parser) in the order the command lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def blocks(epilog):
    """An epilog's paragraphs as (title, lines): "examples:" and "exit status:" blocks."""
    found = []
    for paragraph in (epilog or "").strip("\n").split("\n\n"):
        lines = paragraph.split("\n")
        if lines[0].endswith(":") and not lines[0].startswith(" "):
            found.append((lines[0][:-1], lines[1:]))
        elif paragraph.strip():
            found.append(("", lines))
    return found


def preformatted(lines):
    """Lines kept as written (examples, the exit-status table), indented."""
    return [".RS 4", ".nf"] + [escape(line[2:] if line.startswith("  ") else line)
                               for line in lines] + [".fi", ".RE"]


def options(parser, titled=True):
    """Each argument group of a parser: its title, and one tagged paragraph per flag."""
    lines = []
    form = formatter(parser)
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        title = GROUP_TITLES.get(group.title, group.title)
        if titled:
            lines += [".PP", "\\fI%s\\fR" % escape(title[:1].upper() + title[1:])]
        if group.description:
            lines.append("\\(em " + plain(group.description))
        for action in actions:
            lines += [".TP", "\\fB%s\\fR" % escape(form._format_action_invocation(action))]
            helptext = form._expand_help(action) if action.help else ""
            lines.append(plain(helptext) if helptext else "\\&")
    return lines


def render(parser=None):
    """The whole page, as roff (man macros)."""
    parser = parser or build_parser()
    name = parser.prog
    summary = (parser.description or "").strip().rstrip(".")
    top = blocks(parser.epilog)
    shared = {title: body for title, body in top if title}
    commands = subcommands(parser)
    lines = [
        '.\\" Generated from the tokensweeper command\'s parser (commands/manpage.py).',
        '.\\" Do not edit: change commands/arguments.py, and the page follows.',
        '.TH %s 8 "" "%s %s" "Token Sweeper"' % (name.upper(), name, escape(__version__)),
        ".ad l",  # flags and usages read best unjustified and unhyphenated
        ".nh",
        ".SH NAME",
        "%s \\- %s" % (name, plain(summary[:1].lower() + summary[1:])),
        ".SH SYNOPSIS",
    ]
    for index, (_, sub) in enumerate([(name, parser)] + commands):
        if index:
            lines.append(".PP")
        lines.append(plain(usage(sub)))
    lines += [".SH DESCRIPTION", plain(parser.description or ""),
              ".PP", "Every command takes \\fB\\-\\-help\\fR, which prints what this page says "
              "of it."]
    lines += [".SH OPTIONS"] + options(parser, titled=False)
    lines.append(".SH COMMANDS")
    for command, sub in commands:
        lines += [".SS %s" % escape(command), plain(sub.description or ""),
                  ".PP", "\\fBUsage:\\fR " + plain(usage(sub))]
        lines += options(sub)
        for title, body in blocks(sub.epilog):
            if shared.get(title) == body:
                continue  # the exit status, the same for every command: once, below
            lines += [".PP", "\\fI%s\\fR" % escape(title[:1].upper() + title[1:] or "Notes")]
            lines += preformatted(body)
    for title, body in top:
        lines += [".SH %s" % escape((title or "notes").upper())] + preformatted(body)
    lines += [
        ".SH FILES",
        ".TP", "\\fI%s\\fR" % escape(paths.DEFAULT_CONFIG),
        "the config (\\fB%s check\\-config\\fR checks it)" % name,
        ".TP", "\\fI%s\\fR" % escape(os.path.join(paths.DEFAULT_STATE_DIR, "audit.log")),
        "the audit log (\\fB%s audit\\fR reads it)" % name,
        ".SH SEE ALSO",
        "WHM \\(Fc Plugins \\(Fc API Token Sweeper; the README.md and the docs/ guides of "
        "Token Sweeper's source.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
