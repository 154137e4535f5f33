"""`make dist` (tools/dist.sh), install.sh's change report, the collection's metadata and
its fleet-report filters (issue 16). The playbook runs are in tests/test_ansible.py."""

import glob
import hashlib
import importlib.util
import os
import re
import subprocess
import tarfile

import pytest
import yaml

from tests.test_install import SHIPPED, install, make_root, needs_root

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_SRC = __import__("pathlib").Path(REPO)
VERSION = re.search(r'__version__ = "([^"]+)"',
                    open(os.path.join(REPO, "plugin/tokensweeper/__init__.py")).read()).group(1)
NAME = "tokensweeper-%s" % VERSION


def build(out_dir, **env):
    environ = dict(os.environ)
    environ.update(env)
    text = subprocess.check_output([os.path.join(REPO, "tools", "dist.sh"), str(out_dir)],
                                   env=environ, universal_newlines=True)
    return text.strip().splitlines()[-1]


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    return build(tmp_path_factory.mktemp("dist"))


# -- make dist ------------------------------------------------------------------

def test_tarball_is_named_after_the_version_and_holds_only_what_install_sh_needs(tarball):
    """...and the LICENSE (issue 27)."""
    assert os.path.basename(tarball) == NAME + ".tar.gz"
    with tarfile.open(tarball) as archive:
        members = archive.getmembers()
    names = {m.name for m in members}
    assert all(name.startswith(NAME + "/") for name in names)
    shipped = {name[len(NAME) + 1:] for name in names}
    assert set(SHIPPED) <= shipped
    extra = {p for p in shipped if not p.startswith("plugin/tokensweeper/")} - set(SHIPPED)
    assert extra == {"LICENSE"}, "only what install.sh needs, and the license, ships: %s" % (
        sorted(extra))
    with tarfile.open(tarball) as archive, open(os.path.join(REPO, "LICENSE"), "rb") as mine:
        assert archive.extractfile(NAME + "/LICENSE").read() == mine.read()
    # The man page's generator: install.sh writes `man tokensweeper` with it.
    assert "plugin/tokensweeper/commands/manpage.py" in shipped
    # The whole library, no bytecode, no tests, no development files.
    library = subprocess.check_output(["git", "-C", REPO, "ls-files", "plugin/tokensweeper"],
                                      universal_newlines=True).split()
    assert set(library) <= shipped
    assert not [p for p in shipped if "__pycache__" in p or p.endswith(".pyc")]
    for member in members:
        assert member.uid == 0 and member.gid == 0 and not member.mode & 0o022, member.name
    modes = {m.name[len(NAME) + 1:]: m.mode for m in members}
    assert modes["install.sh"] & 0o111 and modes["bin/tokensweeper"] & 0o111
    assert not modes["plugin/tokensweeper/__init__.py"] & 0o111


def test_tarball_is_reproducible(tarball, tmp_path):
    again = build(tmp_path)
    assert digest(again) == digest(tarball)
    with open(again + ".sha256") as handle:
        assert handle.read().split() == [digest(again), NAME + ".tar.gz"]
    # Another build time changes only what SOURCE_DATE_EPOCH says it should.
    other = build(tmp_path / "other", SOURCE_DATE_EPOCH="1700000000")
    with tarfile.open(other) as archive:
        assert {m.mtime for m in archive.getmembers()} == {1700000000}


