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

UAPI_FUNCTION = "uapi_cpanel"

DEFAULT_TIMEOUT = 60
DEFAULT_BATCH_SIZE = 500
# UAPI calls per `batch` process (uapi_cpanel runs each as its account, one after another
# inside that one whmapi1): 100 keeps a process's answer small (100 accounts of 20 tokens
# are ~400 KB) and its run short, while 300 accounts still cost only 3 processes.
DEFAULT_UAPI_BATCH = 100
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
        uapi_batch=DEFAULT_UAPI_BATCH,
    ):
        if batch_size < 1 or uapi_batch < 1:
            raise ValueError("batch_size must be at least 1")
        self.binary = binary or paths.whmapi1()
        self.timeout = timeout
        self.batch_size = batch_size
        self.max_argv_bytes = max_argv_bytes
        self.uapi_batch = uapi_batch

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

    # -- IP lists of WHM tokens, many per whmapi1 process ---------------------------

    def update_whitelists(self, owner, updates):
        """Set each named token's IP list (api_token_update takes one token per call; a
        `batch` of them, run as the owner, carries many in one process). `updates`:
        [(name, ips)], ips a list of addresses/ranges, or empty for no limit (`any`).
        Only `whitelist_ip` is passed: ACLs, expiry and name stay as they are. Returns
        {name: error sentence or None}; the listing afterwards says what really changed."""
        answers = {}
        for chunk in self.update_chunks(updates):
            answers.update(self._run_update_chunk(owner, chunk))
        return answers

    def update_chunks(self, updates):
        """[(name, ips)] split into `batch` processes: at most uapi_batch commands, and an
        argv within max_argv_bytes."""
        chunk, size = [], 0
        for update in updates:
            arg_bytes = len(quote(_update_command(*update), safe="")) + 16
            if chunk and (len(chunk) >= self.uapi_batch
                          or size + arg_bytes > self.max_argv_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append(update)
            size += arg_bytes
        if chunk:
            yield chunk

    def _run_update_chunk(self, owner, chunk):
        params = [("command-%d" % i, _update_command(name, ips))
                  for i, (name, ips) in enumerate(chunk)]
        params.append(("abort_on_error", "0"))
        try:
            envelope, status, err = self._envelope("batch", params, owner)
        except WhmapiError as error:
            return {name: str(error) for name, _ in chunk}
        data = envelope.get("data")
        results = data.get("result") if isinstance(data, dict) else None
        if status != 0 or not isinstance(results, list) or len(results) != len(chunk):
            why = _batch_failure(envelope, status, err, results, len(chunk))
            return {name: "whmapi1 batch (api_token_update as %s): %s" % (owner, why)
                    for name, _ in chunk}
        answers = {}
        for (name, _), result in zip(chunk, results):
            metadata = result.get("metadata") if isinstance(result, dict) else None
            if not isinstance(metadata, dict):
                answers[name] = "whmapi1 api_token_update as %s: the answer has no metadata" % (
                    owner)
            elif str(metadata.get("result")) != "1":
                answers[name] = "whmapi1 api_token_update as %s: %s" % (
                    owner, str(metadata.get("reason") or "").strip()
                    or "result 0 without a reason")
            else:
                answers[name] = None
        return answers

    # -- UAPI as a cPanel account, many calls per whmapi1 process ------------------

    def uapi_chunks(self, calls):
        """Split UapiCall objects into the groups one `batch` process runs: at most
        uapi_batch calls, and an argv within max_argv_bytes."""
        chunk, size = [], 0
        for call in calls:
            arg_bytes = len(quote(call.command(), safe="")) + 16
            if chunk and (len(chunk) >= self.uapi_batch
                          or size + arg_bytes > self.max_argv_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append(call)
            size += arg_bytes
        if chunk:
            yield chunk

    def run_uapi_chunk(self, chunk):
        """Run one group of UAPI calls in ONE whmapi1 `batch` process (uapi_cpanel per call,
        abort_on_error=0: one account's failure never stops the others). Returns one
        UapiAnswer per call, in order. A failure of the process itself (no answer, exit
        status, timeout) is every call's error: nothing tells which of them ran."""
        params = [("command-%d" % i, call.command()) for i, call in enumerate(chunk)]
        params.append(("abort_on_error", "0"))
        try:
            envelope, status, err = self._envelope("batch", params, "root")
        except WhmapiError as error:
            return [UapiAnswer(call, error=str(error)) for call in chunk]
        results = (envelope.get("data") or {}).get("result") if isinstance(
            envelope.get("data"), dict) else None
        if status != 0 or not isinstance(results, list) or len(results) != len(chunk):
            why = _batch_failure(envelope, status, err, results, len(chunk))
            return [UapiAnswer(call, error="whmapi1 batch (%s as %s): %s"
                               % (call.label(), call.user, why)) for call in chunk]
        return [_uapi_answer(call, result) for call, result in zip(chunk, results)]

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
        envelope, status, err = self._envelope(function, params, owner)
        metadata = envelope["metadata"]
        reason = str(metadata.get("reason") or "").strip()
        said_ok = str(metadata.get("result")) == "1"
        if status != 0:
            raise WhmapiFailed(function, owner, _exit_reason(status, said_ok, reason, err))
        if not said_ok:
            raise WhmapiFailed(function, owner, reason or "result 0 without a reason")
        data = envelope.get("data")
        return data if isinstance(data, dict) else {}

    def _envelope(self, function, params, owner):
        """(envelope with metadata, exit status, stderr) of one whmapi1 run, not yet judged."""
        argv = self.argv(function, params or (), owner)
        out, err, status = self._run(argv, function, owner)
        envelope = _decode(out, function, owner, status, err)
        if not isinstance(envelope.get("metadata"), dict):
            raise WhmapiBadOutput(function, owner, "the answer has no metadata")
        return envelope, status, err

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


class UapiCall(object):
    """One UAPI function to run as a cPanel account: user, module, function, params."""

    __slots__ = ("user", "module", "function", "params")

    def __init__(self, user, module, function, params=()):
        self.user = user
        self.module = module
        self.function = function
        self.params = tuple(params)

    def label(self):
        return "%s::%s" % (self.module, self.function)

    def command(self):
        """The `batch` command: uapi_cpanel?ARGS, ARGS a URI-encoded query string."""
        args = [("cpanel.user", self.user), ("cpanel.module", self.module),
                ("cpanel.function", self.function)] + list(self.params)
        return UAPI_FUNCTION + "?" + "&".join(
            "%s=%s" % (quote(key, safe=""), quote(_text(value), safe="")) for key, value in args)


class UapiAnswer(object):
    """What one UAPI call answered: `data` (UAPI's own data) when it succeeded, else
    `error` (a sentence) and `refused` (UAPI itself said no: status 0, e.g. the account's
    apitokens feature is disabled; False when the call did not get that far)."""

    __slots__ = ("call", "data", "error", "refused")

    def __init__(self, call, data=None, error=None, refused=False):
        self.call = call
        self.data = data
        self.error = error
        self.refused = refused

    @property
    def ok(self):
        return self.error is None


def _update_command(name, ips):
    """The `batch` command that sets one token's IP list: only token_name and
    whitelist_ip-N (cPanel: the list is replaced; `any` clears it)."""
    args = [("token_name", name)] + [("whitelist_ip-%d" % i, ip)
                                     for i, ip in enumerate(ips or ["any"])]
    return "api_token_update?" + "&".join(
        "%s=%s" % (quote(key, safe=""), quote(_text(value), safe="")) for key, value in args)


def _uapi_answer(call, result):
    """Judge one command's answer inside a batch: its WHM envelope, then UAPI's status."""
    where = "whmapi1 uapi_cpanel %s as %s" % (call.label(), call.user)
    if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
        return UapiAnswer(call, error="%s: the answer has no metadata" % where)
    metadata = result["metadata"]
    if str(metadata.get("result")) != "1":
        reason = str(metadata.get("reason") or "").strip() or "result 0 without a reason"
        return UapiAnswer(call, error="%s: %s" % (where, reason))
    data = result.get("data")
    uapi = data.get("uapi") if isinstance(data, dict) else None
    if not isinstance(uapi, dict):
        return UapiAnswer(call, error="%s: the answer has no data.uapi" % where)
    if str(uapi.get("status")) != "1":
        errors = uapi.get("errors")
        words = "; ".join(str(e).strip() for e in errors if str(e).strip()) if isinstance(
            errors, list) else ""
        return UapiAnswer(call, error="%s: UAPI refused: %s" % (
            where, words or "status 0 without a reason"), refused=True)
    return UapiAnswer(call, data=uapi.get("data"))


def _batch_failure(envelope, status, err, results, expected):
    metadata = envelope["metadata"]
    reason = str(metadata.get("reason") or "").strip()
    said_ok = str(metadata.get("result")) == "1"
    if status != 0:
        return _exit_reason(status, said_ok, reason, err)
    if not said_ok:
        return reason or "result 0 without a reason"
    if not isinstance(results, list):
        return "the answer has no data.result list"
    return "the answer holds %d results for %d commands" % (len(results), expected)


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
