"""The Ansible collection (ansible/, tokensweeper.cpanel) driving a small fleet (issue 16).

Each "server" is a fake cPanel tree of its own on this machine (as in
tests/test_install.py) with its own fake whmapi1 state; the inventory reaches it
with `ansible_connection: local` and points the role at the tree through
tokensweeper_install_root and tokensweeper_environment. The playbooks run as a
fleet admin runs them: `ansible-playbook -i INVENTORY tokensweeper.cpanel.NAME`,
with the collection found on ANSIBLE_COLLECTIONS_PATH. One server runs Ansible's
modules and the plugin on Python 3.6 (EL8's platform-python) when the matrix's
3.6 venv is here, to back the README's claim that ansible-core 2.16 drives EL8.

ansible-playbook comes from the development venv (ansible-core is pinned in
requirements-dev.txt), or TOKENSWEEPER_ANSIBLE_BIN names its directory.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.fakes.fakeserver import FakeServer
from tests.test_install import make_root, matrix_python

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = os.path.join(REPO, "ansible")
NOW = 1790000000  # 2026-09-21
DAY = 86400
CONFIG = "etc/tokensweeper/config.yaml"
COMMAND = "usr/local/sbin/tokensweeper"
LIB = "usr/local/lib/tokensweeper"


def ansible_bin():
    for directory in (os.environ.get("TOKENSWEEPER_ANSIBLE_BIN"),
                      os.path.dirname(sys.executable)):
        if directory and os.access(os.path.join(directory, "ansible-playbook"), os.X_OK):
            return directory
    return None


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="install.sh must run as root"),
    pytest.mark.skipif(ansible_bin() is None,
                       reason="no ansible-playbook: run `make venv`"),
    # The controller side runs once, on the development Python; the matrix
    # checks the plugin on the other interpreters.
    pytest.mark.skipif(sys.version_info[:2] != (3, 11),
                       reason="the Ansible tests run on the development Python only"),
]


# -- the fleet ---------------------------------------------------------------

class Server(object):
    """One fake cPanel server: its tree, its whmapi1 state and its inventory vars."""

    def __init__(self, base, name, python, dist):
        self.name = name
        self.root = make_root(base / name)
        self.fake = FakeServer(base / (name + "-whmapi1"), now=NOW)
        self.python = python
        self.dist = dist

    def path(self, rel):
        return self.root / rel

    def env(self):
        env = dict(self.fake.env)
        env.update({
            "TOKENSWEEPER_WHMAPI1": str(self.path("usr/local/cpanel/bin/whmapi1")),
            "TOKENSWEEPER_CONFIG": str(self.path(CONFIG)),
            "TOKENSWEEPER_STATE_DIR": str(self.path("var/cpanel/tokensweeper")),
            "TOKENSWEEPER_CPANEL_ROOT": str(self.root),
            "TOKENSWEEPER_NOW": str(NOW),
            # The fake cPanel tools start with `#!/usr/bin/env python3`.
            "PATH": os.pathsep.join([os.path.dirname(sys.executable),
                                     "/usr/sbin:/usr/bin:/sbin:/bin"]),
        })
        return env

    def host_vars(self):
        found = {
            "ansible_connection": "local",
            "ansible_python_interpreter": self.python,
            "tokensweeper_install_root": str(self.root),
            "tokensweeper_python": self.python,
            "tokensweeper_install_packages": False,
            "tokensweeper_command": str(self.path(COMMAND)),
            "tokensweeper_environment": self.env(),
        }
        if self.dist:  # else the role's default: the release the built collection carries
            found["tokensweeper_dist_tarball"] = str(self.dist)
        return found

    def seed(self, reseller, stale):
        """root and a reseller, each with a live token and `stale` expired ones; no faults,
        no calls. Seeding again puts a server back as it was."""
        for owner in self.fake.owners():
            self.fake.replace_tokens(owner, {})
        self.fake.clear_faults()
        self.fake.reset_calls()
        self.seeded = (reseller, stale)
        self.fake.add_reseller(reseller)
        (self.root / "var/cpanel/resellers").write_text("%s:all\n" % reseller)
        self.fake.add_token("root", "deploy", create_time=NOW - 30 * DAY)
        self.fake.add_token(reseller, "billing", create_time=NOW - 5 * DAY)
        for number in range(stale):
            owner = "root" if number % 2 == 0 else reseller
            self.fake.add_token(owner, "old-%d" % number, create_time=NOW - 400 * DAY,
                                expires_at=NOW - (10 + number) * DAY)
        return self

    def revocations(self):
        return list(self.fake.calls("api_token_revoke"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    text = subprocess.check_output([os.path.join(REPO, "tools", "dist.sh"), str(out)],
                                   universal_newlines=True)
    return text.strip().splitlines()[-1]


def el8_python():
    """EL8's platform-python is 3.6: use the matrix's 3.6 venv for one server when here."""
    return matrix_python("3.6.15")


class Fleet(object):
    def __init__(self, tmp_path, dist):
        self.base = tmp_path.resolve()
        self.servers = {}
        self.dist = dist
        self.extra = {}
        # The checkout's collection, as `make ansible-lint` finds it.
        self.collections = self.base / "collections"
        namespace = self.collections / "ansible_collections" / "tokensweeper"
        namespace.mkdir(parents=True)
        os.symlink(COLLECTION, str(namespace / "cpanel"))
        (self.base / "ansible.cfg").write_text("[defaults]\n")

    def add(self, name, python=None):
        server = Server(self.base, name, python or sys.executable, self.dist)
        self.servers[name] = server
        return server

    def inventory(self):
        path = self.base / "inventory.yml"
        hosts = {name: server.host_vars() for name, server in sorted(self.servers.items())}
        path.write_text(yaml.safe_dump({"all": {"children": {"cpanel": {"hosts": hosts}}}}))
        return path

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TOKENSWEEPER_", "ANSIBLE_", "PYTEST"))}
        env.update({
            "ANSIBLE_CONFIG": str(self.base / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_HOME": str(self.base / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(self.base / "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(self.base / "ansible-remote-tmp"),
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "PWD": str(self.base),
            "PATH": os.pathsep.join([ansible_bin(), env.get("PATH", "/usr/bin:/bin")]),
        })
        return env

    def play(self, playbook, *args, **extra_vars):
        """Run `ansible-playbook -i INVENTORY tokensweeper.cpanel.PLAYBOOK` -> Run."""
        argv = [os.path.join(ansible_bin(), "ansible-playbook"), "-i", str(self.inventory()),
                "tokensweeper.cpanel." + playbook] + list(args)
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        proc = subprocess.Popen(argv, cwd=str(self.base), env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        out, err = proc.communicate(timeout=280)
        return Run(proc.returncode, out, err)


RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)


class Run(object):
    """What ansible-playbook did: exit status, output and the recap's counts per host."""

    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err
        self.recap = {}
        for host, counts in RECAP.findall(out.partition("PLAY RECAP")[2]):
            self.recap[host] = {k: int(v) for k, v in (c.split("=") for c in counts.split())}

    def stats(self, host):
        assert host in self.recap, "no recap for %s:\n%s\n%s" % (host, self.out, self.err)
        return self.recap[host]

    def __str__(self):
        return "ansible-playbook exited %s\n%s\n%s" % (self.rc, self.out[-6000:], self.err[-3000:])


