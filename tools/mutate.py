#!/usr/bin/env python3
"""`make mutate`: mutation-test the core modules, each against its own fast tests.

    tools/mutate.py [MODULE ...]      (default: every module in MODULES)

For each module this lays out a scratch copy under build/mutate/MODULE (the
library package at the top, so that mutmut's path-derived module names match
`import tokensweeper.X`; the tests beside it), runs mutmut there with only that
module mutated and only that module's test files selected, then counts the
outcomes. Equivalent mutants (a change no caller can observe) are listed with
a reason in tests/mutation-equivalents.txt; they leave the denominator instead
of being silenced in the code. A listed mutant is named by what it changes: its
module, its function, the text of the lines it changes and what they become
(never mutmut's number, which moves when an edit elsewhere in the function adds or
removes a mutant before it):

    policy identity_key
    - owner, _, rest = text.partition(":")
    + owner, _, rest = text.partition("XX:XX")
    why: the reason no caller can tell the difference.

    score = killed / (generated - documented equivalents)

A timeout counts as killed (the tests noticed: they did not finish); "no
tests", "suspicious" and a listed equivalent that is now killed count as what
they are. Prints one table and writes build/mutation.json. Exits 1 when a
module is below the bar (90%) or mutmut itself failed.

Development tool (Python 3.11, mutmut from requirements-dev.txt); not run by
`make test`: a full run of the fifteen modules takes about an hour and a half on two CPUs.
"""

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PACKAGE = os.path.join(REPO, "plugin", "tokensweeper")
TESTS = os.path.join(REPO, "tests")
EQUIVALENTS = os.path.join(TESTS, "mutation-equivalents.txt")
BUILD = os.path.join(REPO, "build")
BAR = 0.90

# Module -> the fast, in-process test files that pin it. Subprocess-heavy
# suites (cli, hook, web, install) stay out: mutmut runs the selected tests
# once per mutant, and those would cost minutes each without adding kills.
MODULES = {
    "policy": ["test_policy.py", "test_selection_rule.py", "test_incident.py",
               "test_pins_policy.py"],
    "sweep": ["test_sweep.py", "test_pins_sweep.py"],
    "whmapi": ["test_whmapi.py", "test_pins_whmapi.py"],
    "tokens": ["test_tokens.py", "test_pins_tokens.py"],
    "config": ["test_config.py", "test_pins_config.py"],
    "audit": ["test_audit.py", "test_pins_audit.py", "test_audit_window.py"],
    "usage": ["test_usage.py", "test_incident.py", "test_pins_usage.py"],
    "mail": ["test_pins_mail.py",
             "test_notify.py::test_compose_never_lets_a_header_value_start_a_header",
             "test_notify.py::test_compose_encodes_non_ascii_text",
             "test_notify.py::test_a_hung_sendmail_is_killed_and_named"],
    "tokenfiles": ["test_pins_tokenfiles.py", "test_owners.py"],
    "statefiles": ["test_pins_statefiles.py", "test_statefiles.py"],
    "sources/cpanel": ["test_pins_sources.py", "test_kinds.py"],
    "sources/whm": ["test_pins_sources.py"],
    "owners": ["test_owners.py", "test_listing_cache.py", "test_pins_owners.py",
               "test_statefiles.py", "test_kinds.py"],
    "hook": ["test_pins_hook.py"],
    # notify's own tests mostly run `tokensweeper sweep --scheduled`: only those that call
    # it in this process.
    "notify": ["test_pins_notify.py"] + ["test_notify.py::" + name for name in (
        "test_due_reminders_choose_the_nearest_day_and_never_repeat",
        "test_split_addresses_refuses_control_characters_and_placeholders",
        "test_a_fifo_in_place_of_wwwacct_conf_never_stalls_the_run",
        "test_server_contact_reads_several_addresses_and_refuses_a_spoiled_value",
        "test_a_notice_the_audit_log_would_not_take_is_no_notice",
    )] + ["test_notify_hostile.py::" + name for name in (
        "test_history_keeps_the_latest_notice_sent_whatever_the_order_of_the_lines",
        "test_a_hung_mta_is_waited_for_once_per_run_not_once_per_recipient",
        "test_the_server_contact_is_read_as_cpanel_reads_wwwacct_conf",
        "test_a_notice_says_which_kind_of_token_and_whose_when_names_collide",
    )] + ["test_do_no_harm.py::" + name for name in (
        "test_use_does_not_cancel_a_notice_when_the_token_stays_selected",
        "test_use_cancels_a_notice_only_when_it_takes_the_token_out_of_the_selection",
        "test_a_use_of_bobs_whm_token_never_voids_the_notice_of_his_cpanel_token",
    )],
}

