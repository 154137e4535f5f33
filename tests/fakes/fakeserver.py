"""Python API over the fake whmapi1 (tests/fakes/whmapi1).

    server = FakeServer(tmp_path)          # state + call log inside tmp_path
    server.apply_env(monkeypatch)          # TOKENSWEEPER_WHMAPI1 & co.
    server.add_reseller("bob")
    server.add_token("bob", "billing", create_time=now - 86400)
    server.add_fault("fail", function="api_token_revoke", reason="locked")
    ... run the code under test ...
    server.token_names("bob"); server.calls("api_token_revoke")

Every change is written to the state file at once (under the same lock the
fake uses), except inside `with server.batch():`, which writes once at the end.
"""
import contextlib
import copy
import fcntl
import json
import os
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_file_location

FAKE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "whmapi1")


def _load_fake():
    """The fake is a script without .py; load it as a module to share its code."""
    name = "tokensweeper_fake_whmapi1"
    spec = spec_from_file_location(name, FAKE_PATH, loader=SourceFileLoader(name, FAKE_PATH))
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fake = _load_fake()

RESELLER_ACLS = _fake.RESELLER_ACLS
LISTED_ACLS = _fake.LISTED_ACLS  # every ACL key root sees in a listing
FAULT_KINDS = _fake.FAULT_KINDS
STATE_FILE = "whmapi1-state.json"
LOG_FILE = "whmapi1-calls.log"
ACCOUNTING_FILE = "accounting.log"


def full_access_acls(owner):
    """What cPanel stores for a token created without `acl`: no ACL list (None)."""
    return _fake.full_access_acls(owner)


