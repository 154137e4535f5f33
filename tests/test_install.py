"""install.sh and uninstall.sh against a fake cPanel tree (issue 5).

Each test copies the repository's shippable files into tmp_path/src, builds a
fake cPanel tree in tmp_path/root whose usr/local/cpanel/bin holds the fake
register_appconfig, unregister_appconfig, manage_hooks and whmapi1 (symlinks
to tests/fakes/cpanel-root/, which validate and fail like the real tools and
record their calls), runs the scripts with INSTALL_ROOT pointing at it, and
checks what an admin would see: files, modes, registrations, cron, the summary,
and that the installed command, hook and page really work. Issue 20: the hook
registrations converge from any state of cPanel's registry, both scripts work
from any directory, and the released scripts fail against these fakes as they
failed on a real server.
"""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.fakes.fakeserver import FakeServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_TOOLS = os.path.join(REPO, "tests", "fakes", "cpanel-root", "usr", "local", "cpanel", "bin")
TOOLS = ("register_appconfig", "unregister_appconfig", "manage_hooks", "whmapi1")
CALL_LOG = "fake-cpanel-calls.jsonl"
NOW = 1790000000  # 2026-09-21, a fixed "today" for seeded tokens
DAY = 86400

# What the installer ships, relative to the repository.
ENTRY_POINTS = {
    "bin/tokensweeper": "usr/local/sbin/tokensweeper",
    "hooks/tokensweeper-hook": "usr/local/cpanel/3rdparty/bin/tokensweeper-hook",
    "plugin/index.cgi": "usr/local/cpanel/whostmgr/docroot/cgi/tokensweeper/index.cgi",
}
SHIPPED = sorted(ENTRY_POINTS) + [
    "install.sh", "uninstall.sh", "appconfig/tokensweeper.conf", "appconfig/tokensweeper.png",
    "plugin/tokensweeper/__init__.py", "plugin/tokensweeper/default-config.yaml",
]
LIB = "usr/local/lib/tokensweeper"
CGI_DIR = "usr/local/cpanel/whostmgr/docroot/cgi/tokensweeper"
HOOK = ENTRY_POINTS["hooks/tokensweeper-hook"]
COMMAND = ENTRY_POINTS["bin/tokensweeper"]
CGI = ENTRY_POINTS["plugin/index.cgi"]
ICON = "usr/local/cpanel/whostmgr/docroot/addon_plugins/tokensweeper.png"
CONFIG = "etc/tokensweeper/config.yaml"
STATE = "var/cpanel/tokensweeper"
CRON = "etc/cron.d/tokensweeper"
MAN_PAGE = "usr/local/share/man/man8/tokensweeper.8"
APP_CONF = "var/cpanel/apps/tokensweeper.conf"
HOOKS_DATA = "var/cpanel/hooks/data"  # cPanel's registry: CATEGORY/EVENT.yaml
# Everything install.sh writes and uninstall.sh removes (config/state are kept).
CODE_PATHS = (LIB, CGI_DIR, HOOK, COMMAND, MAN_PAGE, ICON, CRON)

def real(path):
    return os.path.join(REPO, path)


