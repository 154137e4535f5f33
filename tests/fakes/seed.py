"""Seed a FakeServer with a realistic (or a large) cPanel server.

    python -m tests.fakes.seed DIR [--now EPOCH] [--scale OWNERS TOKENS FRACTION]

prints the `export` lines that point the plugin at the seeded fake.
Everything is deterministic: the same `now` gives the same server.
"""
import argparse
import os
import random
import shlex
import sys
import time

from tests.fakes.fakeserver import RESELLER_ACLS, FakeServer, full_access_acls

DAY = 86400
YEAR = 365 * DAY

# ACL sets real integrations ask for.
READ_ONLY = ("list-accts", "show-bandwidth", "acct-summary", "basic-system-info", "status")
MONITORING = ("list-accts", "status", "stats", "show-bandwidth", "basic-system-info")
BILLING = ("list-accts", "create-acct", "suspend-acct", "kill-acct", "edit-account",
           "upgrade-account", "passwd", "list-pkgs", "add-pkg", "edit-pkg", "limit-bandwidth",
           "quota", "create-user-session")
DEPLOY = ("list-accts", "create-user-session", "cpanel-api", "edit-dns")
CLUSTERING = ("clustering",)
BACKUP = ("list-accts", "create-user-session", "cpanel-api", "acct-summary")

# Privileges resellers are really given ("Edit Reseller Nameservers and Privileges"):
# rarely `all`, usually a set for running their customers' accounts.
HOSTING_RESELLER = ("acct-summary", "basic-system-info", "basic-whm-functions", "cors-proxy-get",
                    "cpanel-api", "create-acct", "create-dns", "create-user-session",
                    "edit-account",
                    "edit-dns", "edit-mx", "kill-acct", "kill-dns", "limit-bandwidth", "list-accts",
                    "list-pkgs", "add-pkg", "edit-pkg", "manage-api-tokens", "park-dns", "passwd",
                    "quota", "show-bandwidth", "ssl", "ssl-gencrt", "ssl-info", "stats", "status",
                    "suspend-acct", "upgrade-account")
SMALL_RESELLER = ("acct-summary", "basic-whm-functions", "create-acct", "list-accts", "passwd",
                  "show-bandwidth", "suspend-acct", "manage-api-tokens")
DEV_RESELLER = ("basic-whm-functions", "cpanel-api", "create-user-session", "edit-dns",
                "list-accts", "manage-api-tokens", "status")

RESELLERS = (
    # (reseller, its ACLs, accounts it owns: (user, suspended))
    ("hostpro", HOSTING_RESELLER,
     (("shopnorth", False), ("cafeluna", False), ("oldclient", True))),
    ("webagency", ("all",), (("agencysite", False), ("clientblog", False))),
    ("devshop", DEV_RESELLER, (("devstaging", False),)),
    ("resold22", SMALL_RESELLER, ()),
    ("acmeweb", HOSTING_RESELLER + ("clustering",), (("acmestore", False), ("acmemail", True))),
)
ROOT_ACCOUNTS = (("mainsite", False), ("hostpro", False), ("webagency", False),
                 ("devshop", False), ("resold22", True), ("acmeweb", False))


def acl_map(granted, owner):
    """A token's ACLs as stored: None (full access, as cPanel stores it) for "all", else
    a map of the owner's privileges to 0 or 1 (the fake lists only what the owner has)."""
    if granted == "all":
        return full_access_acls(owner)
    names = set(RESELLER_ACLS) | set(granted)
    if owner == "root":
        names.add("all")
    return {name: (1 if name in granted else 0) for name in sorted(names)}


def root_tokens(now):
    """(name, create_time, expires_at, acls, whitelist_ips) of root's tokens."""
    return [
        ("billing-whmcs", now - 3 * YEAR, None, "all", ["203.0.113.25"]),
        ("monitoring-nagios", now - 2 * YEAR - 40 * DAY, None, MONITORING, ["198.51.100.7"]),
        ("backup-jetbackup", now - 400 * DAY, now + 5 * DAY, BACKUP, None),
        (f"transfer-{now - 30 * DAY}", now - 30 * DAY, None, "all", None),
        ("reverse_trust_2c7d9e41-8b3a-4f6e-9d12-7a5c3e8b0f64", now - 4 * YEAR, None, CLUSTERING,
         ["192.0.2.53"]),
        # SpamExperts' own token (cpanel-facts.md): root's only, full access.
        ("prospamfilter", now - 4 * YEAR - 10 * DAY, None, "all", None),
        ("WP-Dashboard", now - 200 * DAY, None, "all", None),
        ("ci-deploy", now - 120 * DAY, now - 10 * DAY, DEPLOY, ["192.0.2.0/24"]),
        ("old-migration-2023", now - 2 * YEAR - 200 * DAY, now - 2 * YEAR, "all", None),
        ("tmp-debug", now - 900 * DAY, None, "all", None),
        ("grafana-readonly", now - 60 * DAY, now + 300 * DAY, READ_ONLY, None),
        ("softaculous-api", now - 3 * DAY, None, "all", None),
        ("whmcs_staging", now - 20 * DAY, now + 2 * DAY, BILLING, ["10.0.0.0/8", "192.0.2.8/29"]),
    ]


