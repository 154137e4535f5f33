"""A page that must wait for whmapi1 shows its top and a progress bar at once.

Listing 100 owners at about 300 ms a whmapi1 process takes seconds, and a page printed only
when everything is listed leaves the browser blank until then. cpsrvd (cPanel's own
source, see docs/performance.md) reads a CGI's header block first, then streams its body
as the CGI writes it, holding the first read back until a second one arrives. So a slow
page is sent in three parts:

1. the page up to where its content starts, with a "Listing..." status, at once;
2. one `<progress>` per owner listed: each is a write, so the first part goes out when
   the first owner is listed, and the bar advances without JavaScript (each new bar is
   drawn over the last: style.css);
3. the page's content and the rest, once rendered.

The status (200) is decided before the first byte: an error met later is shown inside the
page, as its error page's content.
"""

import queue
import threading
import time

from . import render
from .errors import error_response
from .request import HttpError
from .response import HTML, Response

LISTED, DONE, FAILED = "listed", "done", "failed"


def streamed(env, title, nav, owners, prepare, work):
    """A Response that shows progress while `owners` owners are listed.

    prepare() runs first, in this thread (reading the usage log: it may fork, which a
    process with threads must not); work(prepared, on_listed) then runs in a thread, calls
    on_listed() as each owner is listed, and returns the page's Response. The opening is
    rendered once the listing has started: importing Jinja2 for it then overlaps the first
    whmapi1 calls instead of delaying them (cpsrvd holds the first write back until the
    second anyway, so it reaches the browser no later)."""
    opening, headers = render.page_opening_later(env, title, nav)

    def chunks():
        started = time.monotonic()
        events = queue.Queue()
        try:
            prepared = prepare()
        except Exception as error:  # noqa: BLE001 - shown in the page, like any other error
            events.put((FAILED, error))
        else:
            threading.Thread(target=_run, args=(work, prepared, events), daemon=True).start()
        yield opening() + _status(owners)
        listed = 0
        while True:
            kind, value = events.get()
            if kind != LISTED:
                break
            listed += 1
            yield _step(listed, owners)
        yield _finished(listed, time.monotonic() - started)
        if kind == FAILED:
            if isinstance(value, HttpError):
                value.tabs = True  # whoever got this far may use the page: keep its tabs
            value = error_response(env, value)
        yield _content(value)

    return Response(200, b"", HTML, headers, chunks=chunks())


def _run(work, prepared, events):
    # Whatever happens, the page's thread hears the end: it waits for nothing else.
    try:
        events.put((DONE, work(prepared, lambda: events.put((LISTED, None)))))
    except BaseException as error:  # noqa: BLE001 - handed to the page's thread
        events.put((FAILED, error if isinstance(error, Exception) else RuntimeError(
            "the listing stopped: %s" % _named(error))))


def _named(error):
    """SystemExit(3) on every Python (3.6's repr says SystemExit(3,))."""
    return "%s(%s)" % (type(error).__name__, ", ".join(repr(arg) for arg in error.args))


def _status(owners):
    return ('<div class="ts-listing" role="status">\n'
            '<p class="ts-listing-now">Listing the API tokens of %d owners through whmapi1…</p>\n'
            '<div class="ts-listing-bar" aria-hidden="true">'
            '<progress max="%d" value="0"></progress>' % (owners, owners)).encode("utf-8")


def _step(listed, owners):
    return ('<progress max="%d" value="%d"></progress>' % (owners, listed)).encode("utf-8")


def _finished(listed, seconds):
    return ('</div>\n<p class="ts-listing-done">Listed %d owner%s in %.1f s.</p>\n</div>\n'
            % (listed, "" if listed == 1 else "s", seconds)).encode("utf-8")


def _content(response):
    """What follows the page's opening in `response` (the whole body if it has none)."""
    body = b"".join(response.body_chunks())
    start = body.find(render.CONTENT_START)
    return body if start < 0 else body[start + len(render.CONTENT_START):]
