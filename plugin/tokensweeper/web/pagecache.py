"""Rendered pages remembered by everything that went into them.

Importing Jinja2 and rendering the overview cost a reload more than everything
else together (~70 ms). A template's output is a function of its source, the
code it calls and the values it is given, so a page is kept under a hash of
exactly those, and a reload whose values are the same again (nothing on the
server changed and no shown age, state or count moved on) is answered with the
remembered bytes, without Jinja2. Everything is still computed afresh on every
load: only the rendering is skipped, so a hit is byte-identical by construction.

The values are hashed by walking them (see _canon): primitives and containers
by value, objects by class and every attribute, functions by name and the
values they close over. Anything else makes the page unrememberable.

The WHM session token is never stored: it is replaced by a placeholder in the
key and the kept page, and put back on the way out.
"""

import hashlib
import os
import sys

from tokensweeper import cachefiles, paths

DIRECTORY = "page-cache"
KEEP = 24  # pages: a few filters, sorts and page numbers of a few sessions
SESSION_PLACEHOLDER = "\x00session\x00"
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PRIMITIVES = (str, int, float, bool, type(None))


class Unrememberable(Exception):
    """A value the key cannot describe exactly: render, and keep nothing."""


def key(template, values, session):
    """The hash of everything the page's bytes depend on, or None."""
    parts = [code_identity(), template]
    try:
        _canon(values, parts, set())
    except (Unrememberable, RecursionError):
        return None
    text = "\x1f".join(parts)
    if session:
        text = text.replace(session, SESSION_PLACEHOLDER)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def lookup(page_key, session):
    """The remembered page (bytes) for this key, or None."""
    if page_key is None:
        return None
    data = cachefiles.read(os.path.join(paths.state_path(DIRECTORY), page_key))
    if data is None:
        return None
    if session:
        data = data.replace(SESSION_PLACEHOLDER.encode("utf-8"), session.encode("utf-8"))
    return data


def store(page_key, body, session):
    """Keep `body` (bytes) under `page_key`, when it can be given back exactly."""
    if page_key is None:
        return
    kept = body
    if session:
        placeholder = SESSION_PLACEHOLDER.encode("utf-8")
        kept = body.replace(session.encode("utf-8"), placeholder)
        if placeholder in body or kept.replace(placeholder, session.encode("utf-8")) != body:
            return
    directory = paths.state_path(DIRECTORY)
    try:
        os.mkdir(directory, 0o700)
    except OSError:
        pass
    if cachefiles.write(os.path.join(directory, page_key), kept):
        _prune(directory)


def _prune(directory):
    """Keep the newest KEEP pages; the rest are stale sessions and old states."""
    try:
        entries = [os.path.join(directory, name) for name in os.listdir(directory)]
        dated = sorted(((os.lstat(path).st_mtime_ns, path) for path in entries), reverse=True)
        for _, path in dated[KEEP:]:
            os.unlink(path)
    except OSError:
        pass


_IDENTITY = []


def code_identity():
    """What changes when the templates, the plugin's code, Jinja2, MarkupSafe or Python do:
    the size and time of every file of the package, and of the two libraries' entry points."""
    if not _IDENTITY:
        stamps = [sys.version]
        for directory, subdirs, names in os.walk(PACKAGE):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith((".py", ".html")):
                    stamps.append(_stamp(os.path.join(directory, name)))
        for library in ("jinja2", "markupsafe"):
            stamps.append(_stamp(_library_file(library)))
        _IDENTITY.append("|".join(stamps))
    return _IDENTITY[0]


def _library_file(name):
    """Where `import name` would load the package from, without importing it."""
    for directory in sys.path:
        path = os.path.join(directory or ".", name, "__init__.py")
        if os.path.exists(path):
            return path
    return name


def _stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return path + ":?"
    return "%s:%d:%d" % (path, info.st_size, info.st_mtime_ns)


def _canon(value, parts, active):
    """Append an exact description of `value` to parts."""
    kind = type(value)
    if kind in _PRIMITIVES:
        parts.append(repr(value))
        return
    if isinstance(value, str):  # Markup: already-safe text renders differently from str
        parts.append("%s:%r" % (_name(kind), str(value)))
        return
    if (kind is dict or kind is list or kind is tuple) and _flat(value):
        parts.append(repr(value))  # exact for primitives, and all in C: most values are these
        return
    if id(value) in active:
        raise Unrememberable("a cycle")
    active.add(id(value))
    try:
        if isinstance(value, (list, tuple)):
            parts.append("%s[%d" % (_name(kind), len(value)))
            for item in value:
                _canon(item, parts, active)
        elif isinstance(value, dict):
            parts.append("%s{%d" % (_name(kind), len(value)))
            for item_key, item in value.items():  # in order: a template may iterate over it
                for part in (item_key, item):
                    if type(part) in _PRIMITIVES:
                        parts.append(repr(part))  # the common case, without a call
                    else:
                        _canon(part, parts, active)
        elif isinstance(value, (set, frozenset)):
            parts.append("%s(%s)" % (_name(kind), sorted(repr(item) for item in value)))
            if any(type(item) not in _PRIMITIVES for item in value):
                raise Unrememberable("a set of objects")
        elif hasattr(value, "__code__"):  # a function: its name, defaults and closure
            parts.append("fn:%s.%s" % (value.__module__, value.__qualname__))
            _canon(value.__defaults__, parts, active)
            _canon([cell.cell_contents for cell in value.__closure__ or ()], parts, active)
        elif _plain_object(value):
            parts.append("obj:" + _name(kind))
            _canon(_attributes(value), parts, active)
        else:
            raise Unrememberable(_name(kind))
    finally:
        active.discard(id(value))


def _flat(container):
    if type(container) is dict:
        return all(type(k) in _PRIMITIVES and type(v) in _PRIMITIVES
                   for k, v in container.items())
    return all(type(item) in _PRIMITIVES for item in container)


def _name(kind):
    return "%s.%s" % (kind.__module__, kind.__qualname__)


def _plain_object(value):
    # Only the plugin's own classes: their state is their attributes, nothing hidden in C.
    module = type(value).__module__ or ""
    return module.split(".")[0] == "tokensweeper"


_SLOTS = {}


def _attributes(value):
    kind = type(value)
    slots = _SLOTS.get(kind)
    if slots is None:
        slots = [slot for cls in kind.__mro__ for slot in getattr(cls, "__slots__", ())]
        _SLOTS[kind] = slots
    attributes = dict(getattr(value, "__dict__", ()))
    for slot in slots:
        if slot not in attributes and hasattr(value, slot):
            attributes[slot] = getattr(value, slot)
    return attributes