def reseller_tokens(reseller, now):
    """A different, deterministic mix for each reseller."""
    mixes = {
        "hostpro": [
            ("billing-whmcs", now - 2 * YEAR, None, BILLING, ["203.0.113.40"]),
            ("old-migration-2023", now - 2 * YEAR - 100 * DAY, now - 600 * DAY, "all", None),
            ("api-client", now - 45 * DAY, now + 20 * DAY, READ_ONLY, None),
        ],
        "webagency": [
            ("WP-Dashboard", now - 100 * DAY, None, "all", None),
            ("ci-deploy", now - 10 * DAY, now + 1 * DAY, DEPLOY, None),
            ("test", now - 5 * YEAR, None, "all", None),
        ],
        "devshop": [
            ("ci-deploy", now - 300 * DAY, now - 1 * DAY, DEPLOY, ["198.51.100.0/24"]),
            ("monitoring-uptime", now - 700 * DAY, None, MONITORING, None),
        ],
        "resold22": [
            ("legacy-panel", now - 6 * YEAR, now - 4 * YEAR, "all", None),
        ],
        "acmeweb": [
            ("backup-jetbackup", now - 90 * DAY, now + 90 * DAY, BACKUP, None),
            ("billing-blesta", now - 500 * DAY, None, BILLING, None),
            ("tmp-import", now - 2 * DAY, now + 5 * DAY, "all", None),
        ],
    }
    return mixes.get(reseller, [])


def seed_realistic(server, now):
    """Root + 5 resellers with accounts (some with their own cPanel tokens) and a realistic
    mix of tokens:
    expired, expiring within days, years old, never expiring, full access,
    narrow ACLs, IP-limited, and the exact shapes cPanel and vendors give their own
    (reverse_trust_<id>, transfer-<creation epoch>, WP-Dashboard, prospamfilter)."""
    now = int(now)
    with server.batch():
        server.set_now(now)
        for reseller, acls, accounts in RESELLERS:
            server.add_reseller(reseller, acls=acls)
            for user, suspended in accounts:
                server.add_account(user, owner=reseller, suspended=suspended)
        for user, suspended in ROOT_ACCOUNTS:
            server.add_account(user, owner="root", suspended=suspended)
        add_all(server, "root", root_tokens(now))
        for reseller, _, _ in RESELLERS:
            add_all(server, reseller, reseller_tokens(reseller, now))
        add_cpanel_all(server, now)
    return server


def cpmove_stamp(epoch):
    """cPanel's ISO time in a transfer's cpmove_ token name: every ':' made '_'."""
    return time.strftime("%Y-%m-%dT%H_%M_%SZ", time.gmtime(epoch))


def iso_stamp(epoch):
    """cPanel's ISO time as it puts it in token names (non-alphanumerics made hyphens)."""
    return time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(epoch))


def cpanel_account_tokens(now):
    """cPanel accounts' own tokens (UAPI Tokens): {account: [(name, created, expires,
    full_access, features)]}. Forgotten full-access ones, a limited one, a transfer's
    cpmove_ token and linked mail nodes' tokens (protected), and `billing-whmcs` in the
    account `hostpro`, the same name as its reseller's WHM token: never confused."""
    transfer = now - 3 * DAY
    linked = now - 200 * DAY
    return {
        "shopnorth": [("wp-toolkit", now - 700 * DAY, None, True, ()),
                      ("deploy-github", now - 400 * DAY, now - 30 * DAY, True, ()),
                      ("MailNodeLinkage", now - 500 * DAY, None, True, ())],
        "cafeluna": [("zapier-orders", now - 90 * DAY, now + 275 * DAY, False,
                      ("email", "webdisk")),
                     ("cpmove_%s_9f3ac1" % cpmove_stamp(transfer), transfer, transfer + DAY,
                      True, ())],
        "agencysite": [("old-import", now - 3 * YEAR, now - 2 * YEAR, True, ()),
                       ("MailNodeLinkage-%s" % iso_stamp(linked), linked, None, True, ())],
        "clientblog": [("jetbackup", now - 60 * DAY, now + 5 * DAY, False,
                        ("backup", "filemanager"))],
        "devstaging": [("ci-runner", now - 20 * DAY, now + 70 * DAY, True, ()),
                       ("tmp-debug", now - 45 * DAY, now - 1 * DAY, True, ())],
        "mainsite": [("monitoring", now - 800 * DAY, None, False, ("stats",))],
        "hostpro": [("billing-whmcs", now - 300 * DAY, now - 10 * DAY, True, ())],
    }


