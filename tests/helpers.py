"""Helpers for the engine and command-line tests: a fixed clock, a fake server
with a few owners, and a runner for bin/tokensweeper as a separate process.

Runs on every Python of the matrix (3.6 syntax).
"""

import calendar
import json
import os
import subprocess
import sys

from tests.fakes.fakeserver import FakeServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "bin", "tokensweeper")

DAY = 86400
# 2026-11-27 12:00 UTC: 329 days after 2026-01-02, the example of issue 2.
NOW = calendar.timegm((2026, 11, 27, 12, 0, 0))
ROOT_FULL = {"all": 1}
LIMITED = {"list-accts": 1, "create-acct": 0}


def utc(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s))


def new_server(directory, resellers=()):
    server = FakeServer(str(directory), now=NOW)
    for name in resellers:
        server.add_reseller(name)
    return server


def add(server, owner, name, age_days=10, expires_in_days=None, acls=None, ips=None):
    """A token created `age_days` ago; expires_in_days negative = already expired."""
    expires = None if expires_in_days is None else NOW + expires_in_days * DAY
    return server.add_token(owner, name, NOW - age_days * DAY, expires_at=expires,
                            acls=acls, whitelist_ips=ips)


class Run(object):
    """What one `tokensweeper` process did."""

    def __init__(self, args, status, out, err):
        self.args = args
        self.status = status
        self.out = out
        self.err = err

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "Run(%r -> %d)\nstdout:\n%s\nstderr:\n%s" % (
            self.args, self.status, self.out, self.err)


class Cli(object):
    """Runs bin/tokensweeper on this Python against a FakeServer, with its own
    state directory, config file and cPanel tree under `base`, at time NOW."""

    def __init__(self, server, base, now=NOW):
        self.server = server
        self.base = str(base)
        self.state_dir = os.path.join(self.base, "state")
        self.config_path = os.path.join(self.base, "config.yaml")
        self.cpanel_root = os.path.join(self.base, "cpanel")
        os.makedirs(self.cpanel_root, exist_ok=True)
        self.now = now

    @property
    def audit_path(self):
        return os.path.join(self.state_dir, "audit.log")

    def env(self, **extra):
        env = self.server.full_env()
        env.update(TOKENSWEEPER_STATE_DIR=self.state_dir, TOKENSWEEPER_CONFIG=self.config_path,
                   TOKENSWEEPER_CPANEL_ROOT=self.cpanel_root, TOKENSWEEPER_NOW=str(self.now))
        env.update(extra)
        return env

    def config(self, text):
        with open(self.config_path, "w") as handle:
            handle.write(text)

    def start(self, *args, **kwargs):
        stdin = kwargs.pop("stdin", subprocess.DEVNULL)
        return subprocess.Popen([sys.executable, BIN] + list(args), stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(**kwargs))

    def __call__(self, *args, **kwargs):
        child = self.start(*args, **kwargs)
        out, err = child.communicate(timeout=120)
        return Run(args, child.returncode, out.decode("utf-8"), err.decode("utf-8"))

    def audit_records(self):
        try:
            with open(self.audit_path) as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []


def revoke_calls(server):
    return server.calls("api_token_revoke")


def names_in(call):
    """The token names of one api_token_revoke call, from its argv."""
    return [arg.split("=", 1)[1] for arg in call["argv"] if arg.startswith("token_name")]
