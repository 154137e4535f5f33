"""Shared plumbing of the fake cPanel tools used by the install tests.

The tools are symlinked into a fake tree at <root>/usr/local/cpanel/bin/, so
the symlink's own path (not its target) tells them which tree they serve.
Every call is recorded as one JSON line in <root>/fake-cpanel-calls.jsonl.
"""

import json
import os
import sys

CALL_LOG = "fake-cpanel-calls.jsonl"


def fake_root():
    """<root> for a tool invoked as <root>/usr/local/cpanel/bin/TOOL."""
    bin_dir = os.path.dirname(os.path.abspath(sys.argv[0]))
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(bin_dir))))


def root_path(*parts):
    return os.path.join(fake_root(), *parts)


def record(tool, argv, exit_code):
    with open(root_path(CALL_LOG), "a") as log:
        log.write(json.dumps({"tool": tool, "argv": argv, "exit": exit_code}) + "\n")


def run(tool, main):
    """Run main(argv) -> exit code, record the call, exit with that code."""
    argv = sys.argv[1:]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    record(tool, argv, code)
    sys.stdout.flush()
    sys.exit(code)


def fail(message, usage=None):
    print(message, file=sys.stderr)
    if usage:
        print(usage, file=sys.stderr)
    return 1