def add_cpanel_all(server, now):
    for account, specs in sorted(cpanel_account_tokens(now).items()):
        for name, created, expires, full, features in specs:
            server.add_cpanel_token(account, name, created, expires_at=expires,
                                    full_access=full, features=features)


def seed_cpanel_scale(server, accounts, with_tokens, max_tokens, stale_fraction, now,
                      resellers=10):
    """`accounts` cPanel accounts owned by `resellers` resellers (and root), of which
    `with_tokens` have 1..max_tokens cPanel tokens each (`stale_fraction` expired), the
    rest none. Returns {account: token count} of the accounts with tokens."""
    now = int(now)
    rng = random.Random(15)
    counts = {}
    with server.batch():
        server.set_now(now)
        owners = ["root"] + ["res%02d" % i for i in range(1, resellers)]
        for owner in owners[1:]:
            server.add_reseller(owner)
        state = server._batch
        state["accounts"] = [{"user": "acct%05d" % i, "owner": owners[i % len(owners)],
                              "suspended": False} for i in range(accounts)]
        step = max(1, accounts // max(1, with_tokens))
        for index in range(0, step * with_tokens, step):
            account = "acct%05d" % index
            count = rng.randint(1, max_tokens)
            tokens = {}
            for i in range(count):
                name = "%s-%03d" % (SCALE_PREFIXES[i % len(SCALE_PREFIXES)], i)
                expires = (now - (i % 90 + 1) * DAY if is_stale(i, stale_fraction) else None)
                tokens[name] = {"name": name, "create_time": now - (i % 900 + 1) * DAY,
                                "expires_at": expires, "has_full_access": 1, "features": []}
            state.setdefault("cpanel_tokens", {})[account] = tokens
            counts[account] = count
    return counts


def add_all(server, owner, specs):
    for name, created, expires, granted, ips in specs:
        server.add_token(owner, name, created, expires_at=expires,
                         acls=acl_map(granted, owner), whitelist_ips=ips)


SCALE_PREFIXES = ("api", "deploy", "billing", "monitor", "backup", "sync", "tmp", "app")


def is_stale(index, fraction):
    """Spread stale tokens evenly: index i is stale when floor((i+1)*f) grows."""
    return int((index + 1) * fraction) > int(index * fraction)


def seed_scale(server, owners, tokens_per_owner, stale_fraction, now):
    """root + (owners - 1) resellers, each with `tokens_per_owner` tokens of
    which `stale_fraction` are expired. Small ACL maps keep the state file
    small; the state is written once. Returns the list of owners."""
    now = int(now)
    names = ["root"] + [f"reseller{i:03d}" for i in range(1, owners)]
    with server.batch():
        server.set_now(now)
        server.use_token_dir()
        for owner in names[1:]:
            server.add_reseller(owner)
            server.add_account(owner, owner="root")
        for owner in names:
            acls = {"all": 1} if owner == "root" else {"list-accts": 1, "create-acct": 0}
            server.replace_tokens(owner, scale_tokens(tokens_per_owner, stale_fraction,
                                                      acls, now))
    return names


def scale_tokens(count, stale_fraction, acls, now):
    tokens = {}
    for i in range(count):
        name = f"{SCALE_PREFIXES[i % len(SCALE_PREFIXES)]}-{i:05d}"
        created = now - (i % 1500 + 1) * DAY
        expires = now - (i % 90 + 1) * DAY if is_stale(i, stale_fraction) else None
        tokens[name] = {"name": name, "create_time": created, "expires_at": expires,
                        "acls": dict(acls), "whitelist_ips": None}
    return tokens


USAGE_DAYS = 120
# cPanel-account (UAPI) tokens of resellers' accounts, which may share a reseller's
# user and token names: their lines (another service) are never uses of WHM tokens.
CPANEL_SERVICE_LINES = (("hostpro", "billing-whmcs"), ("webagency", "ci-deploy"),
                        ("shopnorth", "wp-toolkit"))


def usage_log_text(server, now, seed=7):
    """An api_tokens_log for the last 120 days, as real servers write it: most tokens
    used (some once, long ago), some never; both line shapes (cPanel's documented one
    without Host:, and with Host:), and a few lines of another service."""
    rng = random.Random(seed)
    start = now - USAGE_DAYS * DAY
    entries = []
    for owner in server.owners():
        for name, token in sorted(server.tokens(owner).items()):
            if rng.random() < 0.35 or token["create_time"] > now - DAY:
                continue  # never seen in the log: "never used" or "not seen since"
            last = rng.randint(max(start, token["create_time"]), now - 3600)
            if rng.random() < 0.3:
                last = rng.randint(start, start + 20 * DAY)  # used once, long ago
            for when in sorted({last, max(start, last - rng.randint(0, 30 * DAY))}):
                entries.append((when, "whostmgrd", owner, name))
    for user, name in CPANEL_SERVICE_LINES:
        entries.append((now - rng.randint(1, 5) * DAY, "cpaneld", user, name))
    entries.sort()
    text = "".join(usage_log_line(when, service, owner, name, rng)
                   for when, service, owner, name in entries)
    return merge_lines(text, leak_lines(now))


# A leak to respond to (docs/incident-response.md): the last 3 days,
# requests from a network nobody uses, IPv4 and IPv6.
LEAK = (
    ("root", "tmp-debug", "203.0.113.77", (60, 30, 5)),
    ("root", "softaculous-api", "203.0.113.77", (20,)),
    ("hostpro", "api-client", "2001:db8:bad::17", (30,)),
)


def leak_lines(now):
    lines = []
    for owner, name, ip, hours_ago in LEAK:
        for hours in hours_ago:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(now - hours * 3600))
            lines.append((now - hours * 3600, "[%s] info [whostmgrd] Host: ['%s'] HTTP Status: "
                          "['200'], User: ['%s'], Token Name: ['%s'], Request: ['GET "
                          "/json-api/listaccts?api.version=1 HTTP/1.1']\n"
                          % (stamp, ip, owner, name)))
    return lines