def has_modules(python):
    """True when `python` runs and imports Jinja2 and PyYAML."""
    if not python or not os.access(python, os.X_OK):
        return False
    return subprocess.call([python, "-c", "import jinja2, yaml"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def pyenv_python(version):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return os.path.join(root, "versions", version, "bin", "python")


def matrix_python(version):
    """An interpreter of `version` that has Jinja2 and PyYAML: the matrix venv
    tools/matrix.sh builds (.venv-VERSION), or pyenv's own; None if neither."""
    for python in (real(".venv-%s/bin/python" % version), pyenv_python(version)):
        if has_modules(python):
            return python
    return None


# -- fixtures ---------------------------------------------------------------

def make_src(target):
    """A copy of the shippable files; the upgrade tests edit it freely."""
    for rel in SHIPPED:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real(rel), str(dest))
    shutil.rmtree(str(target / "plugin" / "tokensweeper"))
    shutil.copytree(real("plugin/tokensweeper"), str(target / "plugin" / "tokensweeper"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Bytecode in the source must never reach the server.
    junk = target / "plugin" / "tokensweeper" / "__pycache__"
    junk.mkdir()
    (junk / "junk.cpython-99.pyc").write_bytes(b"junk")
    return target


def make_root(top):
    """A fake cPanel server's file system."""
    bin_dir = top / "usr" / "local" / "cpanel" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in TOOLS:
        os.symlink(os.path.join(FAKE_TOOLS, tool), str(bin_dir / tool))
    for rel in ("usr/local/cpanel/whostmgr/docroot/cgi",
                "usr/local/cpanel/whostmgr/docroot/addon_plugins",
                "usr/local/cpanel/3rdparty/bin", "usr/local/sbin", "var/cpanel/apps", "etc/cron.d"):
        (top / rel).mkdir(parents=True)
    return top


@pytest.fixture
def src(tmp_path):
    return make_src(tmp_path / "src")


@pytest.fixture
def root(tmp_path):
    # Its real path: the installer resolves symlinks in INSTALL_ROOT.
    return make_root(tmp_path.resolve() / "root")


def script_env(root, python=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSWEEPER_")}
    here = os.path.dirname(sys.executable)
    # The fake tools start with `#!/usr/bin/env python3`: run them on this Python.
    env["PATH"] = os.pathsep.join([here, env.get("PATH", "/usr/bin:/bin")])
    env["INSTALL_ROOT"] = str(root)
    env["TOKENSWEEPER_PYTHON"] = python or sys.executable
    env.update(extra)
    return env


def run_script(script, root, *args, **kwargs):
    python = kwargs.pop("python", None)
    cwd = kwargs.pop("cwd", None)
    env = script_env(root, python, **kwargs)
    proc = subprocess.Popen(["bash", str(script)] + list(args), env=env, cwd=cwd and str(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def hook_calls_since(root, count):
    """(action, exit) of each manage_hooks call after the first `count` calls of any tool."""
    return [(c["argv"][0], c["exit"]) for c in calls(root)[count:] if c["tool"] == "manage_hooks"]


def install(src, root, *args, **kwargs):
    code, out, err = run_script(src / "install.sh", root, *args, **kwargs)
    assert code == 0, "install.sh failed (%s)\nstdout:\n%s\nstderr:\n%s" % (code, out, err)
    return out


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(src, root, output) of one fresh install that tests only read."""
    base = tmp_path_factory.mktemp("fresh").resolve()
    source, top = make_src(base / "src"), make_root(base / "root")
    return source, top, install(source, top)


def uninstall(script, root, *args, **kwargs):
    code, out, err = run_script(script, root, *args, **kwargs)
    assert code == 0, "uninstall.sh failed (%s)\nstdout:\n%s\nstderr:\n%s" % (code, out, err)
    return out


def calls(root, tool=None):
    path = root / CALL_LOG
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in entries if tool is None or e["tool"] == tool]


def registry(root):
    """Every registration in the fake cPanel's hook registry, flat: each stored entry
    with its category and event (the registry keeps one YAML list per event)."""
    found = []
    for path in sorted((root / HOOKS_DATA).glob("*/*.yaml")):
        for stored in yaml.safe_load(path.read_text()) or []:
            found.append(dict(stored, category=path.parent.name, event=path.stem))
    return found


def by_event(entries):
    return sorted(entries, key=lambda e: (e["category"], e["event"], e["stage"], e["hook"]))


def as_described(entries):
    """Registrations in the descriptor's own terms: without the id and the default
    escalateprivs cPanel adds to each, in a stable order."""
    plain = []
    for stored in entries:
        entry = {k: v for k, v in stored.items() if k != "id"}
        if entry.get("escalateprivs") == 0:
            del entry["escalateprivs"]
        plain.append(entry)
    return by_event(plain)


def registered_exactly_the_descriptor(root):
    return as_described(registry(root)) == by_event(describe(root))


def describe(root):
    out = subprocess.check_output([str(root / HOOK), "--describe"], stdin=subprocess.DEVNULL,
                                  universal_newlines=True)
    return json.loads(out)


def describe_source(src):
    """The descriptor of the hook in the source tree (same events as the installed one)."""
    out = subprocess.check_output([sys.executable, str(src / "hooks/tokensweeper-hook"),
                                   "--describe"], stdin=subprocess.DEVNULL,
                                  universal_newlines=True)
    return json.loads(out)


def mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def snapshot(top):
    """path -> (mode, uid, gid, content digest or link target), for the whole tree
    but the fake tools' own call log."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(str(top)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, str(top))
            if rel == CALL_LOG:
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                what = "-> " + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    what = hashlib.sha256(handle.read()).hexdigest()
            else:
                what = "dir"
            result[rel] = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, what)
    return result


def write_config(root, text):
    path = root / CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_config(path):
    """The project's own config loader, on the file the installer wrote."""
    from tokensweeper import config
    return config.load(str(path))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh must run as root")
pytestmark = needs_root


# -- the repository and the scripts themselves ------------------------------

def test_repo_ships_every_file_the_installer_installs():
    missing = [rel for rel in SHIPPED if not os.path.exists(real(rel))]
    assert not missing, "install.sh needs these files, missing from the repository: %s" % missing


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_pass_shellcheck():
    proc = subprocess.Popen(["shellcheck", real("install.sh"), real("uninstall.sh")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    out, _ = proc.communicate()
    assert proc.returncode == 0, out


@pytest.mark.parametrize("script", ["install.sh", "uninstall.sh"])
def test_scripts_are_strict_and_explain_themselves(script, tmp_path):
    text = open(real(script)).read()
    assert text.startswith("#!/bin/bash\n")
    assert "\nset -euo pipefail\n" in text
    code, out, err = run_script(real(script), tmp_path, "--help")
    assert code == 0 and out.startswith("Usage:") and "INSTALL_ROOT" in out
    code, out, err = run_script(real(script), tmp_path, "--bogus")
    assert code == 2 and "unknown argument: --bogus" in err
    assert not os.listdir(str(tmp_path)), "--help or a bad argument must not touch the tree"


# -- refusals ---------------------------------------------------------------

def test_refuses_without_cpanel(src, root):
    os.remove(str(root / "usr/local/cpanel/bin/whmapi1"))
    code, out, err = run_script(src / "install.sh", root)
    assert code == 1
    assert "usr/local/cpanel/bin/whmapi1 is missing" in err
    assert not (root / LIB).exists() and not (root / CONFIG).exists()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is needed to drop root")
def test_refuses_when_not_root(root):
    # The user nobody cannot read tmp_path, nor (in CI) the clone: give it a readable copy.
    readable = tempfile.mkdtemp(prefix="tokensweeper-install-")
    try:
        os.chmod(readable, 0o755)
        script = os.path.join(readable, "install.sh")
        shutil.copy(real("install.sh"), script)
        os.chmod(script, 0o755)
        proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 "bash", script], env=script_env(root), cwd="/",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        out, err = proc.communicate(timeout=60)
    finally:
        shutil.rmtree(readable)
    assert proc.returncode == 1
    assert "must run as root" in err


def test_refuses_an_install_root_with_white_space_before_writing_anything(src, tmp_path):
    """cPanel splits a hook's command line on spaces and cron runs its line through sh: a
    hook or command under such a path can never run. The installer used to find out at
    the hook step, with the files and the page already in place and "fix and rerun"."""
    spaced = make_root(tmp_path.resolve() / "fake root")
    before = snapshot(spaced)
    code, out, err = run_script(src / "install.sh", spaced)
    assert code == 1 and "contains white space" in err
    assert snapshot(spaced) == before and calls(spaced) == []


def test_a_source_directory_with_white_space_installs(tmp_path, root):
    spaced_src = make_src(tmp_path / "unpacked here" / "src")
    install(spaced_src, root)
    assert registered_exactly_the_descriptor(root)


def test_refuses_incomplete_source(src, root):
    os.remove(str(src / "appconfig" / "tokensweeper.png"))
    code, out, err = run_script(src / "install.sh", root)
    assert code == 1 and "missing: appconfig/tokensweeper.png" in err
    assert not (root / LIB).exists()


@pytest.mark.skipif(not os.access(pyenv_python("2.7.18"), os.X_OK),
                    reason="pyenv Python 2.7.18 is not installed")
def test_refuses_python_older_than_3_6(src, root):
    code, out, err = run_script(src / "install.sh", root, python=pyenv_python("2.7.18"))
    assert code == 1 and "needs Python 3.6 or newer" in err
    assert not (root / LIB).exists()


def test_refuses_relative_interpreter(src, root):
    code, out, err = run_script(src / "install.sh", root, python="python3")
    assert code == 1 and "must be an absolute path" in err


def bare_python():
    """A Python >= 3.6 without Jinja2 or PyYAML, to see the installer ask for them."""
    for version in ("3.12.1", "3.9.18", "3.6.15", "3.13.0", "3.10.13"):
        python = pyenv_python(version)
        if os.access(python, os.X_OK) and not has_modules(python):
            return python
    return None


@pytest.mark.skipif(bare_python() is None, reason="every Python here has Jinja2 and PyYAML")
def test_missing_modules_with_no_packages_names_the_os_packages(src, root):
    code, out, err = run_script(src / "install.sh", root, "--no-packages", python=bare_python())
    assert code == 1
    assert "python3-jinja2 python3-pyyaml" in err and "python3-yaml" in err
    assert not (root / LIB).exists()


# -- a fresh install --------------------------------------------------------

def test_fresh_install_places_every_file_root_owned_and_closed(fresh):
    src, root, out = fresh
    for rel in CODE_PATHS + (CONFIG, STATE, APP_CONF):
        assert (root / rel).exists(), rel
    assert (root / LIB / "tokensweeper" / "__init__.py").is_file()
    assert not (root / LIB / "tokensweeper" / "__pycache__" / "junk.cpython-99.pyc").exists()
    assert (root / LIB / "uninstall.sh").is_file()
    for rel in ENTRY_POINTS.values():
        assert mode(root / rel) == 0o755, rel
    assert mode(root / ICON) == 0o644
    assert mode(root / MAN_PAGE) == 0o644
    assert mode(root / CONFIG) == 0o600
    assert mode(root / STATE) == 0o700
    assert mode(root / CRON) == 0o644
    assert mode(root / APP_CONF) == 0o600
    for top in CODE_PATHS + ("etc/tokensweeper", STATE):
        paths = [str(root / top)]
        for dirpath, dirnames, filenames in os.walk(str(root / top)):
            paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
        for path in paths:
            info = os.lstat(path)
            assert info.st_uid == 0 and info.st_gid == 0, path
            writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            assert not writable, "%s is writable by group or others" % path
    assert "Installing Token Sweeper" in out


def test_entry_points_run_the_chosen_python_on_the_installed_library(fresh):
    src, root, _ = fresh
    lib_dir = os.path.realpath(str(root / LIB))
    for origin, rel in ENTRY_POINTS.items():
        lines = (root / rel).read_text().splitlines()
        assert lines[0] == "#!" + sys.executable, rel
        lib_lines = [line for line in lines if line.startswith("LIB_DIR = ")]
        assert lib_lines == ['LIB_DIR = "%s"' % lib_dir], rel
        # Nothing else of the entry point changed.
        original = (src / origin).read_text().splitlines()
        assert len(lines) == len(original)
        assert [a for a, b in zip(lines[1:], original[1:]) if a != b] == lib_lines


def test_man_page_holds_every_command_and_flag_the_installed_command_knows(fresh):
    """`man tokensweeper` is written at install time from the installed command's parser
    by the chosen Python: what `tokensweeper COMMAND --help` lists, the page says."""
    _, root, out = fresh
    page = (root / MAN_PAGE).read_text()
    assert page.startswith('.\\" Generated from the tokensweeper command')
    assert ".TH TOKENSWEEPER 8" in page
    text = page.replace("\\-", "-")
    env = dict(os.environ, PYTHONPATH="", COLUMNS="200")
    top = subprocess.check_output([str(root / COMMAND), "--help"], env=env,
                                  universal_newlines=True)
    commands = re.findall(r"^    ([a-z][a-z-]+)", top, re.M)  # listed under COMMAND
    assert "sweep" in commands and "incident-report" in commands
    for command in commands:
        helptext = subprocess.check_output([str(root / COMMAND), command, "--help"], env=env,
                                           universal_newlines=True)
        assert ".SS %s\n" % command in text
        for flag in set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", helptext)):
            assert flag in text, (command, flag)
    assert "installed: %s" % (root / MAN_PAGE) in out


def test_a_changed_or_missing_man_page_is_put_back_and_counted(src, root):
    install(src, root)
    page = root / MAN_PAGE
    written = page.read_text()
    page.write_text(".TH TOKENSWEEPER 8\nedited by hand\n")
    out = install(src, root)
    assert page.read_text() == written and "  Changes:     1\n" in out
    page.unlink()
    assert "  Changes:     1\n" in install(src, root) and page.read_text() == written
    assert "Changes:     none" in install(src, root)


def test_writes_a_commented_default_config_the_loader_accepts(fresh):
    _, root, _ = fresh
    text = (root / CONFIG).read_text()
    loaded = load_config(root / CONFIG)
    defaults = load_config(root / "no-such-config.yaml")
    # The file states every default explicitly, and they are the loader's.
    assert loaded.to_dict() == defaults.to_dict()
    import yaml
    document = yaml.safe_load(text)
    assert set(document) == set(defaults.to_dict())
    for key, value in defaults.to_dict().items():
        if isinstance(value, dict):
            assert set(document[key]) == set(value), key
    # Every key has a comment just above it.
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^\s*[a-z_]+:", line):
            assert lines[number - 1].strip().startswith("#"), "no comment above: %r" % line


def test_registers_the_page_with_appconfig(fresh):
    src, root, _ = fresh
    registered = (root / APP_CONF).read_text()
    assert registered == (src / "appconfig" / "tokensweeper.conf").read_text()
    settings = dict(line.split("=", 1) for line in registered.splitlines()
                    if line and not line.startswith(("#", ";")))
    # The menu entry and the icon point at files the installer put there.
    docroot = root / "usr/local/cpanel/whostmgr/docroot"
    assert (docroot / "cgi" / settings["entryurl"]) == root / CGI
    assert (docroot / "addon_plugins" / settings["icon"]) == root / ICON
    (register,) = calls(root, "register_appconfig")
    assert register["argv"] == [str(root / LIB / "tokensweeper.conf")] and register["exit"] == 0


def test_registers_exactly_the_installed_hooks_descriptor(fresh):
    _, root, _ = fresh
    entries = describe(root)
    assert registered_exactly_the_descriptor(root)
    assert all(e["hook"].split(" ")[0] == str(root / HOOK) for e in entries)
    # Read the registry, register, read it again to be sure: nothing is deleted on a
    # first install (cPanel's delete would exit 1 for every event not registered).
    hook_calls = [c["argv"][:2] for c in calls(root, "manage_hooks")]
    assert hook_calls == [["list", "--output=JSON"], ["add", "script"], ["list", "--output=JSON"]]
    assert all(c["exit"] == 0 for c in calls(root))


@pytest.mark.parametrize("schedule, when", [("daily", r"\d+ 4 \* \* \*"),
                                            ("hourly", r"\d+ \* \* \* \*")])
def test_cron_entry_follows_the_schedule(src, root, schedule, when):
    write_config(root, "schedule: %s\n" % schedule)
    out = install(src, root)
    text = (root / CRON).read_text()
    job = [line for line in text.splitlines()
           if line and not line.startswith("#") and "=" not in line]
    command = str(root / COMMAND)
    expected = r"^%s root %s sweep --scheduled$" % (when, re.escape(command))
    assert len(job) == 1 and re.match(expected, job[0]), text
    assert "MAILTO" not in text
    assert schedule in out


@pytest.mark.parametrize("spelling", ['"off"', "off"])
def test_schedule_off_removes_the_cron_entry(src, root, spelling):
    # Left by an earlier install with `schedule: daily`.
    (root / CRON).write_text("17 4 * * * root %s sweep --scheduled\n" % (root / COMMAND))
    write_config(root, "schedule: %s\n" % spelling)
    out = install(src, root)
    assert not (root / CRON).exists()
    assert "off (no cron entry)" in out


def test_summary_tells_version_python_page_config_and_mode(fresh):
    src, root, out = fresh
    summary = out[out.index("is installed."):]
    init = (src / "plugin/tokensweeper/__init__.py").read_text()
    version = re.search(r"__version__ = \"([^\"]+)\"", init).group(1)
    assert "Token Sweeper %s is installed." % version in out
    assert sys.executable in summary
    assert "WHM > Plugins > API Token Sweeper" in summary
    assert str(root / CONFIG) in summary
    assert "preview" in summary and "mode: enforce" in summary


def test_a_bad_config_is_reported_and_kept(src, root, tmp_path):
    text = "mode: enforcing\nschedule: weekly\n"
    write_config(root, text)
    temp = tmp_path / "tmp"
    temp.mkdir()
    code, out, err = run_script(src / "install.sh", root, TMPDIR=str(temp))
    assert code == 0, err
    assert (root / CONFIG).read_text() == text
    assert "unknown schedule 'weekly'" in err and "the config has problems" in err
    assert "'enforcing' is not preview or enforce" in out
    assert re.search(r"^\d+ 4 \* \* \* root ", (root / CRON).read_text(), re.M)
    # No temporary file is left behind, in TMPDIR or next to the installed files.
    assert os.listdir(str(temp)) == []
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(str(root)) for f in files
                 if f.startswith(".tokensweeper.")]
    assert leftovers == []


# -- reruns and upgrades ----------------------------------------------------

def test_second_run_changes_nothing(src, root):
    install(src, root)
    before, seen = snapshot(root), len(calls(root))
    out = install(src, root)
    assert snapshot(root) == before
    assert "Reinstalling" in out and "unchanged: %s/" % (root / LIB) in out
    # The registry already holds the descriptor: read it, touch nothing.
    assert hook_calls_since(root, seen) == [("list", 0)]


def put_registration(root, category, event, **fields):
    """An entry in cPanel's hook registry as an earlier release or another vendor left it."""
    path = root / HOOKS_DATA / category / (event + ".yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = yaml.safe_load(path.read_text()) if path.exists() else []
    entry = {"exectype": "script", "escalateprivs": 0, "weight": 100,
             "id": "left-%s-%d" % (event, len(entries))}
    entry.update(fields)
    path.write_text("---\n" + yaml.safe_dump(entries + [entry]))
    return entry


def delete_registration(root, event, stage):
    category = "Passwd" if event == "ChangePasswd" else "Whostmgr"
    code, out, _ = tool(root, "manage_hooks", "delete", "script", str(root / HOOK), "--manual",
                        "--category=" + category, "--event=" + event, "--stage=" + stage)
    assert code == 0, out


def vendor_hook(root):
    path = root / "usr/local/cpanel/3rdparty/bin/vendor-hook"
    path.write_text("#!/bin/sh\necho 1\n")
    path.chmod(0o755)
    return str(path)


def test_first_install_beside_another_vendors_hooks_on_the_same_events(src, root):
    # cPanel's delete would say "No matching hooks found" here: the old installer died on it.
    vendor = vendor_hook(root)
    for event, stage in (("Accounts::Remove", "pre"), ("Accounts::suspendacct", "post")):
        put_registration(root, "Whostmgr", event, stage=stage, hook=vendor)
    install(src, root)
    assert as_described([e for e in registry(root) if e["hook"] != vendor]) == by_event(
        describe(root))
    assert len([e for e in registry(root) if e["hook"] == vendor]) == 2
    assert all(c["exit"] == 0 for c in calls(root))


def test_rerun_repairs_a_partial_registration(src, root):
    install(src, root)
    delete_registration(root, "Accounts::Remove", "pre")
    delete_registration(root, "ChangePasswd", "post")
    assert not registered_exactly_the_descriptor(root)
    seen = len(calls(root))
    install(src, root)
    assert registered_exactly_the_descriptor(root)
    assert hook_calls_since(root, seen) == [("list", 0), ("add", 0), ("list", 0)]


def test_rerun_replaces_an_older_descriptors_registrations_and_keeps_other_vendors(src, root):
    install(src, root)
    hook, vendor = str(root / HOOK), vendor_hook(root)
    # An older release: the same event and stage, registered blocking, and an event it
    # no longer hooks; another vendor's hook on one of those events.
    put_registration(root, "Whostmgr", "Accounts::Modify", stage="post", hook=hook, blocking=1,
                     description="Token Sweeper 0.0.1")
    put_registration(root, "Whostmgr", "Accounts::Create", stage="post", hook=hook)
    put_registration(root, "Whostmgr", "Accounts::Modify", stage="post", hook=vendor)
    seen = len(calls(root))
    out = install(src, root)
    assert registered_exactly_the_descriptor_beside(root, vendor)
    assert [e["event"] for e in registry(root) if e["hook"] == vendor] == ["Accounts::Modify"]
    actions = hook_calls_since(root, seen)
    assert actions == [("list", 0)] + [("delete", 0)] * 3 + [("add", 0), ("list", 0)]
    assert "removing Whostmgr::Accounts::Create (post)" in out


GUARD_EVENT = ("Cpanel", "UAPI::Tokens::create_full_access")


def guard_registrations(root, event=GUARD_EVENT):
    return [e for e in registry(root) if (e["category"], e["event"]) == event]


def test_the_creation_guard_is_registered_blocking_and_escalated_and_converges(src, root):
    install(src, root)
    [entry] = guard_registrations(root)
    # Blocking: a refusal must stop the creation. Escalated: a UAPI call runs as the
    # account, and the config the guard reads is root's 0600 file.
    assert (entry["stage"], entry["blocking"], entry["escalateprivs"]) == ("pre", 1, 1)
    assert entry["hook"] == str(root / HOOK)
    # An admin (or an older release) left it unescalated and not blocking: a rerun puts
    # the descriptor back, through the strict fake's delete and add.
    path = root / HOOKS_DATA / "Cpanel" / "UAPI::Tokens::create_full_access.yaml"
    (stored,) = yaml.safe_load(path.read_text())
    stored.update(blocking=0, escalateprivs=0)
    path.write_text("---\n" + yaml.safe_dump([stored]))
    seen = len(calls(root))
    install(src, root)
    [entry] = guard_registrations(root)
    assert (entry["blocking"], entry["escalateprivs"]) == (1, 1)
    assert hook_calls_since(root, seen) == [("list", 0), ("delete", 0), ("add", 0),
                                            ("list", 0)]
    assert registered_exactly_the_descriptor(root)
    [rename] = guard_registrations(root, ("Cpanel", "UAPI::Tokens::rename"))
    assert (rename["stage"], rename["blocking"], rename["escalateprivs"]) == ("pre", 1, 1)
    uninstall(src / "uninstall.sh", root)
    assert guard_registrations(root) == [] and registry(root) == []


def registered_exactly_the_descriptor_beside(root, vendor):
    ours = [e for e in registry(root) if e["hook"] != vendor]
    return as_described(ours) == by_event(describe(root))


def test_rerun_keeps_the_weight_and_the_switch_an_admin_gave_a_registration(src, root):
    install(src, root)
    path = root / HOOKS_DATA / "Whostmgr" / "Accounts::suspendacct.yaml"
    (stored,) = yaml.safe_load(path.read_text())
    stored.update(weight=5, disabled=1)  # WHM > Manage Hooks: moved first, switched off
    path.write_text("---\n" + yaml.safe_dump([stored]))
    seen = len(calls(root))
    install(src, root)
    assert yaml.safe_load(path.read_text()) == [stored]
    assert hook_calls_since(root, seen) == [("list", 0)]


def test_rerun_from_the_library_directory(src, root):
    install(src, root)
    before, seen = snapshot(root), len(calls(root))
    install(src, root, cwd=root / LIB)
    assert snapshot(root) == before
    assert all(c["exit"] == 0 for c in calls(root)[seen:])


# install.sh and uninstall.sh as released before issue 20, to show the fakes now fail them.
BEFORE_ISSUE_20 = "d3e8c59"


def released_script(name):
    try:
        return subprocess.check_output(
            ["git", "-C", REPO, "show", "%s:%s" % (BEFORE_ISSUE_20, name)],
            stderr=subprocess.DEVNULL, universal_newlines=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the repository's history is not here (git show %s)" % BEFORE_ISSUE_20)


def test_the_fakes_fail_the_old_installer_on_a_fresh_install_as_cpanel_does(src, root):
    (src / "install.sh").write_text(released_script("install.sh"))
    code, out, err = run_script(src / "install.sh", root)
    assert code != 0 and "failed at line" in err
    assert "does not exist in hooks registry" in out
    assert registry(root) == []


def test_the_fakes_fail_the_old_uninstaller_in_the_library_directory(src, root):
    install(src, root)
    old = root / LIB / "uninstall.sh"
    old.write_text(released_script("uninstall.sh"))
    code, out, err = run_script(old, root, cwd=root / LIB)
    assert code != 0
    assert "The 'conf_file' must be readable and a plain file." in out


def test_existing_config_is_kept_and_closed(src, root):
    path = write_config(root, "# mine\nmode: enforce\nschedule: hourly\n")
    path.chmod(0o644)
    out = install(src, root)
    assert path.read_text() == "# mine\nmode: enforce\nschedule: hourly\n"
    assert mode(path) == 0o600
    assert "kept your config" in out
    assert "enforce: scheduled and hook runs REVOKE" in out and "mode: preview" in out
    assert "hourly" in out


def old_hook(descriptor_event):
    """An older release's hook, whose descriptor differs from the current one."""
    return (
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "LIB_DIR = 'x'\n"
        "print(json.dumps([{'category': 'Whostmgr', 'event': %r, 'stage': 'post',\n"
        "                   'hook': os.path.abspath(__file__), 'exectype': 'script',\n"
        "                   'description': 'Token Sweeper 0.0.1'}]))\n" % descriptor_event)


def test_upgrade_replaces_code_and_registrations_and_keeps_config_and_audit(src, root):
    # Release 0.0.1: a module that the next release no longer has, a hook with another descriptor.
    (src / "plugin/tokensweeper/obsolete.py").write_text("GONE = True\n")
    init = src / "plugin/tokensweeper/__init__.py"
    current = init.read_text()
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "0.0.1"', current))
    install(src, root)
    (root / HOOK).write_text(old_hook("Accounts::Create"))
    manage_hooks = str(root / "usr/local/cpanel/bin/manage_hooks")
    subprocess.check_call([manage_hooks, "add", "script", str(root / HOOK)],
                          stdout=subprocess.DEVNULL, env=script_env(root))
    assert any(e["event"] == "Accounts::Create" for e in registry(root))
    config = write_config(root, "mode: enforce\npolicy:\n  older_than_days: 90\n")
    audit = root / STATE / "audit.log"
    audit.write_text('{"event": "sweep", "run_id": "r1"}\n')

    # Release 9.9.9.
    (src / "plugin/tokensweeper/obsolete.py").unlink()
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "9.9.9"', current))
    out = install(src, root)

    assert "Upgrading Token Sweeper 0.0.1 to 9.9.9" in out
    assert '"9.9.9"' in (root / LIB / "tokensweeper/__init__.py").read_text()
    assert not (root / LIB / "tokensweeper/obsolete.py").exists()
    assert registered_exactly_the_descriptor(root), "the old release's registrations must be gone"
    assert config.read_text() == "mode: enforce\npolicy:\n  older_than_days: 90\n"
    assert audit.read_text() == '{"event": "sweep", "run_id": "r1"}\n'
    assert "Token Sweeper 9.9.9 is installed." in out


# -- uninstall --------------------------------------------------------------

def assert_code_gone(root):
    for rel in CODE_PATHS + (APP_CONF,):
        assert not (root / rel).exists(), rel
    assert not any(e["hook"].startswith(str(root / HOOK)) for e in registry(root))


def test_uninstall_removes_code_and_registrations_and_keeps_data(src, root):
    install(src, root)
    (root / STATE / "audit.log").write_text("{}\n")
    out = uninstall(src / "uninstall.sh", root)
    assert_code_gone(root)
    assert (root / CONFIG).exists() and (root / STATE / "audit.log").exists()
    assert str(root / "etc/tokensweeper") in out and str(root / STATE) in out and "--purge" in out
    events = len(describe_source(src))
    done = [c for c in calls(root) if c["tool"] != "whmapi1"][-(events + 2):]
    # Read the registry, delete each registration (from it, not from a descriptor),
    # unregister the page by the conf file's absolute path.
    assert [c["argv"][:2] for c in done[:1 + events]] == (
        [["list", "--output=JSON"]] + [["delete", "script"]] * events)
    assert all("--manual" in c["argv"] and c["exit"] == 0 for c in done[1:1 + events])
    assert done[-1]["tool"] == "unregister_appconfig"
    assert done[-1]["argv"] == [str(root / LIB / "tokensweeper.conf")]
    # Again: nothing left to do, still fine.
    out = uninstall(src / "uninstall.sh", root)
    assert "already gone" in out
    assert_code_gone(root)


@pytest.mark.parametrize("where", ["/", "library", "source"])
def test_uninstall_from_any_directory(src, root, where):
    install(src, root)
    script, cwd = {"/": (root / LIB / "uninstall.sh", "/"),
                   "library": (root / LIB / "uninstall.sh", root / LIB),
                   "source": (src / "uninstall.sh", src)}[where]
    seen = len(calls(root))
    uninstall(script, root, cwd=cwd)
    assert_code_gone(root)
    assert registry(root) == []
    assert all(c["exit"] == 0 for c in calls(root)[seen:]), calls(root)[seen:]


def test_uninstall_after_a_partial_registration(src, root):
    install(src, root)
    delete_registration(root, "Accounts::Modify", "post")
    vendor = vendor_hook(root)
    put_registration(root, "Whostmgr", "Accounts::Modify", stage="post", hook=vendor)
    seen = len(calls(root))
    uninstall(root / LIB / "uninstall.sh", root, cwd=root / LIB)
    assert_code_gone(root)
    assert [e["hook"] for e in registry(root)] == [vendor]
    assert all(c["exit"] == 0 for c in calls(root)[seen:])


def test_uninstall_removes_registrations_whose_script_is_already_gone(src, root):
    install(src, root)
    put_registration(root, "Whostmgr", "Accounts::Create", stage="post", hook=str(root / HOOK))
    os.remove(str(root / HOOK))
    uninstall(src / "uninstall.sh", root)
    assert_code_gone(root)
    assert registry(root) == []


def test_installed_uninstaller_works_without_the_source(src, root):
    install(src, root)
    shutil.rmtree(str(src))
    uninstall(root / LIB / "uninstall.sh", root)
    assert_code_gone(root)


def test_purge_also_removes_config_and_audit_log(src, root):
    install(src, root)
    (root / STATE / "audit.log").write_text("{}\n")
    uninstall(src / "uninstall.sh", root, "--purge")
    assert_code_gone(root)
    assert not (root / "etc/tokensweeper").exists() and not (root / STATE).exists()
    # cPanel's own directories stay.
    assert (root / "usr/local/cpanel/bin/whmapi1").exists() and (root / "var/cpanel/apps").is_dir()


def test_uninstall_after_an_interrupted_install(src, root):
    # register_appconfig fails: files are in place, nothing is registered.
    os.remove(str(root / "usr/local/cpanel/bin/register_appconfig"))
    code, out, err = run_script(src / "install.sh", root)
    assert code != 0 and "safe to rerun" in err
    assert (root / LIB).exists() and not (root / APP_CONF).exists()
    # An install cut short while swapping the library leaves its staging copy.
    (root / (LIB + ".new") / "tokensweeper").mkdir(parents=True)
    uninstall(src / "uninstall.sh", root)
    assert_code_gone(root)
    assert not (root / (LIB + ".new")).exists()


def test_uninstall_on_a_tree_with_nothing_installed(src, root):
    out = uninstall(src / "uninstall.sh", root)
    assert "already gone" in out
    assert_code_gone(root)


def test_uninstall_when_cpanel_is_already_gone(src, root):
    install(src, root)
    shutil.rmtree(str(root / "usr/local/cpanel/bin"))
    out = uninstall(src / "uninstall.sh", root)
    assert "manage_hooks is missing" in out
    for rel in CODE_PATHS:
        assert not (root / rel).exists(), rel


def test_reinstall_after_uninstall_finds_the_kept_config(src, root):
    install(src, root)
    write_config(root, "mode: enforce\n")
    uninstall(src / "uninstall.sh", root)
    out = install(src, root)
    assert "kept your config" in out and "enforce" in out


# -- the matrix of interpreters ----------------------------------------------

@pytest.mark.parametrize("version", ["3.6.15", "3.9.18", "3.12.1"])
def test_installs_and_runs_with_each_matrix_python(src, root, version):
    python = matrix_python(version)
    if python is None:
        pytest.skip("no Python %s with Jinja2 and PyYAML here (tools/matrix.sh builds .venv-%s)"
                    % (version, version))
    out = install(src, root, python=python)
    assert "Python %s" % version in out
    for rel in ENTRY_POINTS.values():
        assert (root / rel).read_text().splitlines()[0] == "#!" + python
    result = json.loads(run_installed(root, COMMAND, "check-config", "--json"))
    assert result["ok"] is True and result["config"]["mode"] == "preview"
    assert registered_exactly_the_descriptor(root)


# -- the installed copy works -----------------------------------------------

def installed_env(root, server, **extra):
    env = script_env(root)
    env.update(server.env)
    env.update({
        "TOKENSWEEPER_WHMAPI1": str(root / "usr/local/cpanel/bin/whmapi1"),
        "TOKENSWEEPER_CONFIG": str(root / CONFIG),
        "TOKENSWEEPER_STATE_DIR": str(root / STATE),
        "TOKENSWEEPER_CPANEL_ROOT": str(root),
        "PATH": server.child_path(),
    })
    env.update(extra)
    return env


def run_installed(root, rel, *args, **kwargs):
    stdin = kwargs.pop("stdin", None)
    env = kwargs.pop("env", None) or script_env(root, **kwargs)
    proc = subprocess.Popen([str(root / rel)] + list(args), env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(stdin.encode() if stdin else b"", timeout=120)
    assert proc.returncode == 0, "%s %s failed (%s): %s" % (
        rel, args, proc.returncode, err.decode())
    return out.decode()


@pytest.fixture
def server(tmp_path, root):
    """A fake server: root and reseller bob, each with a live and an expired token."""
    fake = FakeServer(tmp_path / "fake", now=NOW)
    fake.add_reseller("bob")
    (root / "var/cpanel/resellers").write_text("bob:all\n")
    fake.add_token("root", "deploy", create_time=NOW - 30 * DAY)
    fake.add_token("root", "old-ci", create_time=NOW - 400 * DAY, expires_at=NOW - 10 * DAY)
    fake.add_token("bob", "billing", create_time=NOW - 5 * DAY)
    fake.add_token("bob", "bob-expired", create_time=NOW - 90 * DAY, expires_at=NOW - DAY)
    return fake


def test_installed_command_lists_every_owners_tokens(src, root, server):
    install(src, root)
    out = run_installed(root, COMMAND, "list", "--all-owners", "--json",
                        env=installed_env(root, server))
    listed = {(t["owner"], t["name"]) for t in json.loads(out)["tokens"]}
    assert listed == {("root", "deploy"), ("root", "old-ci"),
                      ("bob", "billing"), ("bob", "bob-expired")}
    assert calls(root, "whmapi1"), "the command must go through the server's whmapi1"


def test_installed_hook_describes_itself_and_handles_a_suspension(src, root, server):
    install(src, root)
    write_config(root, "mode: enforce\nevents:\n  suspend: sweep\n")
    entries = describe(root)
    assert entries and all(e["hook"].split(" ")[0] == str(root / HOOK) for e in entries)
    suspend = [e for e in entries if e["event"] == "Accounts::suspendacct"]
    assert suspend and all(e["stage"] == "post" for e in suspend)
    event = {"hook": suspend[0],
             "context": {"category": "Whostmgr", "event": "Accounts::suspendacct", "stage": "post",
                         "point": "main"},
             "data": {"args": {"user": "bob", "reason": "unpaid", "disallowun": 0}, "result": 1,
                      "user": "root"}}
    out = run_installed(root, HOOK, stdin=json.dumps(event, separators=(",", ":")),
                        env=installed_env(root, server))
    assert out.strip().split()[0] == "1", out
    # In enforce mode the suspended reseller's expired token is gone, the rest stays.
    assert set(server.token_names("bob")) == {"billing"}
    assert set(server.token_names("root")) == {"deploy", "old-ci"}


# cPanel runs hook scripts with exactly this environment: no PATH, no LANG.
CPANEL_HOOK_ENV = {"HOME": "/root", "USER": "root", "TMP": "/tmp", "TEMP": "/tmp"}
# What the installed hook reads at its real places (whmapi1, the config, the resellers and
# token files): where any exists, this is (like) a cPanel server and the test stays away.
ON_A_CPANEL_SERVER = any(os.path.exists(p) for p in (
    "/usr/local/cpanel", "/etc/tokensweeper", "/var/cpanel/resellers", "/var/cpanel/authn"))


def run_as_cpanel_runs_hooks(root, *args, **kwargs):
    proc = subprocess.Popen([str(root / HOOK)] + list(args), env=dict(CPANEL_HOOK_ENV),
                            cwd="/", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate(kwargs.get("stdin", b""), timeout=120)
    return out, err.decode("utf-8", "replace")


@pytest.mark.skipif(ON_A_CPANEL_SERVER, reason="the installed hook would act on this server")
def test_installed_hook_works_with_only_the_environment_cpanel_gives_it(fresh):
    """The installed hook under HOME, USER, TMP and TEMP alone, as cPanel starts it: it
    describes itself, and answers an event with one success line, in the C locale."""
    _, root, _ = fresh
    out, err = run_as_cpanel_runs_hooks(root, "--describe")
    entries = json.loads(out.decode("ascii"))
    assert {e["hook"] for e in entries} == {str(root / HOOK)}, err
    # A plain account: the fast path, reading cPanel's files at their real places.
    event = {"hook": entries[0], "context": {"category": "Whostmgr", "stage": "post",
                                             "event": "Accounts::suspendacct", "point": "main"},
             "data": {"args": {"user": "tswnobody", "reason": "impayé “overdue”",
                               "disallowun": "0"}, "result": "1", "user": "root"}}
    out, err = run_as_cpanel_runs_hooks(
        root, stdin=json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())
    assert out == (b"1 tokensweeper: suspendacct tswnobody: the account owns no API "
                   b"tokens; nothing to do\n"), err
    # root passes the fast path: the engine and the config loader run (no config file
    # here: the defaults, which ignore password changes), a non-ASCII password in the payload.
    password = "pässwörd “x” SECRET"
    event = {"hook": entries[0], "context": {"category": "Passwd", "event": "ChangePasswd",
                                             "stage": "post", "point": "main"},
             "data": {"user": "root", "newpass": password, "new_password": password,
                      "origin": "whm", "initiator": "root"}}
    out, err = run_as_cpanel_runs_hooks(
        root, stdin=json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())
    assert out == (b"1 tokensweeper: ChangePasswd root: events.password_change is ignore; "
                   b"nothing to do\n"), err
    assert "Traceback" not in err and "SECRET" not in err


def cgi_env(root, server, user):
    return installed_env(root, server, REMOTE_USER=user, REQUEST_METHOD="GET", QUERY_STRING="",
                         cp_security_token="/cpsess0000000001",
                         SCRIPT_NAME="/cpsess0000000001/cgi/tokensweeper/index.cgi",
                         HTTP_HOST="server.example.com:2087", REMOTE_ADDR="192.0.2.10",
                         SERVER_PORT="2087", HTTPS="on")


def test_installed_page_shows_root_every_token_and_refuses_strangers(src, root, server):
    install(src, root)
    out = run_installed(root, CGI, env=cgi_env(root, server, "root"))
    head, _, body = out.partition("\n\n") if "\r\n\r\n" not in out else out.partition("\r\n\r\n")
    assert "text/html" in head.lower()
    assert not re.search(r"^Status: [45]", head, re.M), head
    for name in ("deploy", "old-ci", "billing", "bob-expired"):
        assert name in body
    out = run_installed(root, CGI, env=cgi_env(root, server, "mallory"))
    assert re.search(r"^Status: 403", out, re.M), out[:500]
    assert "deploy" not in out


# -- the fake cPanel tools are as strict as the real ones (cpanel-facts.md 2, 3)

GOOD_APPCONFIG = ("name=tokensweeper\nservice=whostmgr\nurl=/cgi/tokensweeper/\n"
                  "acls=all\nentryurl=tokensweeper/index.cgi\n")


def tool(root, name, *args, **kwargs):
    proc = subprocess.Popen([str(root / "usr/local/cpanel/bin" / name)] + list(args),
                            env=script_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, cwd=kwargs.get("cwd"))
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


@pytest.mark.parametrize("text, problem", [
    (GOOD_APPCONFIG.replace("service=whostmgr", "service = whostmgr"), "spaces around '='"),
    (GOOD_APPCONFIG.replace("url=/cgi/tokensweeper/", "url= /cgi/tokensweeper/"), "spaces around"),
    (GOOD_APPCONFIG.replace("name=tokensweeper\n", ""), "missing required key(s): name"),
    (GOOD_APPCONFIG.replace("url=/cgi/tokensweeper/\n", ""), "missing required key(s): url"),
    (GOOD_APPCONFIG.replace("service=whostmgr\n", ""), "missing required key(s): service"),
    (GOOD_APPCONFIG.replace("name=tokensweeper", "name=token sweeper"), "not a valid application"),
    (GOOD_APPCONFIG.replace("url=/cgi/tokensweeper/", "url=/"), "may not be /"),
    (GOOD_APPCONFIG.replace("url=/cgi/tokensweeper/", "url=/cgi"), "may not be /cgi"),
    (GOOD_APPCONFIG.replace("url=/cgi/tokensweeper/", "url=/cgi/"), "may not be /cgi/"),
    (GOOD_APPCONFIG.replace("url=/cgi/tokensweeper/", "url=cgi/tokensweeper/"), "must start with"),
    (GOOD_APPCONFIG + "url2=/cgi\n", "“url2” may not be /cgi"),
])
def test_fake_register_appconfig_rejects_what_cpanel_rejects(root, tmp_path, text, problem):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    code, out, err = tool(root, "register_appconfig", str(conf))
    assert code == 1 and problem in err and "Usage:" in err
    assert os.listdir(str(root / "var/cpanel/apps")) == []


def test_fake_appconfig_registers_and_unregisters_like_cpanel(root, tmp_path):
    conf = tmp_path / "tokensweeper.conf"
    conf.write_text("# comment\n; another\n\n" + GOOD_APPCONFIG)
    code, out, _ = tool(root, "register_appconfig", str(conf))
    assert (code, out) == (0, "tokensweeper registered\n")
    assert mode(root / APP_CONF) == 0o600
    for _ in range(2):  # gone or not, the same answer
        code, out, _ = tool(root, "unregister_appconfig", "tokensweeper")
        assert (code, out) == (0, "tokensweeper unregistered\n")
    assert not (root / APP_CONF).exists()
    assert [c["tool"] for c in calls(root)] == ["register_appconfig"] + ["unregister_appconfig"] * 2


def descriptor_hook(path, entries, status=0):
    """A hook script at `path` whose --describe prints `entries` (JSON text or objects)."""
    text = entries if isinstance(entries, str) else json.dumps(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\ncat <<'JSON'\n%s\nJSON\nexit %d\n" % (text, status))
    path.chmod(0o755)
    return path


def entry(script, **changes):
    base = {"category": "Whostmgr", "event": "Accounts::suspendacct", "stage": "post",
            "hook": str(script), "exectype": "script", "weight": 100}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("make, problem", [
    (lambda h: [entry(h, blocking=True)], "“blocking” must be an integer"),
    (lambda h: [entry(h, weight="100")], "“weight” must be an integer"),
    (lambda h: [entry(h, exectype="module")], "“exectype” must be “script”"),
    (lambda h: [entry(h, hook=None)], "lacks a string “hook”"),
    (lambda h: [entry(h, stage="during")], "“stage” must be pre or post"),
    (lambda h: [entry(h, hook="/nonexistent/hook")], "does not exist"),
    (lambda h: [entry(h, extra=1)], "unknown descriptor keys: extra"),
    (lambda h: [], "non-empty JSON array"),
    (lambda h: "not json", "did not print JSON"),
])
def test_fake_manage_hooks_rejects_bad_descriptors(root, make, problem):
    hook = root / "usr/local/cpanel/3rdparty/bin/h"
    descriptor_hook(hook, make(hook))
    code, out, err = tool(root, "manage_hooks", "add", "script", str(hook))
    assert code == 1 and problem in err
    assert registry(root) == []


def test_fake_manage_hooks_rejects_failing_or_misplaced_scripts(root):
    hook = descriptor_hook(root / "usr/local/cpanel/3rdparty/bin/h", "[]", status=3)
    code, _, err = tool(root, "manage_hooks", "add", "script", str(hook))
    assert code == 1 and "exited with 3" in err
    spaced = descriptor_hook(root / "with space" / "h", [entry(root / "with space" / "h")])
    code, _, err = tool(root, "manage_hooks", "add", "script", str(spaced))
    assert code == 1 and "may not contain spaces" in err
    code, _, err = tool(root, "manage_hooks", "add", "script", "relative/h")
    assert code == 1 and "must be absolute" in err
    assert registry(root) == []


def test_fake_manage_hooks_skips_the_same_script_and_stage_and_deletes_ignoring_weight(root):
    hook = root / "usr/local/cpanel/3rdparty/bin/h"
    first = [entry(hook), entry(hook, event="Accounts::Remove", stage="pre")]
    descriptor_hook(hook, first)
    code, out, _ = tool(root, "manage_hooks", "add", "script", str(hook))
    assert code == 0 and out.count("Added hook for Whostmgr::Accounts::") == 2
    # cPanel skips an entry whose event has this script at this stage, whatever else differs.
    descriptor_hook(hook, [entry(hook, description="changed"), first[1]])
    code, out, _ = tool(root, "manage_hooks", "add", "script", str(hook))
    assert code == 0 and out.count("was skipped, as hook script action") == 2
    assert as_described(registry(root)) == by_event(first)
    # delete compares every described key but weight and description.
    descriptor_hook(hook, [entry(hook, weight=200, description="new words"), first[1]])
    code, out, _ = tool(root, "manage_hooks", "delete", "script", str(hook))
    assert code == 0 and out.count("Deleted hook %s for Whostmgr::Accounts::" % hook) == 2
    assert registry(root) == []
    assert not list((root / HOOKS_DATA).glob("*/*.yaml")), "an event's last entry takes its file"


def test_fake_manage_hooks_delete_fails_for_each_event_without_a_match_but_deletes_the_rest(root):
    hook = root / "usr/local/cpanel/3rdparty/bin/h"
    vendor = descriptor_hook(root / "usr/local/cpanel/3rdparty/bin/vendor",
                             [entry(root / "usr/local/cpanel/3rdparty/bin/vendor",
                                    event="Accounts::Remove", stage="pre")])
    assert tool(root, "manage_hooks", "add", "script", str(vendor))[0] == 0
    mine = [entry(hook), entry(hook, event="Accounts::Remove", stage="pre"),
            entry(hook, event="Accounts::Modify")]
    descriptor_hook(hook, mine[:1])
    assert tool(root, "manage_hooks", "add", "script", str(hook))[0] == 0
    descriptor_hook(hook, mine)  # only the first of its three events is registered
    code, out, err = tool(root, "manage_hooks", "delete", "script", str(hook))
    assert code == 1
    assert "Deleted hook %s for Whostmgr::Accounts::suspendacct in hooks registry" % hook in out
    assert "No matching hooks found for 'Accounts::Remove' in category 'Whostmgr'" in out
    assert ("Provided event of 'Accounts::Modify' in category 'Whostmgr' does not exist in "
            "hooks registry") in out
    assert err.count("There was a failure removing a hook.") == 2
    assert [e["hook"] for e in registry(root)] == [str(vendor)]


def test_fake_manage_hooks_lists_the_registry_as_cpanel_prints_it(root):
    code, out, _ = tool(root, "manage_hooks", "list", "--output=JSON")
    assert (code, out) == (0, "{}")
    hook = descriptor_hook(root / "usr/local/cpanel/3rdparty/bin/h",
                           [entry(root / "usr/local/cpanel/3rdparty/bin/h", weight=None)])
    assert tool(root, "manage_hooks", "add", "script", str(hook))[0] == 0
    code, out, _ = tool(root, "manage_hooks", "list", "--output=JSON")
    assert code == 0 and not out.endswith("\n") and " " not in out.replace(str(hook), "")
    (stored,) = json.loads(out)["Whostmgr"]["Accounts::suspendacct"]
    assert stored["hook"] == str(hook) and stored["stage"] == "post"
    assert stored["weight"] == 100 and stored["escalateprivs"] == 0 and stored["id"]
    assert "category" not in stored and "event" not in stored
    code, out, _ = tool(root, "manage_hooks", "list", "--output=XML")
    assert code == 1 and "Invalid output format requested: XML" in out
    # Options come after the action: cPanel reads the action from the first word.
    assert tool(root, "manage_hooks", "--output=JSON", "list")[0] == 1


def test_fake_manage_hooks_manual_delete_finds_a_registration_without_its_script(root):
    hook = descriptor_hook(root / "usr/local/cpanel/3rdparty/bin/h",
                           [entry(root / "usr/local/cpanel/3rdparty/bin/h")])
    assert tool(root, "manage_hooks", "add", "script", str(hook))[0] == 0
    os.remove(str(hook))
    manual = ("delete", "script", str(hook), "--manual", "--category=Whostmgr",
              "--event=Accounts::suspendacct", "--stage=post")
    code, out, _ = tool(root, "manage_hooks", *manual)
    assert code == 0 and "Deleted hook" in out and registry(root) == []
    code, out, _ = tool(root, "manage_hooks", *manual)
    assert code == 1 and "does not exist in hooks registry" in out


def test_fake_unregister_appconfig_reads_its_argument_as_a_path_first(root, tmp_path):
    conf = tmp_path / "tokensweeper.conf"
    conf.write_text(GOOD_APPCONFIG)
    assert tool(root, "register_appconfig", str(conf))[0] == 0
    library = tmp_path / "lib"
    (library / "tokensweeper").mkdir(parents=True)  # the package directory next to the conf
    code, out, _ = tool(root, "unregister_appconfig", "tokensweeper", cwd=str(library))
    assert code == 1 and "The 'conf_file' must be readable and a plain file." in out
    assert (root / APP_CONF).exists()
    code, out, _ = tool(root, "unregister_appconfig", str(conf), cwd=str(library))
    assert (code, out) == (0, "tokensweeper unregistered\n")
    assert not (root / APP_CONF).exists()
