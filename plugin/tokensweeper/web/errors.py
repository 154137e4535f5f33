"""The one place an error met while answering becomes a page (the front controller's
and the streamed listing's)."""

import sys

from tokensweeper.statefiles import UntrustedState

from . import render
from .request import HttpError


def error_response(env, error):
    """The page for an error met while answering: its own page for an HttpError, a 500 for
    anything else (the admin gets a page, cpsrvd's error_log the details)."""
    if isinstance(error, HttpError):
        return render.error_page(env, error)
    if isinstance(error, UntrustedState):
        return render.error_page(env, HttpError(
            500, "State directory refused",
            "Token Sweeper stopped before using it: {}".format(error)))
    import traceback  # only on this rare path: every page load would pay ~3 ms

    sys.stderr.write("tokensweeper: internal error\n" + "".join(
        traceback.format_exception(type(error), error, error.__traceback__)))
    return render.error_page(env, HttpError(
        500, "Internal error", "Token Sweeper hit an unexpected error. The details are in "
                               "cPanel's error log (/usr/local/cpanel/logs/error_log)."))