@pytest.fixture
def fleet(tmp_path, dist):
    return Fleet(tmp_path, dist)


@pytest.fixture
def two_servers(fleet):
    """A new fleet, nothing installed: web1, and web2 on EL8's Python 3.6 when here."""
    fleet.add("web1").seed("bob", stale=2)
    fleet.add("web2", python=el8_python()).seed("carol", stale=3)
    return fleet


@pytest.fixture(scope="module")
def installed_fleet(tmp_path_factory, dist):
    """One fleet installed once for the tests that do not install: web1, web2 as in
    two_servers, and web3 (with reseller dave) that the report test breaks."""
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), dist)
    fleet.add("web1").seed("bob", stale=2)
    fleet.add("web2", python=el8_python()).seed("carol", stale=3)
    fleet.add("web3").seed("dave", stale=1)
    installed(fleet)
    return fleet


@pytest.fixture
def ready(installed_fleet):
    """The installed fleet with every server's tokens as seeded and no report yet."""
    for server in installed_fleet.servers.values():
        server.seed(*server.seeded)
    shutil.rmtree(str(installed_fleet.base / "tokensweeper-report"), ignore_errors=True)
    return installed_fleet


# The sweep tests leave web3 out, as an admin narrows a run to a group or pattern.
WEB1_AND_WEB2 = {"tokensweeper_hosts": "web1:web2"}


