"""tools/mutate.py's list of equivalent mutants (issue 27): an entry names a mutant by its
module, its function and the text of the line it changes, so an edit elsewhere leaves the
list valid, and an edit of the listed line itself is noticed."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool():
    spec = importlib.util.spec_from_file_location("mutate_tool",
                                                  os.path.join(REPO, "tools", "mutate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mutate = load_tool()


def function_lines(source):
    """Qualified function name -> its source lines, stripped (as an entry quotes them)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found = {}

    def visit(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                end = max(getattr(n, "lineno", node.lineno) for n in ast.walk(node))
                found[prefix + node.name] = [line.strip()
                                             for line in lines[node.lineno - 1:end + 1]]
    visit(tree.body, "")
    return found


def module_functions(module):
    """function_lines of a module, or of every file of a package (the equivalents name a
    package's functions by the package)."""
    path = os.path.join(REPO, "plugin", "tokensweeper", module)
    files = ([os.path.join(path, name) for name in sorted(os.listdir(path)) if name.endswith(".py")]
             if os.path.isdir(path) else [path + ".py"])
    found = {}
    for name in files:
        with open(name, encoding="utf-8") as handle:
            found.update(function_lines(handle.read()))
    return found


def test_every_listed_equivalent_still_names_a_line_of_its_function():
    """The cheap half of `make mutate`'s check, in every `make test`: an entry whose line
    was edited (or whose function was renamed or removed) fails here at once."""
    equivalents = mutate.read_equivalents(mutate.EQUIVALENTS)
    assert len(equivalents) > 50
    sources = {}
    for (module, function, removed, _added), why in equivalents.items():
        assert module in mutate.MODULES, module
        if module not in sources:
            sources[module] = module_functions(module)
        assert function in sources[module], (module, function)
        for line in removed:
            assert line in sources[module][function], (module, function, line)
        assert why and "mutmut_" not in why, "a reason names a mutant by its number"


def test_an_entry_is_its_module_function_lines_and_reason():
    text = textwrap.dedent("""\
        # a comment
        usage _Scan._exact
        - if oldest is None or ts < oldest:
        + if oldest is None or ts <= oldest:
        why: on a tie the oldest time is replaced by the same time.

        config load
        -     text = handle.read().decode("utf-8")
        + text = handle.read().decode("UTF-8")
        why: "UTF-8" and "utf-8" name the same codec.
        """)
    assert mutate.parse_equivalents(text) == {
        ("usage", "_Scan._exact", ("if oldest is None or ts < oldest:",),
         ("if oldest is None or ts <= oldest:",)):
            "on a tie the oldest time is replaced by the same time.",
        ("config", "load", ('text = handle.read().decode("utf-8")',),
         ('text = handle.read().decode("UTF-8")',)): '"UTF-8" and "utf-8" name the same codec.',
    }


@pytest.mark.parametrize("text, problem", [
    ("audit write\n- a = 1\n+ a = 2\n", "has no reason"),
    ("audit write\nwhy: nothing changes\n", "names no changed line"),
    ("- a = 1\n+ a = 2\nwhy: x\n", "outside an entry"),
    ("tokensweeper.audit.x_write__mutmut_17 the old form\n", "expected `MODULE FUNCTION`"),
    ("audit write\n- a = 1\nwhy: x\n\naudit write\n- a = 1\nwhy: y\n", "listed twice"),
])
def test_a_malformed_entry_is_refused_with_its_line(text, problem):
    with pytest.raises(SystemExit) as raised:
        mutate.parse_equivalents(text, "equivalents.txt")
    assert problem in str(raised.value) and "equivalents.txt:" in str(raised.value)


KEY = ("demo", "scale", ("return value * 2",), ("return value * 3",))
LISTED = {KEY: "made up for this test"}


def test_listed_mutants_leave_the_score_and_stale_entries_are_named():
    keys = {"m1": KEY, "m2": ("demo", "scale", ("x = 1",), ("x = 2",)),
            "m3": ("demo", "scale", ("y = 1",), ("y = None",))}
    summary = mutate.summarise("demo", {"m1": "survived", "m2": "survived", "m3": "killed"},
                               keys, LISTED)
    assert (summary["equivalent"], summary["survived"], summary["killed"]) == (1, 1, 1)
    assert summary["score"] == 0.5
    assert summary["survivors"] == ["m2\ndemo scale\n- x = 1\n+ x = 2\nwhy: ?"]
    assert summary["stale_equivalents"] == summary["unmatched_equivalents"] == []
    # The tests now kill it: the entry is stale. Its line is gone: it matches nothing.
    killed = mutate.summarise("demo", {"m1": "killed"}, {"m1": KEY}, LISTED)
    assert killed["equivalent"] == 0 and killed["stale_equivalents"] == [
        "demo scale\n- return value * 2\n+ return value * 3\nwhy: made up for this test"]
    gone = mutate.summarise("demo", {"m2": "survived"}, {"m2": keys["m2"]}, LISTED)
    assert gone["unmatched_equivalents"] == killed["stale_equivalents"]


GENERATE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import mutate
from pathlib import Path
from mutmut.mutation.file_mutation import mutate_file_contents
from mutmut.utils.format_utils import get_mutant_name
path = Path("tokensweeper/demo.py")
mutated = mutate_file_contents(str(path), path.read_text())
names = [get_mutant_name(path, name) for name in mutated.mutant_names]
keys = mutate.describe_mutants("demo", mutated.code, names)
print(json.dumps({name: [k[1], list(k[2]), list(k[3])] for name, k in keys.items()}))
"""

BEFORE = """\
def scale(value):
    return value * 2
"""
AFTER = """\
def scale(value):
    if value is None:
        raise ValueError("no value")
    return value * 2
"""


def generate(tmp_path, source):
    """mutmut's mutants of a one-function module, each named by what it changes."""
    pytest.importorskip("mutmut")  # in .venv (requirements-dev.txt), not the matrix venvs
    (tmp_path / "tokensweeper").mkdir(exist_ok=True)
    (tmp_path / "tokensweeper" / "demo.py").write_text(source)
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["tokensweeper"]\n')
    out = subprocess.check_output([sys.executable, "-c", GENERATE,
                                   os.path.join(REPO, "tools")], cwd=str(tmp_path))
    return {name: (("demo",) + (key[0], tuple(key[1]), tuple(key[2])))
            for name, key in json.loads(out.decode("utf-8")).items()}


def test_an_edit_elsewhere_in_the_function_renumbers_the_mutant_but_not_its_entry(tmp_path):
    before = generate(tmp_path, BEFORE)
    after = generate(tmp_path, AFTER)
    named = [name for name, key in before.items() if key == KEY]
    renamed = [name for name, key in after.items() if key == KEY]
    assert len(named) == len(renamed) == 1
    # mutmut's number moved (the new lines' mutants come first): a list keyed on names
    # would now call another mutant equivalent. Keyed on the line, the entry still fits.
    assert named != renamed and after[named[0]] != KEY
    for keys in (before, after):
        statuses = {name: ("survived" if key == KEY else "killed") for name, key in keys.items()}
        summary = mutate.summarise("demo", statuses, keys, LISTED)
        assert summary["equivalent"] == 1 and summary["survived"] == 0
        assert summary["unmatched_equivalents"] == summary["stale_equivalents"] == []


def test_single_tests_in_the_module_table_are_selected_and_exist():
    """notify and mail run single tests of files whose other tests start bin/tokensweeper
    (which no mutant can reach): each `FILE::TEST` is passed on, and names a test."""
    selected = mutate.test_files("notify")
    singles = [name for name in selected if "::" in name]
    assert "test_pins_notify.py" in selected and len(singles) > 5
    for module in mutate.MODULES:
        for name in mutate.test_files(module):
            if "::" not in name:
                continue
            filename, test = name.split("::")
            with open(os.path.join(REPO, "tests", filename), encoding="utf-8") as handle:
                functions = {node.name for node in ast.walk(ast.parse(handle.read()))
                             if isinstance(node, ast.FunctionDef)}
            assert test in functions, name
    assert mutate.test_files("sources/whm") == ["test_pins_sources.py"]