# Tests in those files that run bin/tokensweeper: the scratch tree holds the
# library and the tests only, so they are left out (their in-process
# neighbours pin the same code).
DESELECT = [
    "tests/test_incident.py::test_malformed_values_are_a_usage_error_naming_the_value",
    "tests/test_incident.py::test_without_a_log_the_command_selects_nothing_and_says_so_loudly",
    "tests/test_incident.py::test_an_incident_run_end_to_end",
    "tests/test_statefiles.py::test_the_command_refuses_a_state_dir_it_does_not_own_and_says_why",
    # find_owners in a child Python (the scratch tree has no plugin/ for its PYTHONPATH);
    # tests/test_pins_tokenfiles.py reads the same FIFO, link and huge file in process.
    "tests/test_owners.py::test_a_token_file_that_is_a_fifo_a_link_or_huge_is_asked_about_"
    "never_waited_on",
]

KILLED = {"killed", "timeout", "caught by type check"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help="default: all of them")
    parser.add_argument(
        "--max-children", type=int, default=os.cpu_count() or 2, help="parallel mutant runs"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: count the outcomes of the last run of each module again "
        "(after editing tests/mutation-equivalents.txt)",
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error("unknown module(s) %s; known: %s" % (", ".join(unknown), ", ".join(MODULES)))
    modules = args.modules or list(MODULES)

    equivalents = read_equivalents(EQUIVALENTS)
    unknown = sorted({key[0] for key in equivalents} - set(MODULES))
    if unknown:
        raise SystemExit("%s: unknown module(s) %s" % (EQUIVALENTS, ", ".join(unknown)))
    report = {"bar": BAR, "started": int(time.time()), "modules": {}}
    failed = False
    for module in modules:
        scratch = os.path.join(BUILD, "mutate", module)
        if args.report_only:
            outcome, seconds = last_run(scratch, module)
        else:
            began = time.monotonic()
            outcome = run_module(scratch, module, args.max_children)
            seconds = round(time.monotonic() - began)
            with open(os.path.join(scratch, "seconds"), "w") as handle:
                handle.write("%d\n" % seconds)
        if outcome is None:
            failed = True
            report["modules"][module] = {"error": "mutmut failed or never ran"}
            continue
        summary = summarise(module, outcome, describe_run(scratch, module, outcome),
                            equivalents)
        summary["seconds"] = seconds
        report["modules"][module] = summary
        failed = failed or summary["score"] < BAR
    # The sum of the modules' runs: what one `make mutate` of these modules costs.
    report["seconds"] = sum(m.get("seconds") or 0 for m in report["modules"].values())
    write_report(report)
    print_table(report)
    return 1 if failed else 0


def read_equivalents(path):
    """The listed equivalents: (module, function, removed lines, added lines) -> reason.

    Each entry is a line `MODULE FUNCTION` (FUNCTION is `Class.method` for a method), the
    lines the mutant changes as `- TEXT` and what they become as `+ TEXT` (as they read in
    the code, indentation aside), and `why: REASON`. Blank lines separate entries; `#`
    starts a comment line."""
    with open(path, encoding="utf-8") as handle:
        return parse_equivalents(handle.read(), path)


def parse_equivalents(text, path="<equivalents>"):
    equivalents = {}
    entry = None

    def finish():
        if entry is None:
            return
        where = "%s:%d" % (path, entry["line"])
        if not entry["removed"] and not entry["added"]:
            raise SystemExit("%s: %s %s names no changed line (- or +)"
                             % (where, entry["module"], entry["function"]))
        if not entry["why"]:
            raise SystemExit("%s: %s %s has no reason (why: ...)"
                             % (where, entry["module"], entry["function"]))
        key = (entry["module"], entry["function"], tuple(entry["removed"]),
               tuple(entry["added"]))
        if key in equivalents:
            raise SystemExit("%s: the same mutant is listed twice" % where)
        equivalents[key] = entry["why"]

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line.strip():
            finish()
            entry = None
            continue
        if line[:2] in ("- ", "+ ") or line in ("-", "+"):
            if entry is None or entry["why"]:
                raise SystemExit("%s:%d: a changed line outside an entry (MODULE FUNCTION "
                                 "first, why: last)" % (path, number))
            entry["removed" if line[0] == "-" else "added"].append(line[2:].strip())
        elif line.startswith("why:"):
            if entry is None:
                raise SystemExit("%s:%d: why: outside an entry" % (path, number))
            entry["why"] = line[len("why:"):].strip()
        else:
            finish()
            fields = line.split()
            if len(fields) != 2:
                raise SystemExit("%s:%d: expected `MODULE FUNCTION`, `- LINE`, `+ LINE` or "
                                 "`why: REASON`, got %r" % (path, number, line))
            entry = {"module": fields[0], "function": fields[1], "removed": [], "added": [],
                     "why": "", "line": number}
    finish()
    return equivalents


def describe_mutants(module, mutated_code, names):
    """mutmut name -> (module, function, removed lines, added lines): what each mutant
    changes, read from the mutated module mutmut wrote (its copy of each function and of
    each mutant), stripped of indentation."""
    import libcst as cst
    from mutmut.mutation.diff_apply import read_mutant_function, read_original_function
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    tree = cst.parse_module(mutated_code)
    originals, keys = {}, {}
    for name in names:
        function, class_name = orig_function_and_class_names_from_key(name)
        qualname = "%s.%s" % (class_name, function) if class_name else function
        if qualname not in originals:
            node = read_original_function(tree, name)
            originals[qualname] = cst.Module([node]).code.strip().splitlines()
        mutant = cst.Module([read_mutant_function(tree, name)]).code.strip().splitlines()
        removed, added = [], []
        diff = difflib.unified_diff(originals[qualname], mutant, n=0, lineterm="")
        for line in list(diff)[2:]:  # after the ---/+++ header
            if line.startswith("-"):
                removed.append(line[1:].strip())
            elif line.startswith("+"):
                added.append(line[1:].strip())
        keys[name] = (module, qualname, tuple(removed), tuple(added))
    return keys


def describe_run(scratch, module, statuses):
    """describe_mutants for a run's mutants, from its scratch tree (a package's mutants
    are read from the file of theirs that mutmut wrote; its name is in theirs)."""
    keys = {}
    for dotted, path in mutated_files(scratch, module):
        names = [name for name in statuses if name.rpartition(".")[0] == dotted]
        if not names:
            continue
        with open(path, encoding="utf-8") as handle:
            keys.update(describe_mutants(module, handle.read(), names))
    return keys


def is_package(module):
    return os.path.isdir(os.path.join(PACKAGE, module))


def mutated_files(scratch, module):
    """(dotted module name, path) of each file mutmut wrote for MODULE: the module, or
    each file of the package MODULE (keyed in the equivalents by the package's name)."""
    base = os.path.join(scratch, "mutants", "tokensweeper")
    if not is_package(module):  # a module, maybe in a subpackage: sources/whm
        return [("tokensweeper." + module.replace("/", "."),
                 os.path.join(base, *(module + ".py").split("/")))]
    found = []
    for name in sorted(os.listdir(os.path.join(PACKAGE, module))):
        if name.endswith(".py"):
            stem = name[:-3]
            dotted = "tokensweeper.%s" % module + ("" if stem == "__init__" else "." + stem)
            found.append((dotted, os.path.join(base, module, name)))
    return found


def entry_text(key, why="?"):
    """One entry of tests/mutation-equivalents.txt."""
    module, function, removed, added = key
    return "\n".join(["%s %s" % (module, function)] + ["- " + line for line in removed]
                     + ["+ " + line for line in added] + ["why: " + why])


def last_run(scratch, module):
    """(statuses, seconds) of the last run in this scratch tree; (None, None) without one."""
    if not any(os.path.exists(path + ".meta") for _, path in mutated_files(scratch, module)):
        return None, None
    try:
        with open(os.path.join(scratch, "seconds")) as handle:
            seconds = int(handle.read())
    except (OSError, ValueError):
        seconds = None
    return read_statuses(scratch, module), seconds


def run_module(scratch, module, max_children):
    """Run mutmut on one module in its own scratch tree. Returns mutant name -> status."""
    lay_out(scratch, module)
    # The mutmut beside this interpreter: the venv `make mutate` built.
    mutmut = os.path.join(os.path.dirname(sys.executable), "mutmut")
    command = [mutmut, "run", "--max-children", str(max_children)]
    print("===== mutmut: %s against %s" % (module, ", ".join(test_files(module))), flush=True)
    # mutmut redraws a progress line many times a second: keep it in a log, not the terminal.
    log = os.path.join(scratch, "mutmut.log")
    with open(log, "wb") as output:
        status = subprocess.call(
            command, cwd=scratch, env=mutmut_env(), stdout=output, stderr=subprocess.STDOUT
        )
    if status != 0:
        print("mutmut failed (exit %d); its output is in %s" % (status, log), flush=True)
        return None
    return read_statuses(scratch, module)


def test_files(module):
    """The module's test files and single tests (`FILE::TEST`) that exist."""
    return [name for name in MODULES[module]
            if os.path.exists(os.path.join(TESTS, name.split("::")[0]))]


def lay_out(scratch, module):
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, os.path.join(scratch, "tokensweeper"), ignore=ignore)
    shutil.copytree(TESTS, os.path.join(scratch, "tests"), ignore=ignore)
    tests = ['"tests/%s"' % name for name in test_files(module)]
    deselect = "".join(', "--deselect", "%s"' % node for node in DESELECT)
    with open(os.path.join(scratch, "pyproject.toml"), "w", encoding="utf-8") as handle:
        handle.write(
            PYPROJECT.format(
                mutate=module + ("/*.py" if is_package(module) else ".py"),
                tests=", ".join(tests), timeout=TEST_TIMEOUT, deselect=deselect,
            )
        )