class FakeServer:
    """One emulated cPanel server living in `directory`.

    An existing state file in `directory` is reused (the demo seeds once and
    later processes reopen it); otherwise an empty server (root only) is made.
    `now` fixes the clock the fake uses for api_token_create/update.
    """

    def __init__(self, directory, now=None):
        self.directory = os.path.abspath(str(directory))
        os.makedirs(self.directory, exist_ok=True)
        self.state_path = os.path.join(self.directory, STATE_FILE)
        self.log_path = os.path.join(self.directory, LOG_FILE)
        self.accounting_path = os.path.join(self.directory, ACCOUNTING_FILE)
        self._batch = None
        if not os.path.exists(self.state_path):
            _fake.write_state(self.state_path, {
                "resellers": [], "accounts": [], "tokens": {"root": {}},
                "faults": [], "now": now, "accounting_log": self.accounting_path})
        elif now is not None:
            self.set_now(now)

    # -- environment ------------------------------------------------------

    @property
    def env(self):
        """Variables that point the plugin (and the fake) at this server."""
        return {
            "TOKENSWEEPER_WHMAPI1": FAKE_PATH,
            "TOKENSWEEPER_FAKE_STATE": self.state_path,
            "TOKENSWEEPER_FAKE_LOG": self.log_path,
        }

    def child_path(self):
        """PATH with this interpreter's directory first, so the fake's
        `#!/usr/bin/env python3` runs the Python the tests run on."""
        here = os.path.dirname(sys.executable)
        rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != here]
        return os.pathsep.join([here] + rest)

    def full_env(self):
        """`env` plus PATH: pass as `env=` to subprocess (merged with os.environ)."""
        env = dict(os.environ)
        env.update(self.env)
        env["PATH"] = self.child_path()
        return env

    def apply_env(self, monkeypatch=None):
        """Set `env` and PATH in os.environ (through monkeypatch when given)."""
        values = dict(self.env)
        values["PATH"] = self.child_path()
        for key, value in values.items():
            if monkeypatch is not None:
                monkeypatch.setenv(key, value)
            else:
                os.environ[key] = value

    # -- state ------------------------------------------------------------

    def state(self):
        """A copy of the whole state document."""
        if self._batch is not None:
            return copy.deepcopy(self._batch)
        return _fake.read_state(self.state_path)

    @contextlib.contextmanager
    def _edit(self):
        """Read-modify-write the state under the fake's lock."""
        if self._batch is not None:
            yield self._batch
            return
        with _fake.StateLock(self.state_path):
            state = _fake.read_state(self.state_path)
            yield state
            _fake.write_state(self.state_path, state)

    @contextlib.contextmanager
    def batch(self):
        """Hold the state in memory and write it once at the end (seeding)."""
        if self._batch is not None:
            yield self
            return
        lock = open(self.state_path + ".lock", "a")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            self._batch = _fake.read_state(self.state_path)
            yield self
            _fake.write_state(self.state_path, self._batch)
        finally:
            self._batch = None
            lock.close()

    def set_now(self, now):
        with self._edit() as state:
            state["now"] = now

    def add_reseller(self, name, acls=None):
        """A reseller with these privileges (default: every reseller ACL, not `all`)."""
        with self._edit() as state:
            if name not in state["resellers"]:
                state["resellers"].append(name)
            if acls is not None:
                state.setdefault("reseller_acls", {})[name] = list(acls)
            self._mirror_resellers(state)

    def set_reseller_acls(self, name, acls):
        """WHM's setacls: the reseller's privileges change, its token files do not."""
        with self._edit() as state:
            state.setdefault("reseller_acls", {})[name] = list(acls)
            self._mirror_resellers(state)

    def reseller_acls(self, name):
        return _fake.reseller_acls(self.state(), name)

    def remove_reseller(self, name):
        """Take reseller privileges away; the tokens stay (as on cPanel)."""
        with self._edit() as state:
            state["resellers"] = [r for r in state["resellers"] if r != name]
            self._mirror_resellers(state)

    def write_resellers_file(self, cpanel_root):
        """Keep var/cpanel/resellers under `cpanel_root` as cPanel does (one
        `user:acl,acl` line per reseller), now and after every reseller change."""
        with self._edit() as state:
            state["resellers_file"] = os.path.join(os.path.abspath(str(cpanel_root)),
                                                   "var", "cpanel", "resellers")
            self._mirror_resellers(state)
        return self.state()["resellers_file"]

    @staticmethod
    def _mirror_resellers(state):
        path = state.get("resellers_file")
        if not path:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lines = ["%s:%s\n" % (name, ",".join(_fake.reseller_acls(state, name)))
                 for name in state["resellers"]]
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write("".join(lines))
        os.rename(temporary, path)  # a new inode, as cPanel's writer makes

    def resellers(self):
        return list(self.state()["resellers"])

    def add_account(self, user, owner="root", suspended=False, **fields):
        """A cPanel account; extra fields (domain, plan, ...) show in listaccts."""
        account = {"user": user, "owner": owner, "suspended": bool(suspended)}
        account.update(fields)
        with self._edit() as state:
            state["accounts"] = [a for a in state["accounts"] if a["user"] != user]
            state["accounts"].append(account)

    def accounts(self):
        return [dict(a) for a in self.state()["accounts"]]

    def rename_account(self, old, new):
        """WHM's modifyacct with `newuser`: the account, its reseller status and ACLs, the
        accounts it owns and both kinds of its tokens move to the new name, and the tokens
        keep working (cpanel-facts.md "Lifecycle"): the old name has no token file left,
        and its users file (var/cpanel/users/OLD) is NEW's now. Run before the
        Accounts::Modify post hook, as cPanel does."""
        with self._edit() as state:
            users = {a["user"] for a in state["accounts"]} | set(state["resellers"])
            if old not in users or new in users:
                raise ValueError(f"cannot rename {old!r} to {new!r}")
            for account in state["accounts"]:
                account["user"] = new if account["user"] == old else account["user"]
                if account.get("owner") == old:
                    account["owner"] = new
            state["resellers"] = [new if r == old else r for r in state["resellers"]]
            acls = state.get("reseller_acls", {})
            if old in acls:
                acls[new] = acls.pop(old)
            self._move_whm_tokens(state, old, new)
            self._move_cpanel_tokens(state, old, new)
            self._mirror_resellers(state)
        root = self.state().get("cpanel_root")
        if root:
            self.write_trueuserowners(root)
            stale = os.path.join(root, "var", "cpanel", "users", old)
            if os.path.exists(stale):
                os.unlink(stale)
            self.write_users_file(root, new)

    def _move_whm_tokens(self, state, old, new):
        if old not in _fake.token_owners(self.state_path, state):
            return
        _fake.save_tokens(self.state_path, state, new, self._load(state, old))
        state.get("tokens", {}).pop(old, None)
        stored = _fake.token_file(self.state_path, state, old)
        root = state.get("cpanel_root")
        for path in (stored, root and os.path.join(root, _fake.CPANEL_TOKEN_DIR, old + ".json")):
            if path and os.path.exists(path):
                os.unlink(path)

    @staticmethod
    def _move_cpanel_tokens(state, old, new):
        tokens = state.get("cpanel_tokens", {})
        if old not in tokens:
            return
        tokens[new] = tokens.pop(old)
        root = state.get("cpanel_root")
        if root:
            _fake.write_cpanel_account_token_file(root, new, tokens[new])
            old_file = os.path.join(root, _fake.CPANEL_ACCOUNT_TOKEN_DIR, old + ".json")
            if os.path.exists(old_file):
                os.unlink(old_file)

    def add_token(self, owner, name, create_time, expires_at=None, acls=None,
                  whitelist_ips=None):
        """Store a token as cPanel would list it. acls None = full access."""
        if not _fake.valid_name(name):
            raise ValueError(f"invalid API token name: {name!r}")
        token = {
            "name": name,
            "create_time": int(create_time),
            # A string is kept as given, as cPanel keeps it ("" and "00" too).
            "expires_at": (expires_at if expires_at is None or isinstance(expires_at, str)
                           else int(expires_at)),
            # None (no ACL list) is how cPanel stores full access.
            "acls": None if acls is None else dict(acls),
            "whitelist_ips": list(whitelist_ips) if whitelist_ips else None,
        }
        with self._edit() as state:
            tokens = self._load(state, owner)
            if name in tokens:
                raise ValueError(f"{owner} already has a token named {name}")
            tokens[name] = token
            _fake.save_tokens(self.state_path, state, owner, tokens)
        return dict(token)

    def remove_token(self, owner, name):
        """Remove behind the plugin's back (as if an admin did it in WHM)."""
        with self._edit() as state:
            tokens = self._load(state, owner)
            if tokens.pop(name, None) is not None:
                _fake.save_tokens(self.state_path, state, owner, tokens)

    def replace_tokens(self, owner, tokens):
        """Set all of `owner`'s tokens at once ({name: token dict}, stored
        as given: the bulk path for big seeds)."""
        with self._edit() as state:
            _fake.save_tokens(self.state_path, state, owner, dict(tokens))

    # -- cPanel accounts' own tokens (UAPI Tokens) ---------------------------

    def add_cpanel_token(self, account, name, create_time, expires_at=None, full_access=True,
                         features=()):
        """A cPanel account's token as UAPI Tokens::list shows it. The account must exist
        (add_account) for uapi_cpanel to reach it."""
        if not _fake.valid_name(name):
            raise ValueError(f"invalid API token name: {name!r}")
        token = {"name": name, "create_time": int(create_time),
                 "expires_at": None if expires_at is None else int(expires_at),
                 "has_full_access": 1 if full_access else 0, "features": list(features)}
        with self._edit() as state:
            tokens = state.setdefault("cpanel_tokens", {}).setdefault(account, {})
            if name in tokens:
                raise ValueError(f"{account} already has a cPanel token named {name}")
            tokens[name] = token
            if state.get("cpanel_root"):
                _fake.write_cpanel_account_token_file(state["cpanel_root"], account, tokens)
        return dict(token)

    def replace_cpanel_tokens(self, account, tokens):
        """Set all of an account's cPanel tokens at once ({name: token dict}): big seeds."""
        with self._edit() as state:
            state.setdefault("cpanel_tokens", {})[account] = dict(tokens)
            if state.get("cpanel_root"):
                _fake.write_cpanel_account_token_file(state["cpanel_root"], account, tokens)

    def remove_cpanel_token(self, account, name):
        """Remove behind the plugin's back (the account did it in cPanel)."""
        with self._edit() as state:
            tokens = state.setdefault("cpanel_tokens", {}).setdefault(account, {})
            if tokens.pop(name, None) is not None and state.get("cpanel_root"):
                _fake.write_cpanel_account_token_file(state["cpanel_root"], account, tokens)

    def cpanel_tokens(self, account):
        return copy.deepcopy(self.state().get("cpanel_tokens", {}).get(account, {}))

    def cpanel_token_names(self, account):
        return set(self.cpanel_tokens(account))

    def use_token_dir(self, directory="tokens"):
        """Keep each owner's tokens in DIRECTORY/OWNER.json (relative to the
        state file) instead of inside it: big servers stay fast to call."""
        with self._edit() as state:
            inline = state.get("tokens", {})
            state["token_dir"] = directory
            state["tokens"] = {}
            for owner, tokens in inline.items():
                _fake.save_tokens(self.state_path, state, owner, tokens)

    def _load(self, state, owner):
        return copy.deepcopy(_fake.load_tokens(self.state_path, state, owner))

    def tokens(self, owner):
        """{name: token dict} of `owner` as stored (no fault rendering)."""
        return self._load(self.state(), owner)

    def token_names(self, owner):
        return set(self.tokens(owner))

    def owners(self):
        """Every user with a token entry (including ones with none left)."""
        return _fake.token_owners(self.state_path, self.state())

    # -- faults -----------------------------------------------------------

    def add_fault(self, kind, function=None, owner=None, **params):
        """Add a fault knob; see FAULT_KINDS for kinds and their params.

        Common params: after=N (let N matching calls pass), times=N (fire N
        times only). Returns the stored fault.
        """
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind {!r}; known: {}".format(
                kind, ", ".join(sorted(FAULT_KINDS))))
        allowed = set(FAULT_KINDS[kind]) | {"after", "times"}
        unknown = set(params) - allowed
        if unknown:
            raise ValueError(f"fault {kind} takes {sorted(allowed)}, not {sorted(unknown)}")
        if params.get("when", "before") not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        fault = {"kind": kind, "function": function, "owner": owner}
        fault.update(params)
        with self._edit() as state:
            state["faults"].append(fault)
        return dict(fault)

    def clear_faults(self):
        with self._edit() as state:
            state["faults"] = []

    def faults(self):
        return [dict(f) for f in self.state()["faults"]]

    # -- logs -------------------------------------------------------------

    def calls(self, function=None):
        """Call log entries: argv (arguments after the program), function,
        owner (--user, default root), start, duration, pid, exit, result,
        faults (kinds that fired)."""
        try:
            with open(self.log_path, encoding="utf-8") as handle:
                entries = [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []
        if function is None:
            return entries
        return [e for e in entries if e.get("function") == function]

    def reset_calls(self):
        with open(self.log_path, "w"):
            pass

    def accounting_lines(self):
        """Lines the fake appended to its accounting.log (real removals)."""
        path = self.state().get("accounting_log") or self.accounting_path
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().splitlines()
        except FileNotFoundError:
            return []

    # -- the rest of a fake cPanel tree -------------------------------------

    def write_token_files(self, cpanel_root):
        """Keep var/cpanel/authn/api_tokens_v2/whostmgr/<OWNER>.json under
        `cpanel_root` as cPanel does: written now for every owner with tokens,
        and from now on rewritten by the fake on every create, update and
        revoke (kept as {"tokens":{}} after an owner's last token, as cPanel keeps it)."""
        with self._edit() as state:
            state["cpanel_root"] = os.path.abspath(str(cpanel_root))
        state = self.state()
        for owner in _fake.token_owners(self.state_path, state):
            _fake.write_cpanel_token_file(cpanel_root, owner, self._load(state, owner))
        # cPanel accounts' token files (api_tokens_v2/cpanel/) and who owns each account.
        for account, tokens in state.get("cpanel_tokens", {}).items():
            _fake.write_cpanel_account_token_file(cpanel_root, account, tokens)
        self.write_trueuserowners(cpanel_root)
        return os.path.join(str(cpanel_root), _fake.CPANEL_TOKEN_DIR)

    def write_users_file(self, cpanel_root, user, child_workloads=()):
        """var/cpanel/users/USER as cPanel writes it (Cpanel::Config::CpUserGuard: KEY=value
        lines, root's, 0640): a child account of a linked node (PRIVATE_createacct_child,
        PRIVATE_set_child_workloads) has `CHILD_WORKLOADS=Mail`, workloads joined by commas;
        any other account an empty value (Cpanel/Config/CpUser/Defaults.pm)."""
        account = next((a for a in self.state()["accounts"] if a["user"] == user), {})
        directory = os.path.join(str(cpanel_root), "var", "cpanel", "users")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, user)
        lines = ["# cPanel -- If you edit this file directly you must run "
                 "/usr/local/cpanel/scripts/updateuserdatacache afterwards",
                 "BWLIMIT=unlimited", "CHILD_WORKLOADS=%s" % ",".join(child_workloads),
                 "CONTACTEMAIL=", "DNS=%s.example.com" % user, "FEATURELIST=default",
                 "OWNER=%s" % account.get("owner", "root"), "PLAN=default", "RS=jupiter",
                 "STARTDATE=%d" % (self.state().get("now") or 0),
                 "SUSPENDED=%d" % bool(account.get("suspended")),
                 "USER=%s" % user]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(path, 0o640)
        return path

    def write_trueuserowners(self, cpanel_root):
        """etc/trueuserowners as cPanel keeps it: `user: owner` per account."""
        path = os.path.join(str(cpanel_root), "etc", "trueuserowners")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("".join("%s: %s\n" % (a["user"], a.get("owner", "root"))
                                 for a in self.state()["accounts"]))
        return path
