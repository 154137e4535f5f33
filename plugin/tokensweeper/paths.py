"""Every filesystem path the plugin uses, in one place.

Each function reads its environment variable at call time, so tests, the demo
and a shell can point the plugin at a fake whmapi1 or a fake cPanel tree.
"""

import os

DEFAULT_WHMAPI1 = "/usr/local/cpanel/bin/whmapi1"
DEFAULT_CONFIG = "/etc/tokensweeper/config.yaml"
DEFAULT_STATE_DIR = "/var/cpanel/tokensweeper"


def whmapi1():
    return os.environ.get("TOKENSWEEPER_WHMAPI1") or DEFAULT_WHMAPI1


def config_file():
    return os.environ.get("TOKENSWEEPER_CONFIG") or DEFAULT_CONFIG


def state_dir():
    return os.environ.get("TOKENSWEEPER_STATE_DIR") or DEFAULT_STATE_DIR


def cpanel_root():
    return os.environ.get("TOKENSWEEPER_CPANEL_ROOT") or "/"


def cpanel_path(*parts):
    """A path inside the cPanel tree, e.g. cpanel_path("var/cpanel/resellers")."""
    return os.path.join(cpanel_root(), *parts)


def state_path(name):
    return os.path.join(state_dir(), name)


def audit_log():
    return state_path("audit.log")


def lock_file():
    return state_path("sweep.lock")


def resellers_file():
    return cpanel_path("var", "cpanel", "resellers")


def token_dir():
    """One <USER>.json per WHM user that has API tokens."""
    return cpanel_path("var", "cpanel", "authn", "api_tokens_v2", "whostmgr")


def cpanel_token_dir():
    """One <USER>.json per cPanel account that has (or had) cPanel API tokens."""
    return cpanel_path("var", "cpanel", "authn", "api_tokens_v2", "cpanel")


def trueuserowners():
    """`user: owner` per cPanel account: which reseller (or root) owns it."""
    return cpanel_path("etc", "trueuserowners")


def whm_chrome_cache_dir():
    """Where cPanel pre-renders WHM's header and footer (web/chrome.py).

    Like cPanel's own WHM.php: the environment variable
    `whm_chrome_cache_directory` names it, used as given (it is a path on the
    real server, not inside TOKENSWEEPER_CPANEL_ROOT); unset or empty (or "0",
    which PHP also reads as false) means var/cpanel/caches.
    """
    named = os.environ.get("whm_chrome_cache_directory")
    if named and named != "0":
        return named
    return cpanel_path("var", "cpanel", "caches")


def api_tokens_log():
    return cpanel_path("usr", "local", "cpanel", "logs", "api_tokens_log")


DEFAULT_SENDMAIL = "/usr/sbin/sendmail"


def sendmail():
    """The local MTA's sendmail (Exim's on cPanel servers), as cron's own mail uses it."""
    return os.environ.get("TOKENSWEEPER_SENDMAIL") or DEFAULT_SENDMAIL


def wwwacct_conf():
    """WHM's basic setup: CONTACTEMAIL is the server contact's address."""
    return cpanel_path("etc", "wwwacct.conf")


def hook_queue_dir():
    """The hook's queued account events, one file each (hookqueue.py)."""
    return state_path("hook-queue")


def hook_worker_lock():
    """Held by the one worker that handles the hook's queue."""
    return state_path("hook-worker.lock")


def cpanel_error_log():
    """cPanel's error_log, where a hook's stderr goes: the detached worker appends there."""
    return cpanel_path("usr", "local", "cpanel", "logs", "error_log")


def hook_settle(default):
    """TOKENSWEEPER_HOOK_SETTLE: the worker's quiet period in seconds (tests: 0)."""
    return os.environ.get("TOKENSWEEPER_HOOK_SETTLE") or default
