"""The only code that runs whmapi1.

Every call is an argv list (never a shell), asks for JSON, runs as the owner
with --user for everyone but root, and is judged by BOTH the exit status and
metadata.result (cpanel-facts.md §1): whmapi1 can fail with no JSON at all,
or exit 0 with result 0.
"""

import json
import os
from urllib.parse import quote

from . import paths
from .resellers import owner_acls
from .tokens import parse_token_list

DEFAULT_TIMEOUT = 60
DEFAULT_BATCH_SIZE = 500
# Linux allows 128 KiB per argument and ~2 MiB for argv + environment; stay far below.
DEFAULT_MAX_ARGV_BYTES = 64 * 1024
# After a timeout the killed call's output is waited for this long, at most.
KILL_GRACE = 2


class WhmapiError(Exception):
    """A whmapi1 call did not do what was asked. Says which function, as whom, and why."""

    def __init__(self, function, owner, reason):
        self.function = function
        self.owner = owner
        self.reason = reason
        super(WhmapiError, self).__init__("whmapi1 %s as %s: %s" % (function, owner, reason))


class WhmapiMissing(WhmapiError):
    """The binary is not there or not executable."""


class WhmapiTimeout(WhmapiError):
    """The call ran past its time limit and was killed."""


class WhmapiFailed(WhmapiError):
    """whmapi1 said no: non-zero exit or metadata.result 0."""


class WhmapiBadOutput(WhmapiError):
    """whmapi1 printed something that is not the JSON envelope."""


class Client(object):
    def __init__(
        self,
        binary=None,
        timeout=DEFAULT_TIMEOUT,
        batch_size=DEFAULT_BATCH_SIZE,
        max_argv_bytes=DEFAULT_MAX_ARGV_BYTES,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.binary = binary or paths.whmapi1()
        self.timeout = timeout
        self.batch_size = batch_size
        self.max_argv_bytes = max_argv_bytes

    # -- the token functions the plugin needs ---------------------------------

    def list_tokens(self, owner):
        data = self.call("api_token_list", owner=owner)
        return parse_token_list(owner, data, owner_acls(owner))

    def revoke_tokens(self, owner, names):
        """Revoke names in as few calls as the batch and argv limits allow. Returns the calls made.

        whmapi1 answers OK for names that do not exist and says nothing per
        token, so callers must list again to learn what really went.
        """
        calls = 0
        for batch in self.batches(names):
            params = [("token_name-%d" % (i + 1), name) for i, name in enumerate(batch)]
            self.call("api_token_revoke", params, owner=owner)
            calls += 1
        return calls

    def list_resellers(self):
        data = self.call("listresellers")
        resellers = data.get("reseller") or []
        if not isinstance(resellers, list) or not all(isinstance(r, str) for r in resellers):
            raise WhmapiBadOutput("listresellers", "root", "data.reseller is not a list of names")
        return resellers

    def batches(self, names):
        """Split names into argv-sized batches of at most batch_size names."""
        batch, size = [], 0
        for name in names:
            arg_bytes = len("token_name-%d=%s" % (len(batch) + 1, quote(name, safe=""))) + 1
            if batch and (len(batch) >= self.batch_size or size + arg_bytes > self.max_argv_bytes):
                yield batch
                batch, size = [], 0
                arg_bytes = len("token_name-1=%s" % quote(name, safe="")) + 1
            batch.append(name)
            size += arg_bytes
        if batch:
            yield batch

    # -- the one place a process is started -----------------------------------

    def argv(self, function, params=(), owner="root"):
        argv = [self.binary, "--output=json"]
        if owner != "root":
            argv.append("--user=%s" % owner)
        argv.append(function)
        items = params.items() if isinstance(params, dict) else params
        for key, value in items:
            argv.append("%s=%s" % (key, quote(_text(value), safe="")))
        return argv

    def call(self, function, params=(), owner="root"):
        """Run one whmapi1 function and return its `data` (an empty dict when there is none)."""
        argv = self.argv(function, params or (), owner)
        out, err, status = self._run(argv, function, owner)
        envelope = _decode(out, function, owner, status, err)
        metadata = envelope.get("metadata")
        if not isinstance(metadata, dict):
            raise WhmapiBadOutput(function, owner, "the answer has no metadata")
        reason = str(metadata.get("reason") or "").strip()
        said_ok = str(metadata.get("result")) == "1"
        if status != 0:
            raise WhmapiFailed(function, owner, _exit_reason(status, said_ok, reason, err))
        if not said_ok:
            raise WhmapiFailed(function, owner, reason or "result 0 without a reason")
        data = envelope.get("data")
        return data if isinstance(data, dict) else {}

    def _run(self, argv, function, owner):
        import subprocess  # here: a page answered from the listing cache runs nothing

        try:
            # A new session so that a timeout kills whmapi1 and anything it started.
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise WhmapiMissing(
                function,
                owner,
                "cannot run %s (%s); set TOKENSWEEPER_WHMAPI1 to the "
                "whmapi1 binary" % (argv[0], _why(error)),
            )
        try:
            out, err = child.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            _reap(child)
            raise WhmapiTimeout(
                function, owner, "no answer after %s seconds; the call was killed" % self.timeout
            )
        return out, err, child.returncode


def _decode(out, function, owner, status, err):
    text = out.decode("utf-8", "replace").strip()
    if not text:
        detail = _first_line(err) or "no output"
        cls = WhmapiFailed if status != 0 else WhmapiBadOutput
        raise cls(function, owner, "exit status %d, no JSON answer: %s" % (status, detail))
    try:
        envelope = json.loads(text)
    except ValueError:
        cls = WhmapiFailed if status != 0 else WhmapiBadOutput
        raise cls(function, owner, "exit status %d, not JSON: %s" % (status, _first_line(text)))
    if not isinstance(envelope, dict):
        raise WhmapiBadOutput(function, owner, "the answer is not a JSON object")
    return envelope


def _exit_reason(status, said_ok, reason, err):
    # An answer that says OK from a process that then failed must not read as "OK".
    if said_ok:
        detail = _first_line(err) or "no message"
        return "exit status %d although the answer said it succeeded: %s" % (status, detail)
    return "exit status %d: %s" % (status, reason or _first_line(err) or "no message")


def _reap(child):
    """Wait for the killed whmapi1, but only briefly for the end of its output: a
    descendant that left its process group (a detached helper) can hold the pipes open
    for as long as it lives, and the timeout must stay the timeout."""
    import subprocess  # loaded already: only a started call gets here

    try:
        child.communicate(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        for stream in (child.stdout, child.stderr):
            try:
                stream.close()
            except OSError:
                pass
        try:
            child.wait(timeout=KILL_GRACE)  # whmapi1 itself got SIGKILL: at once
        except subprocess.TimeoutExpired:
            pass  # unkillable (stuck in the kernel): leave it, do not hang with it


def _kill_group(child):
    import signal

    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        child.kill()


def _text(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _first_line(raw):
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _why(error):
    """An OSError's own words. Python 3.6's subprocess appends the file name to strerror
    ("No such file or directory: '/x'"), which the message already names."""
    return os.strerror(error.errno) if error.errno else str(error)
