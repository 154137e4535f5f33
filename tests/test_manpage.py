"""`man tokensweeper` (issue 27): the page is written from the command's own parser, so
every command and flag `tokensweeper --help` knows is in it, with the same words, and
nothing the parser does not know. install.sh's part is in tests/test_install.py."""

import argparse
import os
import re
import shutil
import subprocess
import sys

import pytest

from tokensweeper.commands import manpage
from tokensweeper.commands.arguments import build_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "plugin", "tokensweeper", "commands", "manpage.py")
needs_groff = pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")


def subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def flags(parser):
    """Every option string and positional metavar of a parser."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        found += action.option_strings or [action.metavar or action.dest]
    return found


def text_of(roff):
    """What a reader sees of roff source, near enough: escapes undone, requests dropped."""
    lines = [line for line in roff.splitlines() if not line.startswith((".", "'"))
             or line.startswith("\\&")]
    text = "\n".join(lines)
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    return " ".join(text.split())


def rendered(roff, tmp_path, width=100):
    """The page as `man` shows it, through groff, as plain text."""
    page = tmp_path / "tokensweeper.8"
    page.write_text(roff)
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=%dn" % width, str(page)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return re.sub(r".\x08", "", out.stdout)  # overstrikes (bold, underline) to plain


def test_every_command_and_flag_of_the_parser_is_in_the_page():
    parser = build_parser()
    text = text_of(manpage.render())
    commands = subparsers(parser)
    assert set(commands) == {"list", "plan", "sweep", "revoke", "audit", "queue",
                             "incident-report", "check-config", "quarantine", "restore",
                             "backtest"}
    for flag in flags(parser):
        assert flag in text, flag
    for name, sub in commands.items():
        # Its own section, holding its usage line as --help prints it.
        usage = " ".join(sub.format_usage().split())[len("usage: "):]
        assert "Usage: " + usage in text, name
        section = text_of(manpage.render().split(".SS %s\n" % name.replace("-", "\\-"))[1]
                          .split("\n.SS ")[0])
        for flag in flags(sub):
            assert flag in section, (name, flag)
        assert sub.description in section


def test_the_help_texts_are_the_parsers_own_words():
    text = text_of(manpage.render())
    for sub in [build_parser()] + list(subparsers(build_parser()).values()):
        formatter = argparse.HelpFormatter(sub.prog)
        for action in sub._actions:
            if action.help and not isinstance(action, argparse._SubParsersAction):
                assert " ".join(formatter._expand_help(action).split()) in text, action.dest


def test_examples_and_exit_status_come_from_the_epilogs():
    from tokensweeper.commands.arguments import EXAMPLES, EXIT_STATUS
    roff = manpage.render()
    text = text_of(roff)
    for examples in EXAMPLES.values():
        for line in examples.splitlines()[1:]:
            assert " ".join(line.split()) in text, line
    assert roff.count(".SH EXIT STATUS") == 1
    for line in EXIT_STATUS.splitlines()[1:]:
        assert " ".join(line.split()) in text
    # Said once, not under every command.
    assert text.count("runtime failure: whmapi1 missing") == 1


def test_a_flag_added_to_the_parser_is_in_the_page_without_touching_it():
    parser = build_parser()
    subparsers(parser)["audit"].add_argument("--until", metavar="DATE",
                                             help="records before DATE (made up for this test)")
    text = text_of(manpage.render(parser))
    assert "--until DATE records before DATE (made up for this test)" in text
    assert "--until" not in text_of(manpage.render())


@needs_groff
def test_the_page_renders_without_warnings_and_shows_every_flag(tmp_path):
    shown = rendered(manpage.render(), tmp_path)
    assert shown.startswith("TOKENSWEEPER(8)")
    assert "tokensweeper - find and revoke stale WHM API tokens" in shown
    words = " ".join(shown.split())
    for name, sub in subparsers(build_parser()).items():
        assert name in words
        for flag in flags(sub):
            assert flag in words, (name, flag)
    assert "EXIT STATUS" in shown and "3 finished, but some tokens failed" in words


@needs_groff
def test_text_that_looks_like_roff_is_shown_as_written(tmp_path):
    parser = argparse.ArgumentParser(prog="tokensweeper", description="A test page.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub = commands.add_parser("odd", description=".SH NOT A SECTION")
    sub.add_argument("--path", metavar="DIR", help=r"'quoted', C:\fBnot bold\fR and -- dashes")
    shown = rendered(manpage.render(parser), tmp_path)
    assert ".SH NOT A SECTION" in shown
    assert r"'quoted', C:\fBnot bold\fR and -- dashes" in shown


def test_the_page_is_the_same_bytes_whatever_the_terminal_and_interpreter_run():
    """install.sh rewrites it only when it changed: no date, no terminal width in it."""
    runs = set()
    for columns in ("30", "250"):
        env = dict(os.environ, COLUMNS=columns, LINES="10")
        runs.add(subprocess.check_output([sys.executable, "-B", "-I", SCRIPT], env=env,
                                         cwd="/", stdin=subprocess.DEVNULL))
    assert len(runs) == 1
    assert runs.pop().decode("utf-8") == manpage.render()


def test_the_script_runs_from_anywhere_and_never_imports_its_siblings_as_top_level(tmp_path):
    # A module named like one of commands/ in the current directory must not be picked up.
    (tmp_path / "arguments.py").write_text("raise SystemExit('wrong arguments module')\n")
    out = subprocess.run([sys.executable, SCRIPT], cwd=str(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == manpage.render()
