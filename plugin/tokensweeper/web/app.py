"""The WHM page's front controller: CGI in, one response out.

Every request passes, in this order: the privilege check, the WHM session
check, request parsing, then one route. State changes are POST routes that
also check the CSRF nonce. Routes are chosen by the `page` query parameter so
every link can stay relative to index.cgi (and keep WHM's /cpsess… prefix).
"""

import os
import sys

from tokensweeper import clock

from . import render, security
from .errors import error_response
from .request import HttpError, parse_request
from .response import Response


def handle(env, stream, now=None):
    """The Response for one request (now: an epoch, else the clock). Never raises."""
    try:
        return _dispatch(env, stream, now)
    except Exception as error:  # noqa: BLE001 - every error becomes a page
        return error_response(env, error)


def _dispatch(env, stream, now):
    asset = _asset(env)
    if asset is not None:
        return asset
    access = security.check_access(env)
    if not access.allowed:
        raise HttpError(403, "Access denied", access.reason)
    if not security.valid_security_token(env.get("cp_security_token", "")):
        raise HttpError(403, "Access denied",
                        "This request carries no WHM session token. Open the page from WHM.")
    try:
        return _serve(env, stream, now)
    except HttpError as error:
        error.tabs = True  # this user may use the page: keep its tabs on the error page
        raise


def _serve(env, stream, now):
    request = parse_request(env, stream)
    if now is None:
        try:
            # The same clock as the command and the hook (TOKENSWEEPER_NOW pins it).
            now = clock.now(env)
        except clock.ClockError as error:
            raise HttpError(500, "Clock error", str(error))
    # Imported here so a refused request never loads the engine.
    from . import routes

    if env.get("WHM_API_TOKEN_NAME"):
        refusal = security.api_token_refusal(env["WHM_API_TOKEN_NAME"], routes.client())
        if refusal:
            raise HttpError(403, "Access denied", refusal)
    return routes.route(request, now)


def _asset(env):
    """The stylesheet, script or logo, for anyone cpsrvd lets in: they hold nothing secret,
    and a refused user's 403 page needs its stylesheet too. None for any other request."""
    if env.get("REQUEST_METHOD", "GET").upper() not in ("GET", "HEAD"):
        return None
    from urllib.parse import parse_qs

    names = parse_qs(env.get("QUERY_STRING", "")).get("asset")
    if not names:
        return None
    found = render.asset(names[0])
    if found is None:
        raise HttpError(404, "Not found", "This page has no file of that name.")
    return found


def main(env=None, stdin=None, stdout=None, now=None):
    env = os.environ if env is None else env
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout.buffer if stdout is None else stdout
    response = handle(env, stdin, now)
    head_only = env.get("REQUEST_METHOD", "GET").upper() == "HEAD"
    try:
        response.write_to(stdout, head_only=head_only)
    except BrokenPipeError:
        # The browser went away (cpsrvd closed the pipe), likely during a streamed page's
        # listing: nobody is left to tell, and a traceback in cPanel's error_log would only
        # alarm. A streamed page only shows; a POST did its work before its answer.
        _stop_writing(stdout)
    return 0


def _stop_writing(stdout):
    """Point our standard output at /dev/null, so that the interpreter's own flush at exit
    does not fail on the closed pipe again ("Exception ignored ... BrokenPipeError")."""
    try:
        fd = stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's buffer)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


__all__ = ["handle", "main", "Response"]
