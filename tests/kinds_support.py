"""Shared set-up of the tests of cPanel accounts' own tokens (issue 15): a fake server
where reseller bob and its own cPanel account both have a token `foo`, accounts of bob
and root with cPanel tokens (expired, limited, cPanel's own MailNodeLinkage and cpmove_),
and small helpers. Not a test module: the test_*.py files import it."""

import time

from tests.helpers import DAY, NOW, add, new_server
from tokensweeper.policy import Protection, Selectors
from tokensweeper.sweep import build_plan
from tokensweeper.tokens import CPANEL, Token
from tokensweeper.whmapi import Client

BOTH = ("whm", "cpanel")


def cpmove_stamp(epoch):
    """cPanel's ISO time in a transfer's cpmove_ token name: every ':' made '_'."""
    return time.strftime("%Y-%m-%dT%H_%M_%SZ", time.gmtime(epoch))


def stamp(epoch):
    """cPanel's ISO time with the characters a token name cannot hold made hyphens."""

    return time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(epoch))


def build_server(tmp_path, monkeypatch, cpanel_root):
    """The fake server (see the module's docstring), its token files under cpanel_root."""
    fake = new_server(tmp_path / "fake", resellers=["bob"])
    fake.apply_env(monkeypatch)
    monkeypatch.setenv("TOKENSWEEPER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TOKENSWEEPER_CPANEL_ROOT", str(cpanel_root))
    with fake.batch():
        fake.add_account("bob", owner="root")  # the reseller's own cPanel account
        fake.add_account("shop1", owner="bob")
        fake.add_account("shop2", owner="bob")
        fake.add_account("blog", owner="root")
        add(fake, "bob", "foo", age_days=50, expires_in_days=-2)  # bob's WHM token foo
        add(fake, "root", "root-fine", age_days=5)
        fake.add_cpanel_token("bob", "foo", NOW - 40 * DAY, expires_at=NOW - DAY)
        fake.add_cpanel_token("shop1", "deploy", NOW - 90 * DAY, expires_at=NOW - 5 * DAY)
        fake.add_cpanel_token("shop1", "fine", NOW - 9 * DAY)
        fake.add_cpanel_token("shop2", "old-ci", NOW - 500 * DAY, expires_at=NOW - 100 * DAY,
                              full_access=False, features=["ftp", "webdisk"])
        fake.add_cpanel_token("blog", "MailNodeLinkage", NOW - 300 * DAY,
                              expires_at=NOW - DAY)
        fake.add_cpanel_token("blog", "cpmove_%s_3fa9c2" % cpmove_stamp(NOW - 20 * DAY),
                              NOW - 20 * DAY, expires_at=NOW - 19 * DAY)
    fake.write_token_files(cpanel_root)
    fake.write_resellers_file(cpanel_root)
    return fake


def expired_plan(kinds=BOTH, client=None, **kwargs):
    return build_plan(client or Client(), Selectors(expired=True), Protection(), None, NOW,
                      kinds=kinds, **kwargs)


def fates(result):
    return {(o.token.holder, o.token.name): o.action for o in result.outcomes}


def cp(name, created=NOW - 10 * DAY, owner="shop1"):
    # cPanel's transfer token is valid for a day (TemporaryToken.pm); the others never expire.
    expires = created + DAY if name.startswith("cpmove_") else None
    return Token(owner, name, created, expires, kind=CPANEL, full_access=True)


class EveryTokenUnused(object):
    """Usage evidence that would call every token unused: only WHM tokens may believe it."""

    def unused_for(self, token, days, now):
        return True, "no use in %d days" % days

    def describe(self, token, now):
        return "never used"

    def used_since(self, token, since):
        return False, "not used since then"