def installed(fleet):
    run = fleet.play("install")
    assert run.rc == 0, str(run)
    return run


# -- install -------------------------------------------------------------------

def test_install_places_the_plugin_on_every_server_and_a_rerun_changes_nothing(two_servers):
    fleet = two_servers
    first = installed(fleet)
    for name, server in fleet.servers.items():
        assert first.stats(name)["changed"] > 0
        assert os.access(str(server.path(COMMAND)), os.X_OK)
        assert (server.path(LIB) / "tokensweeper" / "__init__.py").is_file()
        assert server.path(CONFIG).is_file()
        assert server.path("etc/cron.d/tokensweeper").is_file()
        assert server.path("var/cpanel/apps/tokensweeper.conf").is_file()
        # The command the role installed runs on the server's Python.
        assert server.path(COMMAND).read_text().splitlines()[0] == "#!" + server.python
    second = installed(fleet)
    for name in fleet.servers:
        assert second.stats(name)["changed"] == 0, (name, second.stats(name))


def test_config_from_role_variables_is_checked_and_applied(ready):
    fleet = ready
    config = {"mode": "enforce", "schedule": "hourly", "policy": {"expired": True},
              "protect": {"names": ["monitoring"]}}
    run = fleet.play("install", tokensweeper_config=config)
    assert run.rc == 0, str(run)
    for name, server in fleet.servers.items():
        written = yaml.safe_load(server.path(CONFIG).read_text())
        assert written == config
        assert oct(server.path(CONFIG).stat().st_mode & 0o777) == "0o600"
        # install.sh ran again, so cron follows the new schedule.
        cron = server.path("etc/cron.d/tokensweeper").read_text()
        assert re.search(r"^\d+ \* \* \* \* root \S+ sweep --scheduled$", cron, re.M), cron
        assert run.stats(name)["changed"] > 0
    again = fleet.play("install", tokensweeper_config=config)
    assert all(again.stats(name)["changed"] == 0 for name in fleet.servers)


def test_a_bad_config_variable_fails_and_leaves_the_old_config(ready):
    fleet = ready
    before = {name: s.path(CONFIG).read_bytes() for name, s in fleet.servers.items()}
    run = fleet.play("install", tokensweeper_config={"mode": "enforce", "max_revoke_per_run": -3,
                                                     "no_such_key": 1})
    assert run.rc != 0
    for name, server in fleet.servers.items():
        assert run.stats(name)["failed"] == 1
        assert re.search(r"fatal: \[%s\]: FAILED!.*failed to validate" % name, run.out), run
        assert server.path(CONFIG).read_bytes() == before[name], "the old config must stay"


def test_state_absent_uninstalls_and_a_second_run_changes_nothing(fleet):
    fleet.add("web1").seed("bob", stale=1)
    installed(fleet)
    run = fleet.play("install", tokensweeper_state="absent")
    assert run.rc == 0, str(run)
    for name, server in fleet.servers.items():
        assert run.stats(name)["changed"] > 0
        assert not server.path(COMMAND).exists() and not server.path(LIB).exists()
        assert server.path(CONFIG).exists(), "without purge the config stays"
    again = fleet.play("install", tokensweeper_state="absent")
    assert all(again.stats(name)["changed"] == 0 for name in fleet.servers)


