"""tools/demo_server.py serves a root page behind a fixed public session token: it must
refuse to drive cPanel's real whmapi1 (issue 12, item 6), whether by default or named."""

import importlib.util
import os
import sys

import pytest

from tests.helpers import REPO

if sys.version_info < (3, 7):
    # A development tool (http.server.ThreadingHTTPServer): never run on cPanel's Pythons.
    pytest.skip("tools/demo_server.py needs Python 3.7 or later", allow_module_level=True)

REAL = "/usr/local/cpanel/bin/whmapi1"
KEYS = ("TOKENSWEEPER_WHMAPI1", "TOKENSWEEPER_FAKE_STATE", "TOKENSWEEPER_FAKE_LOG",
        "TOKENSWEEPER_STATE_DIR", "TOKENSWEEPER_CONFIG", "TOKENSWEEPER_CPANEL_ROOT", "PATH")


class WouldServe(Exception):
    """Raised instead of opening the port: the demo decided to start."""


@pytest.fixture
def demo(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "demo_server", os.path.join(REPO, "tools", "demo_server.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def would_serve(*args, **kwargs):
        raise WouldServe()

    monkeypatch.setattr(module, "ThreadingHTTPServer", would_serve)
    # setup_demo() writes os.environ: let monkeypatch put every key back afterwards.
    for key in KEYS:
        monkeypatch.setenv(key, os.environ.get(key, ""))
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", os.environ.get("PATH", "") or "/usr/bin:/bin")
    return module


def starts(demo, *argv):
    try:
        return demo.main(list(argv) + ["--port", "0"])
    except WouldServe:
        return "serving"


@pytest.mark.parametrize("named", [None, REAL, "/usr/local/cpanel/bin/../bin/whmapi1",
                                   "/usr/local/cpanel//bin/whmapi1"])
def test_the_demo_refuses_cpanels_real_whmapi1(demo, monkeypatch, capsys, named):
    if named:
        monkeypatch.setenv("TOKENSWEEPER_WHMAPI1", named)
    assert starts(demo) == 2
    assert "refusing to start: the demo would run cPanel's real " + REAL in capsys.readouterr().err


def test_setup_does_not_override_a_real_whmapi1_named_explicitly(demo, monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENSWEEPER_WHMAPI1", REAL)
    assert starts(demo, "--setup", str(tmp_path / "demo")) == 2


def test_setup_runs_against_its_fake_server(demo, tmp_path):
    assert starts(demo, "--setup", str(tmp_path / "demo")) == "serving"
    assert os.environ["TOKENSWEEPER_WHMAPI1"] != REAL


@pytest.mark.parametrize("setup", [False, True])
def test_another_whmapi1_named_explicitly_is_allowed(demo, monkeypatch, tmp_path, setup):
    emulator = tmp_path / "my-whmapi1"
    emulator.write_text("#!/bin/sh\n")
    monkeypatch.setenv("TOKENSWEEPER_WHMAPI1", str(emulator))
    argv = ["--setup", str(tmp_path / "demo")] if setup else []
    assert starts(demo, *argv) == "serving"
    assert os.environ["TOKENSWEEPER_WHMAPI1"] == str(emulator)


def test_a_hard_link_to_cpanels_real_whmapi1_is_refused_too(demo, monkeypatch, tmp_path, capsys):
    # A hard link has no symlink to resolve: it is the same program all the same.
    real = tmp_path / "usr-local-cpanel-bin" / "whmapi1"
    real.parent.mkdir()
    real.write_text("#!/bin/sh\n")
    link = tmp_path / "elsewhere-whmapi1"
    os.link(str(real), str(link))
    monkeypatch.setattr(demo, "REAL_WHMAPI1", str(real))
    monkeypatch.setenv("TOKENSWEEPER_WHMAPI1", str(link))

    assert starts(demo) == 2
    assert "refusing to start" in capsys.readouterr().err