@needs_root
def test_the_unpacked_tarball_installs(tarball, tmp_path):
    with tarfile.open(tarball) as archive:
        archive.extractall(str(tmp_path / "unpacked"))
    root = make_root(tmp_path.resolve() / "root")
    out = install(tmp_path / "unpacked" / NAME, root)
    assert "Token Sweeper %s is installed." % VERSION in out
    command = root / "usr/local/sbin/tokensweeper"
    assert command.is_file()
    # The installed command runs from the installed library, subpackages (commands/,
    # commands/actions/) included: a directory left out of the tarball fails here.
    env = dict(os.environ, PYTHONPATH="")
    run = subprocess.run([str(command), "plan", "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=env)
    assert run.returncode == 0 and "usage: tokensweeper plan" in run.stdout, run.stderr
    # `man tokensweeper` from the tarball alone, written by the installed library.
    page = (root / "usr/local/share/man/man8/tokensweeper.8").read_text()
    assert ".TH TOKENSWEEPER 8" in page and ".SS incident\\-report" in page


# -- install.sh says whether it changed anything --------------------------------------

def changes_line(out):
    lines = [line for line in out.splitlines() if line.startswith("  Changes:")]
    assert len(lines) == 1, out
    return lines[0].split(None, 1)[1]


@needs_root
def test_install_sh_reports_changes_and_none_on_a_rerun(tmp_path):
    root = make_root(tmp_path.resolve() / "root")
    first = changes_line(install(REPO_SRC, root))
    assert re.match(r"^\d+$", first) and int(first) > 5, first
    assert changes_line(install(REPO_SRC, root)).startswith("none")
    # Anything put right again is a change: a removed cron entry, a lost page registration.
    os.remove(str(root / "etc/cron.d/tokensweeper"))
    assert changes_line(install(REPO_SRC, root)) == "1"
    os.remove(str(root / "var/cpanel/apps/tokensweeper.conf"))
    assert changes_line(install(REPO_SRC, root)) == "1"
    assert changes_line(install(REPO_SRC, root)).startswith("none")


@needs_root
def test_install_sh_counts_restored_hook_registrations_as_a_change(tmp_path):
    root = make_root(tmp_path.resolve() / "root")
    install(REPO_SRC, root)
    hook = str(root / "usr/local/cpanel/3rdparty/bin/tokensweeper-hook")
    # A cPanel update or an admin dropped the registrations; the rerun restores them.
    subprocess.call([str(root / "usr/local/cpanel/bin/manage_hooks"), "delete", "script", hook],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert changes_line(install(REPO_SRC, root)) == "1"
    assert changes_line(install(REPO_SRC, root)).startswith("none")


# -- the license (issue 27) ---------------------------------------------------------

def project_table():
    try:
        import tomllib
    except ImportError:  # Python < 3.11: tomli, which pytest itself needs there
        import tomli as tomllib
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)["project"]


def test_one_license_everywhere_it_is_declared():
    with open(os.path.join(REPO, "LICENSE")) as handle:
        text = handle.read()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} Token Sweeper contributors$", text, re.M)
    assert "Permission is hereby granted, free of charge" in text
    project = project_table()
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert project["version"] == VERSION  # no second version to drift
    assert load("galaxy.yml")["license"] == ["MIT"]


def test_entry_points_and_ansible_plugins_carry_the_spdx_identifier():
    """Where the ecosystems look for it: the installed entry points (a server's admin
    finds the license in the file cron, cPanel or cpsrvd runs) and the collection's plugins
    (Ansible's convention for plugin and module files)."""
    files = ["bin/tokensweeper", "hooks/tokensweeper-hook", "plugin/index.cgi"]
    files += sorted(os.path.relpath(p, REPO) for pattern in ("plugins/*/*.py", "plugins/*.py")
                    for p in glob.glob(os.path.join(REPO, "ansible", pattern)))
    assert any(f.startswith("ansible/plugins/filter/") for f in files)
    for rel in files:
        with open(os.path.join(REPO, rel)) as handle:
            head = [next(handle, "") for _ in range(5)]
        assert "# SPDX-License-Identifier: MIT\n" in head, rel


def test_the_built_collection_carries_the_license(tarball, tmp_path):
    galaxy = os.path.join(REPO, ".venv", "bin", "ansible-galaxy")
    if not os.access(galaxy, os.X_OK):
        pytest.skip("ansible-galaxy is not in .venv (make venv)")
    built = subprocess.check_output([os.path.join(REPO, "tools", "collection.sh"), tarball,
                                     galaxy, str(tmp_path)], universal_newlines=True)
    with tarfile.open(built.strip().splitlines()[-1]) as archive, \
            open(os.path.join(REPO, "LICENSE"), "rb") as mine:
        assert archive.extractfile("LICENSE").read() == mine.read()


# -- the collection's metadata ------------------------------------------------------

def load(rel):
    with open(os.path.join(REPO, "ansible", rel)) as handle:
        return yaml.safe_load(handle)


def test_collection_version_and_shipped_release_follow_the_plugin():
    assert load("galaxy.yml")["version"] == VERSION
    assert load("roles/install/defaults/main.yml")["tokensweeper_version"] == VERSION
    galaxy = load("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"]) == ("tokensweeper", "cpanel")
    assert "requires_ansible" in load("meta/runtime.yml")


