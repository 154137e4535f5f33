"""Connected Applications: the WHM API tokens that linked applications use.

cPanel keeps a WHM user's connected applications in one JSON file: root's in
/root/conn-apps.json, a reseller's in /var/cpanel/reseller-data/<reseller>/conn-apps.json
(cpanel-facts.md). It maps an application's name to its data; `token_name`, when
present, names the API token the application uses. Such a token is in use, so
policy never revokes it ("used by connected application <app>").

A file that cannot be read or understood is a warning, never a crash, and never a
silent "no protection": every token of that owner is kept, with the reason, until
the file is fixed (which of its tokens an application uses is unknown).
"""

import errno
import json
import os
import stat

from . import paths
from .owners import valid_owner
from .tokens import NAME_RE

FILE_NAME = "conn-apps.json"
# cPanel writes a few hundred bytes per application; anything this big is not its file.
MAX_BYTES = 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ConnectedApps(object):
    """tokens: {owner: {token_name: app}}; unreadable: {owner: why}; problems: warnings."""

    def __init__(self):
        self.tokens = {}
        self.unreadable = {}
        self.problems = []


def files():
    """(owner, path) of every Connected Applications file that may exist."""
    found = [("root", paths.cpanel_path("root", FILE_NAME))]
    reseller_data = paths.cpanel_path("var", "cpanel", "reseller-data")
    try:
        names = sorted(os.listdir(reseller_data))
    except OSError:
        names = []  # no reseller has linked an application (or no cPanel tree here)
    found += [(name, os.path.join(reseller_data, name, FILE_NAME))
              for name in names if valid_owner(name) and name != "root"]
    return found


def load():
    """Read every owner's Connected Applications file. Never raises."""
    apps = ConnectedApps()
    for owner, path in files():
        try:
            document = _read(path)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            _unreadable(apps, owner, path, str(error))
            continue
        try:
            apps.tokens[owner] = token_names(document)
        except ValueError as error:
            _unreadable(apps, owner, path, str(error))
    return apps


def _read(path):
    # cPanel writes a regular file. O_NONBLOCK: a FIFO planted there would otherwise
    # stop every sweep and page load at open(); O_NOFOLLOW: a link would lend this owner
    # another file's applications (or point at a device).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError("it is a symbolic link, not cPanel's file")
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValueError("larger than %d bytes" % MAX_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text")
    except RecursionError:
        raise ValueError("nested too deeply to be cPanel's")
    except ValueError as error:
        raise ValueError("not valid JSON (%s)" % error)


def token_names(document):
    """{token_name: app} from one file's content. Raises ValueError saying what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object of applications, got %s"
                         % type(document).__name__)
    names = {}
    for app, data in sorted(document.items()):
        if isinstance(data, str):
            # Data handed to the API as a JSON string may be stored as that string.
            try:
                data = json.loads(data)
            except (ValueError, RecursionError):
                raise ValueError("the entry of application %r is not a JSON object" % app[:64])
        if not isinstance(data, dict):
            raise ValueError("the entry of application %r is not a JSON object" % app[:64])
        name = data.get("token_name")
        if name is None or name == "":
            continue  # an application that uses keys, not an API token
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError("application %r names no valid API token (token_name %r)"
                             % (app[:64], str(name)[:64]))
        names[name] = _printable(app[:64])
    return names


def _printable(text):
    """The application's name as it may be shown: it comes from the file, and reaches a
    terminal and every report, so no escape sequence, line break or direction override."""
    return "".join(char if char.isprintable() else "?" for char in text)


def _unreadable(apps, owner, path, why):
    apps.unreadable[owner] = "%s cannot be used (%s)" % (path, why)
    apps.problems.append(
        "the Connected Applications file %s cannot be used (%s): every WHM API token of %s is "
        "kept as protected until it is fixed, because which of them an application uses "
        "is unknown" % (path, why, owner))