# A hung mutant (a loop whose exit was mutated away) must end as a timeout
# rather than stall the run; mutmut also kills a run far past its baseline.
TEST_TIMEOUT = 60

PYPROJECT = """\
[tool.mutmut]
source_paths = ["tokensweeper"]
only_mutate = ["tokensweeper/{mutate}"]
pytest_add_cli_args_test_selection = [{tests}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "--timeout={timeout}"{deselect}]
use_git_change_detection = false

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
markers = [
    "browser: drives Chromium through Playwright",
    "bench: a benchmark",
]
xfail_strict = true
"""


def mutmut_env():
    env = dict(os.environ)
    # The fakes start with `#!/usr/bin/env python3`: the venv's interpreter first.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("HYPOTHESIS_PROFILE", "tokensweeper")
    return env


def read_statuses(scratch, module):
    sys.path.insert(0, scratch)
    from mutmut.stats import status_by_exit_code  # the venv's mutmut, only when it ran

    exit_codes = {}
    for _, path in mutated_files(scratch, module):
        if not os.path.exists(path + ".meta"):  # a file without functions has no mutants
            continue
        with open(path + ".meta", encoding="utf-8") as handle:
            exit_codes.update(json.load(handle)["exit_code_by_key"])
    return {name: status_by_exit_code[code] for name, code in sorted(exit_codes.items())}