def merge_lines(text, extra):
    """The log's lines and `extra` (epoch, line) pairs, in time order as cPanel writes them."""
    import calendar

    dated = []
    for line in text.splitlines(True):
        when = calendar.timegm(time.strptime(line[1:20], "%Y-%m-%d %H:%M:%S"))
        dated.append((when, line))
    dated.extend(extra)
    dated.sort(key=lambda pair: pair[0])
    return "".join(line for _, line in dated)


def usage_log_line(when, service, owner, name, rng):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(when))
    host = "" if rng.random() < 0.5 else "Host: ['10.0.%d.%d'] " % (len(owner) % 7,
                                                                      len(name) * 3 % 250)
    return ("[%s] info [%s] %sHTTP Status: ['200'], User: ['%s'], Token Name: ['%s'], "
            "Request: ['GET /json-api/listaccts?api.version=1 HTTP/1.1']\n" % (
                stamp, service, host, owner, name))


def export_lines(server):
    values = dict(server.env)
    here = os.path.dirname(sys.executable)
    lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(values.items())]
    lines.append(f'export PATH={shlex.quote(here)}:"$PATH"')
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.seed",
                                     description="Seed a fake whmapi1 server in DIR.")
    parser.add_argument("directory")
    parser.add_argument("--now", type=int, default=None,
                        help="clock for the seeded ages (default: current time)")
    parser.add_argument("--scale", nargs=3, metavar=("OWNERS", "TOKENS", "FRACTION"),
                        help="a large synthetic server instead of the realistic one")
    args = parser.parse_args(argv)
    now = args.now if args.now is not None else int(time.time())
    state = os.path.join(args.directory, "whmapi1-state.json")
    if os.path.exists(state):
        os.remove(state)  # reseeding starts from an empty server
    server = FakeServer(args.directory, now=now)
    if args.scale:
        seed_scale(server, int(args.scale[0]), int(args.scale[1]), float(args.scale[2]), now)
    else:
        seed_realistic(server, now)
    print("\n".join(export_lines(server)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
