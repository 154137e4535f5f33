"""The contract suite's whmapi1: the fake (tests/fakes/whmapi1) always, or cPanel's own
Perl code through tests/contract/cpanel-whmapi1 when TOKENSWEEPER_CONTRACT_CPANEL names a
cPanel tree (make conformance CPANEL_SOURCE=DIR). The same cases run against both; a
backend only knows how to set a server up (resellers, accounts, tokens to start with)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.fakes.fakeserver import FakeServer

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "cpanel-whmapi1")
CPANEL_ENV = "TOKENSWEEPER_CONTRACT_CPANEL"


class FakeBackend(object):
    """tests/fakes/whmapi1 with cPanel's files kept under `root`."""

    name = "fake"

    def __init__(self, directory, root):
        self.root = root
        self.server = FakeServer(directory)
        self.server.write_resellers_file(root)
        self.server.write_token_files(root)
        self.env = dict(self.server.env, TOKENSWEEPER_CPANEL_ROOT=root,
                        TOKENSWEEPER_FAKE_ACCOUNTING=os.path.join(
                            root, "var", "cpanel", "accounting.log"))

    def add_reseller(self, name, acls):
        self.server.add_reseller(name, acls=list(acls))

    def add_account(self, user, owner="root", apitokens=True):
        self.server.add_account(user, owner=owner)
        if not apitokens:
            self.server.add_fault("feature_disabled", owner=user)

    def add_cpanel_token(self, account, name):
        self.server.add_cpanel_token(account, name, create_time=1700000000)


class CpanelBackend(object):
    """cPanel's own code (tests/contract/cpanel-whmapi1) against a fake root."""

    name = "cpanel"

    def __init__(self, source, directory, root):
        self.root = root
        self.machine = {"accounts": {}}
        self.env = {"CPANEL_SOURCE": source, "TOKENSWEEPER_CONTRACT_ROOT": root,
                    "TOKENSWEEPER_WHMAPI1": HARNESS, "TOKENSWEEPER_CPANEL_ROOT": root}
        os.makedirs(os.path.join(root, "var", "cpanel", "users"))
        os.makedirs(os.path.join(root, "var", "cpanel", "features"))
        self._save()

    def _save(self):
        with open(os.path.join(self.root, "harness.json"), "w") as handle:
            json.dump(self.machine, handle)

    def add_reseller(self, name, acls):
        with open(os.path.join(self.root, "var", "cpanel", "resellers"), "a") as handle:
            handle.write("%s:%s\n" % (name, ",".join(acls)))
        self.add_account(name)

    def add_account(self, user, owner="root", apitokens=True):
        uid = 5000 + len(self.machine["accounts"]) + 1
        self.machine["accounts"][user] = {"uid": uid, "gid": uid, "owner": owner}
        self._save()
        featurelist = "default" if apitokens else "notokens"
        with open(os.path.join(self.root, "var", "cpanel", "users", user), "w") as handle:
            handle.write("OWNER=%s\nFEATURELIST=%s\nDNS=%s.example\n" % (owner, featurelist, user))
        if not apitokens:
            with open(os.path.join(self.root, "var", "cpanel", "features", "notokens"),
                      "w") as handle:
                handle.write("apitokens=0\n")
        with open(os.path.join(self.root, "etc", "trueuserowners"), "a") as handle:
            handle.write("%s: %s\n" % (user, owner))

    def add_cpanel_token(self, account, name):
        out = subprocess.run(
            [HARNESS, "--output=json", "uapi_cpanel", "cpanel.user=" + account,
             "cpanel.module=Tokens", "cpanel.function=create_full_access", "name=" + name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, **self.env),
            check=True)
        assert json.loads(out.stdout.decode())["data"]["uapi"]["status"] == 1, out


@pytest.fixture
def backend(tmp_path, monkeypatch):
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "etc"))
    source = os.environ.get(CPANEL_ENV)
    if source:
        if not shutil.which("perl"):
            pytest.fail("make conformance needs perl")
        made = CpanelBackend(source, str(tmp_path), root)
    else:
        made = FakeBackend(str(tmp_path / "fake"), root)
    for key, value in made.env.items():
        monkeypatch.setenv(key, value)
    # The fake starts with `#!/usr/bin/env python3`: this interpreter's, first in PATH.
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    return made
