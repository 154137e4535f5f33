"""Jinja2 rendering inside WHM's chrome (or the plugin's own WHM-like layout).

Autoescaping is on for every template: owner and token names come from
whmapi1 and the audit log and are treated as hostile.
"""

import io
import os
import threading

from tokensweeper import __version__, paths, statefiles

from . import chrome, formats, icons, pagecache, security
from .response import HTML, Response

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")
STATIC = os.path.join(HERE, "static")

# The fallback layout loads nothing from elsewhere, so it can be strict. WHM's
# own chrome brings inline scripts of its own, so it gets no such policy.
FALLBACK_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'")

_ENV = []
# A streamed page renders its opening in one thread while its content may already be
# rendered in another: one environment for both.
_ENV_LOCK = threading.Lock()


def environment():
    if not _ENV:
        with _ENV_LOCK:
            if not _ENV:
                _ENV.append(_new_environment())
    return _ENV[0]


def _new_environment():
    import jinja2  # ~45 ms: only when a page is really rendered (see pagecache)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_bytecode_cache(),
    )
    env.filters.update(formats.FILTERS)
    env.globals["version"] = __version__
    env.globals["icon"] = icons.icon
    return env


def _bytecode_cache():
    """Compiled templates kept in the state dir: compiling them is a third of a page's own
    time. Without a usable state dir, templates are simply compiled each time."""
    directory = paths.state_path("template-cache")
    try:
        statefiles.ensure_dir(paths.state_dir())
        statefiles.ensure_dir(directory)
    except (OSError, statefiles.UntrustedState):
        return None
    return _state_bytecode_cache_class()(directory)


_CACHE_CLASS = []


def _state_bytecode_cache_class():
    """Made on first use: Jinja2 is imported only when a page is really rendered."""
    if _CACHE_CLASS:
        return _CACHE_CLASS[0]
    import jinja2

    class StateBytecodeCache(jinja2.BytecodeCache):
        """Jinja2's compiled templates, kept only as statefiles allows: they are code run
        as root, so one that others could have written (or a link) is never loaded; it is
        compiled again instead."""

        def __init__(self, directory):
            self.directory = directory

        def _path(self, bucket):
            return os.path.join(self.directory, "__jinja2_%s.cache" % bucket.key)

        def load_bytecode(self, bucket):
            try:
                fd = statefiles.open_file(self._path(bucket), os.O_RDONLY)
            except (OSError, statefiles.UntrustedState):
                return
            with os.fdopen(fd, "rb") as handle:
                bucket.load_bytecode(handle)

        def dump_bytecode(self, bucket):
            buffer = io.BytesIO()
            bucket.write_bytecode(buffer)
            try:
                statefiles.write_atomically(self._path(bucket), buffer.getvalue())
            except (OSError, statefiles.UntrustedState):
                pass

    _CACHE_CLASS.append(StateBytecodeCache)
    return StateBytecodeCache


def escape(text):
    from markupsafe import escape as markup_escape  # ~4 ms with typing: only with WHM's chrome

    return markup_escape(text)


def asset_url(name):
    # The version busts browser caches after an upgrade.
    return "index.cgi?asset={}&v={}".format(name, __version__)


# Where every page's own content starts: a streamed page (web/progress.py) sends all
# before it, and its progress, while the rest is still being made.
CONTENT_START = b'<div class="ts-content">'


def page(env, template, title, status=200, nav=None, nonce="", remember=False, **context):
    """Render `template` as a full WHM page for the user of `env`.

    remember: answer from (and keep the result in) the page cache when every value
    given to the template is the same as for a page rendered before."""
    layout, session, headers = _layout(env, title, nav, nonce)
    values = dict(context, **layout)
    page_key = pagecache.key(template, values, session) if remember else None
    body = pagecache.lookup(page_key, session)
    if body is None:
        body = environment().get_template(template).render(**values).encode("utf-8")
        pagecache.store(page_key, body, session)
    return Response(status, body, HTML, headers)


def page_opening(env, title, nav=None):
    """(bytes, headers): a page of this title and tab up to where its content starts
    (CONTENT_START included), as page() would render it."""
    opening, headers = page_opening_later(env, title, nav)
    return opening(), headers


def page_opening_later(env, title, nav=None):
    """(opening, headers): as page_opening, but the template is rendered (and Jinja2
    imported) only when opening() is called for the bytes."""
    values, _, headers = _layout(env, title, nav, "")

    def opening():
        whole = environment().get_template("layout.html").render(**values).encode("utf-8")
        return whole[:whole.index(CONTENT_START) + len(CONTENT_START)]

    return opening, headers


def _layout(env, title, nav, nonce):
    """(values every page's layout needs, the session token the page cache keys on, headers)."""
    user = env.get("REMOTE_USER", "")
    token = env.get("cp_security_token", "")
    whm = None
    # The one rule for the session token (security.valid_security_token), on error pages
    # too: anything else never reaches WHM's header, which links with it.
    valid_token = security.valid_security_token(token)
    if valid_token and user:
        # The page's own title also inside WHM's chrome (WCAG 2.4.2): "WHM - Audit log · ...".
        whm = chrome.load_chrome(user, token, "%s · API Token Sweeper" % title, escape)
    values = {"title": title, "nav": nav, "nonce": nonce, "user": user, "chrome": whm,
              "asset_url": asset_url}
    headers = [] if whm else [("Content-Security-Policy", FALLBACK_CSP)]
    return values, token if valid_token else "", headers


def error_page(env, error):
    """The page for an HttpError: its message, its problems as a list, and a way on."""
    return page(env, "error.html", error.title, status=error.status,
                nav="error" if error.tabs else None, message=error.message,
                problems=error.problems, settings_link=error.settings_link,
                refused=error.status == 403 and not error.tabs)


ASSET_TYPES = {
    "style.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "logo.svg": "image/svg+xml",
}


def asset(name):
    """A static file of the page, or None when `name` is not one of them."""
    content_type = ASSET_TYPES.get(name)
    if content_type is None:
        return None
    with open(os.path.join(STATIC, name), "rb") as handle:
        body = handle.read()
    # Assets hold no data, so the browser may keep them; the version in the URL renews them.
    return Response(200, body, content_type, [("Cache-Control", "private, max-age=86400")])
