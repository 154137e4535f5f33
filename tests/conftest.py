"""Shared test set-up: import paths and Hypothesis settings. Keep this small;
fixtures of one area live in that area's own conftest.py."""

import atexit
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_DIR = os.path.join(REPO_ROOT, "plugin")

# `import tokensweeper` (the library, as the entry points load it) and
# `import tests.fakes...`, whatever directory pytest was started from.
for _path in (REPO_ROOT, PLUGIN_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# No test may read or write the real server's files: a test that forgets to
# point the plugin somewhere gets an empty sandbox, never /var/cpanel or /etc.
# (A stray audit record and a config cache once landed in /var/cpanel/tokensweeper.)
_SANDBOX = tempfile.mkdtemp(prefix="tokensweeper-tests-")
# Gone when pytest ends: make mutate starts thousands of pytest runs, and each
# one left its sandbox in /tmp (14,000 of them, 2 GB, on a developer machine).
atexit.register(shutil.rmtree, _SANDBOX, True)
os.environ.setdefault("TOKENSWEEPER_STATE_DIR", os.path.join(_SANDBOX, "state"))
os.environ.setdefault("TOKENSWEEPER_CONFIG", os.path.join(_SANDBOX, "config.yaml"))
os.environ.setdefault("TOKENSWEEPER_CPANEL_ROOT", os.path.join(_SANDBOX, "cpanel-root"))

try:
    from hypothesis import settings
except ImportError:  # Hypothesis is in requirements-dev.txt; tolerate a bare pytest
    settings = None

if settings is not None:
    # No deadline: a slow CI machine must not fail a property test; speed is
    # measured by `make bench`, never asserted in tests.
    settings.register_profile("tokensweeper", deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tokensweeper"))