def summarise(module, statuses, keys, equivalents):
    """Counts and score of one module's run. `keys` names each mutant by what it changes
    (describe_mutants); `equivalents` is read_equivalents' answer."""
    counts = {"killed": 0, "survived": 0, "equivalent": 0, "other": 0}
    survivors, matched, alive = [], set(), set()
    for name, status in statuses.items():
        key = keys[name]
        listed = key in equivalents
        if listed:
            matched.add(key)
        if status in KILLED:
            counts["killed"] += 1
        elif listed:
            # The same change on a line repeated in one function is one key: each such
            # mutant the tests cannot kill counts as equivalent, one they kill as killed.
            alive.add(key)
            counts["equivalent"] += 1
        elif status == "survived":
            counts["survived"] += 1
            survivors.append("%s\n%s" % (name, entry_text(key)))
        else:
            counts["other"] += 1
            survivors.append("%s (%s)\n%s" % (name, status, entry_text(key)))
    counts["generated"] = len(statuses)
    judged = counts["generated"] - counts["equivalent"]
    counts["score"] = round(counts["killed"] / judged, 4) if judged else 1.0
    counts["survivors"] = survivors
    # A listed equivalent that the tests now kill was not equivalent: drop it from the list.
    counts["stale_equivalents"] = [entry_text(key, equivalents[key])
                                   for key in sorted(matched - alive)]
    # One whose line no longer reads so (the code changed there): update or drop it.
    counts["unmatched_equivalents"] = [entry_text(key, why) for key, why in equivalents.items()
                                       if key[0] == module and key not in matched]
    return counts


def write_report(report):
    os.makedirs(BUILD, exist_ok=True)
    path = os.path.join(BUILD, "mutation.json")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(path + ".tmp", path)


def print_table(report):
    row = "%-14s %9s %6s %8s %10s %6s %6s %6s"
    print()
    print(row % ("module", "generated", "killed", "survived", "equivalent", "other", "score", "s"))
    for module, s in report["modules"].items():
        if "error" in s:
            print("%-14s %s" % (module, s["error"]))
            continue
        print(
            row
            % (
                module,
                s["generated"],
                s["killed"],
                s["survived"],
                s["equivalent"],
                s["other"],
                "%.1f%%" % (100 * s["score"]),
                "-" if s["seconds"] is None else s["seconds"],
            )
        )
    for s in report["modules"].values():
        for name in s.get("survivors", ()):
            print("survived: %s" % name)
        for entry in s.get("stale_equivalents", ()):
            print("listed as equivalent but killed (remove it):\n%s" % entry)
        for entry in s.get("unmatched_equivalents", ()):
            print("listed as equivalent but no mutant changes that line now (update or "
                  "remove it):\n%s" % entry)
    print(
        "mutate: %d s in all; build/mutation.json written; bar %d%%"
        % (report["seconds"], 100 * BAR)
    )


if __name__ == "__main__":
    sys.exit(main())