@pytest.mark.parametrize("role", ["install", "report", "sweep"])
def test_every_role_documents_every_default_in_its_argument_spec(role):
    spec = load("roles/%s/meta/argument_specs.yml" % role)["argument_specs"]
    documented = set()
    for entry in spec.values():
        documented |= set(entry.get("options", {}))
    defaults = set(load("roles/%s/defaults/main.yml" % role))
    assert defaults <= documented, defaults - documented


# -- the fleet report's filters --------------------------------------------------------

def fleet_filters():
    path = os.path.join(REPO, "ansible", "plugins", "filter", "fleet_report.py")
    spec = importlib.util.spec_from_file_location("fleet_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_result(document, rc=0, stderr=""):
    return {"rc": rc, "stdout": __import__("json").dumps(document), "stderr": stderr}


PLAN = {"counts": {"revoke": 1, "protected": 0, "keep": 1, "already-gone": 0},
        "selectors": {"expired": True}, "owner_errors": {}, "problems": [],
        "tokens": [
            {"owner": "root", "name": "old-ci", "decision": "revoke", "reason": "expired",
             "last_used": None, "create_time": 1700000000, "expires_at": 1710000000,
             "full_access": True, "ip_limited": False},
            {"owner": "root", "name": "deploy", "decision": "keep", "reason": "",
             "last_used": None, "create_time": 1700000000, "expires_at": None,
             "full_access": True, "ip_limited": False}]}
LISTING = {"owner_errors": {}, "problems": [], "now": "2026-09-21T00:00:00Z",
           "tokens": [{"owner": "root", "name": "old-ci", "state": "expired"},
                      {"owner": "root", "name": "deploy", "state": "active"}]}


def test_report_says_why_each_server_failed():
    filters = fleet_filters()
    hostvars = {
        "ok": {"tokensweeper_plan_result": command_result(PLAN),
               "tokensweeper_list_result": command_result(LISTING)},
        "down": {"tokensweeper_plan_result": {"unreachable": True,
                                              "msg": "ssh: connect to host down port 22: refused"}},
        "badconfig": {"tokensweeper_plan_result": command_result(
            {}, rc=2, stderr="tokensweeper: config.yaml: mode: must be preview or enforce\n")},
        "garbage": {"tokensweeper_plan_result": {"rc": 0, "stdout": "Traceback", "stderr": ""},
                    "tokensweeper_list_result": command_result(LISTING)},
    }
    report = filters.fleet_report(hostvars, ["ok", "down", "badconfig", "garbage", "never"],
                                  generated="2026-09-21T00:00:00Z")
    why = {f["server"]: f["error"] for f in report["failed"]}
    assert why["down"] == "unreachable: ssh: connect to host down port 22: refused"
    assert "exited 2" in why["badconfig"] and "mode: must be preview or enforce" in why["badconfig"]
    assert "did not print JSON" in why["garbage"]
    assert "no answer" in why["never"]
    assert "ok" not in why
    assert report["totals"] == {"servers": 5, "failed": 4, "partial": 0, "tokens": 2,
                                "would_revoke": 1,
                                "by_state": {"expired": 1, "stale by policy": 0,
                                             "expiring soon": 0, "active": 1, "protected": 0}}


def test_html_escapes_every_value_from_a_server_and_loads_nothing():
    filters = fleet_filters()
    evil = '<img src=x onerror="alert(1)">'
    plan = dict(PLAN, tokens=[dict(PLAN["tokens"][0], owner=evil, reason=evil)])
    listing = dict(LISTING, tokens=[{"owner": evil, "name": "old-ci", "state": "expired"}])
    hostvars = {
        evil: {"tokensweeper_plan_result": command_result(plan),
               "tokensweeper_list_result": command_result(listing)},
        "down": {"tokensweeper_plan_result": command_result({}, rc=1, stderr=evil)},
    }
    page = filters.fleet_report_html(filters.fleet_report(hostvars, [evil, "down"], evil))
    assert "<img" not in page and "onerror=\"" not in page
    assert page.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") >= 5
    assert "<script" not in page and "<link" not in page and "url(" not in page
    assert "default-src 'none'" in page
