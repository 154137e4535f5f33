"""The README and the docs/ guides (issue 27): a newcomer's README stays short, every guide
is reachable from it, and every relative link and #anchor resolves as GitHub renders it."""

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
README_MAX_LINES = 350

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the text may hold `code` but no nested brackets.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(\S+)")
CODE_SPAN = re.compile(r"(`+).+?\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def documents():
    """README.md, HACKING.md, the collection's README and every docs/*.md guide."""
    paths = [README, os.path.join(REPO, "HACKING.md"), os.path.join(REPO, "ansible", "README.md")]
    return paths + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading's text: markup and punctuation dropped, lower case,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    """Every anchor GitHub gives the headings of a document (a repeated one gets -1, -2...)."""
    seen = {}
    found = set()
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else "%s-%d" % (base, count))
    return found


def links(text):
    """(line number, target) of every inline link, image and reference definition."""
    for number, line in prose_lines(text):
        line = CODE_SPAN.sub("", line)
        for match in LINK.finditer(line):
            yield number, match.group(1)
        ref = REF_DEF.match(line)
        if ref:
            yield number, ref.group(1)


def broken_links(path):
    """Every relative link of one document whose file or #anchor does not exist."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    problems = []
    for number, target in links(text):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # http(s), mailto: not checked here (no network)
        file_part, _, anchor = target.partition("#")
        if file_part:
            target_path = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
        else:
            target_path = path
        where = "%s:%d: %s" % (os.path.relpath(path, REPO), number, target)
        if not os.path.exists(target_path):
            problems.append("%s (no such file)" % where)
            continue
        if not anchor:
            continue
        if not target_path.endswith(".md") or not os.path.isfile(target_path):
            problems.append("%s (an anchor into something that is not Markdown)" % where)
            continue
        with open(target_path, encoding="utf-8") as handle:
            if anchor not in anchors(handle.read()):
                problems.append("%s (no heading with that anchor)" % where)
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: os.path.relpath(p, REPO))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_readme_is_short_enough_to_read_to_the_end():
    with open(README, encoding="utf-8") as handle:
        count = len(handle.read().splitlines())
    assert count <= README_MAX_LINES, (
        "README.md has %d lines (at most %d): move the detail into a docs/ guide"
        % (count, README_MAX_LINES))


def test_readme_links_every_guide_and_keeps_the_two_commands():
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    targets = {os.path.normpath(target.partition("#")[0]) for _, target in links(text)}
    guides = {os.path.relpath(path, REPO) for path in glob.glob(os.path.join(REPO, "docs", "*.md"))}
    assert guides - targets == set(), "guides the README does not link"
    assert "`make demo`" in text and "`make test`" in text
    assert "docs/overview.png" in targets


def test_a_guide_reads_as_its_own_page():
    """Each guide starts with its one title, so a reader who lands on it knows where they are."""
    for path in glob.glob(os.path.join(REPO, "docs", "*.md")):
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
        assert first.startswith("# "), path


def test_github_anchors():
    text = "\n".join([
        "# Token Sweeper",
        "## Two kinds of token",
        "### report (playbook `tokensweeper.cpanel.report`)",
        "## Targets and ansible-core versions",
        "## A first visit on a slow server",
        "## Notes",
        "## Notes",
        "```",
        "# 1. not a heading inside a code block",
        "```",
    ])
    assert anchors(text) == {
        "token-sweeper", "two-kinds-of-token", "report-playbook-tokensweepercpanelreport",
        "targets-and-ansible-core-versions", "a-first-visit-on-a-slow-server",
        "notes", "notes-1"}


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Real heading\n")
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "# Page",
        "[ok](other.md#real-heading) [ok too](#page) [web](https://example.com/x#y)",
        "[gone](missing.md) [no anchor](other.md#imagined) ![img](nope.png)",
        "`[in code](ignored.md)`",
        "```",
        "[in a block](ignored.md)",
        "```",
        "[self](#nowhere)",
    ]))
    problems = broken_links(str(page))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "missing.md (no such file)",
        "other.md#imagined (no heading with that anchor)",
        "nope.png (no such file)",
        "#nowhere (no heading with that anchor)",
    ]


def test_the_readme_protection_table_names_every_built_in_rule():
    """The README's table is the newcomer's view of the protection rules: a rule added to
    the code without its row there would protect a token nobody was told about."""
    from tokensweeper.policy import protection
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    section = text.partition("## What it never touches")[2].partition("\n## ")[0]
    rules = protection.BUILTIN_RULES + protection.CPANEL_RULES
    shapes = {re.split(r"[<\[ ]", rule.label)[0].rstrip("-") for rule in rules}
    assert len(shapes) >= 9
    assert {shape for shape in shapes if "`%s" % shape not in section} == set()