def test_playbooks_pass_syntax_check(fleet):
    fleet.add("web1")
    for playbook in ("install", "report", "sweep"):
        argv = [os.path.join(ansible_bin(), "ansible-playbook"), "--syntax-check", "-i",
                str(fleet.inventory()), "tokensweeper.cpanel." + playbook]
        env = fleet.env()
        env["ANSIBLE_STDOUT_CALLBACK"] = "default"
        proc = subprocess.Popen(argv, cwd=str(fleet.base), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out


# -- report ----------------------------------------------------------------------

def read_report(fleet):
    directory = fleet.base / "tokensweeper-report"
    report = json.loads((directory / "fleet-report.json").read_text())
    page = (directory / "fleet-report.html").read_text()
    return report, page


@pytest.fixture
def three_servers(ready):
    """web1 and web2 answer; web3's whmapi1 fails for every call."""
    ready.servers["web3"].fake.add_fault("exit", status=1, message="<b>cpsrvd</b> is restarting")
    return ready


def server_of(report, name):
    (found,) = [s for s in report["servers"] if s["server"] == name]
    return found


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_report_gathers_every_server_into_one_json_and_html_report(three_servers, check):
    fleet = three_servers
    run = fleet.play("report", *(["--check"] if check else []))
    assert run.rc == 0, str(run)
    report, page = read_report(fleet)

    assert report["totals"]["servers"] == 3 and report["totals"]["failed"] == 1
    web1, web2 = server_of(report, "web1"), server_of(report, "web2")
    assert web1["status"] == web2["status"] == "ok"
    assert web1["tokens"] == 4 and web1["by_state"]["expired"] == 2
    assert web1["by_state"]["active"] == 2 and web1["would_revoke"] == 2
    assert web1["owners"]["bob"]["expired"] == 1 and web1["owners"]["root"]["expired"] == 1
    assert web2["owners"]["carol"] == {"expired": 1, "active": 1, "stale by policy": 0,
                                       "expiring soon": 0, "protected": 0}
    assert {(t["owner"], t["name"]) for t in web2["stale"]} == {
        ("root", "old-0"), ("carol", "old-1"), ("root", "old-2")}
    assert all(t["reason"] for t in web2["stale"])
    assert report["totals"]["tokens"] == 9 and report["totals"]["would_revoke"] == 5
    (failed,) = report["failed"]
    assert failed["server"] == "web3"
    assert "exited 1" in failed["error"] and "<b>cpsrvd</b> is restarting" in failed["error"]

    # The page: every server, the stale tokens, the failure and why, all escaped.
    for text in ("web1", "web2", "web3", "old-2", "carol", "expired"):
        assert text in page
    assert "&lt;b&gt;cpsrvd&lt;/b&gt; is restarting" in page and "<b>cpsrvd" not in page
    assert "<script" not in page and "src=" not in page and "http://" not in page
    assert "https://" not in page and "<link" not in page
    # Nothing anywhere was revoked, in check mode or not.
    for server in fleet.servers.values():
        assert server.revocations() == []
    assert "changed=0" in run.out.partition("PLAY RECAP")[2] or check


def test_report_of_a_server_without_the_plugin_says_why(fleet):
    fleet.add("web1").seed("bob", stale=1)
    run = fleet.play("report")
    assert run.rc == 0, str(run)
    report, page = read_report(fleet)
    (failed,) = report["failed"]
    assert failed["server"] == "web1" and "No such file" in failed["error"]
    assert "No such file" in page


# -- sweep -----------------------------------------------------------------------

def test_sweep_revokes_the_stale_tokens_server_by_server(ready):
    fleet = ready
    run = fleet.play("sweep", tokensweeper_fleet_cap=10, **WEB1_AND_WEB2)
    assert run.rc == 0, str(run)
    assert fleet.servers["web1"].fake.token_names("root") == {"deploy"}
    assert fleet.servers["web1"].fake.token_names("bob") == {"billing"}
    assert fleet.servers["web2"].fake.token_names("carol") == {"billing"}
    # Per-server outcomes, one batch (PLAY) per server by default.
    assert re.search(r"ok: \[web1\] => \{\s+\"msg\": \"2 revoked\"", run.out), run.out
    assert re.search(r"ok: \[web2\] => \{\s+\"msg\": \"3 revoked\"", run.out), run.out
    assert run.stats("web1")["changed"] == 1 and run.stats("web2")["changed"] == 1


def test_fleet_cap_stops_the_batch_that_would_pass_it_before_it_revokes(ready):
    fleet = ready
    run = fleet.play("sweep", tokensweeper_fleet_cap=3, **WEB1_AND_WEB2)
    assert run.rc != 0
    # web1 (2 tokens) fits under the cap; web2 (3 more) would pass it: untouched.
    assert fleet.servers["web1"].fake.token_names("root") == {"deploy"}
    assert fleet.servers["web2"].revocations() == []
    assert fleet.servers["web2"].fake.token_names("root") == {"deploy", "old-0", "old-2"}
    assert "Fleet cap: this batch would revoke 3 tokens after 2 already revoked" in run.out
    assert run.stats("web2")["failed"] == 1


def test_sweep_in_check_mode_revokes_nothing_and_tells_what_it_would(ready):
    fleet = ready
    run = fleet.play("sweep", "--check", tokensweeper_fleet_cap=10, **WEB1_AND_WEB2)
    assert run.rc == 0, str(run)
    for server in fleet.servers.values():
        assert server.revocations() == []
    assert "check mode: would revoke 2 tokens; nothing was revoked" in run.out
    assert "check mode: would revoke 3 tokens; nothing was revoked" in run.out
    # The cap counts what a real run would revoke, so a check run stops where it would.
    capped = fleet.play("sweep", "--check", tokensweeper_fleet_cap=3, **WEB1_AND_WEB2)
    assert capped.rc != 0 and capped.stats("web2")["failed"] == 1
    assert "Fleet cap: this batch would revoke 3 tokens after 2 already revoked" in capped.out
    for server in fleet.servers.values():
        assert server.revocations() == []


def test_failed_tokens_fail_the_server_and_stop_later_batches(ready):
    fleet = ready
    fleet.servers["web1"].fake.add_fault("keep_token", name="old-1")
    run = fleet.play("sweep", tokensweeper_fleet_cap=10, **WEB1_AND_WEB2)
    assert run.rc != 0
    assert run.stats("web1")["failed"] == 1
    assert re.search(r"1 failed, 1 revoked|1 revoked, 1 failed", run.out), run.out
    # max_fail_percentage 0: the next batch never starts.
    assert fleet.servers["web2"].revocations() == []
    assert "web2" not in run.recap or run.stats("web2")["ok"] == 0


# -- the built collection ------------------------------------------------------------

def test_the_built_collection_installs_its_own_release_and_reports(fleet, dist, tmp_path):
    """What a fleet admin does: install the collection `make dist` built, then run the
    playbooks by name with no path to any tarball."""
    built = subprocess.check_output(
        [os.path.join(REPO, "tools", "collection.sh"), dist,
         os.path.join(ansible_bin(), "ansible-galaxy"), str(tmp_path / "built")],
        universal_newlines=True).strip().splitlines()[-1]
    assert os.path.basename(built) == "tokensweeper-cpanel-%s.tar.gz" % (
        os.path.basename(dist)[len("tokensweeper-"):-len(".tar.gz")])
    fleet.collections = tmp_path / "installed"
    subprocess.check_call([os.path.join(ansible_bin(), "ansible-galaxy"), "collection", "install",
                           "-p", str(fleet.collections), built], env=fleet.env(),
                          stdout=subprocess.DEVNULL)
    server = fleet.add("web1").seed("bob", stale=1)
    server.dist = None
    run = fleet.play("install")
    assert run.rc == 0, str(run)
    assert os.access(str(server.path(COMMAND)), os.X_OK)
    run = fleet.play("report")
    assert run.rc == 0, str(run)
    report, _ = read_report(fleet)
    assert report["failed"] == [] and report["totals"]["would_revoke"] == 1


def test_install_in_check_mode_touches_nothing(fleet):
    server = fleet.add("web1").seed("bob", stale=1)
    before = sorted(os.listdir(str(server.root)))
    run = fleet.play("install", "--check", tokensweeper_config={"mode": "enforce"})
    assert run.rc == 0, str(run)
    assert sorted(os.listdir(str(server.root))) == before
    assert not server.path(COMMAND).exists() and not server.path(CONFIG).exists()
