"""Who may use the page (ACL) and proof that a form came from it (CSRF).

The CGI runs as root whoever is logged in, so cPanel's advice applies: check
privileges in code, not only through AppConfig's `acls=`.
"""

import hashlib
import hmac
import os
import re

from tokensweeper import paths, statefiles
from tokensweeper.resellers import reseller_acls

SECRET_NAME = "csrf.secret"
# \Z, not $: "$" also matches before a trailing newline.
SECURITY_TOKEN_RE = re.compile(r"^/cpsess[0-9]{10}\Z")


class Access(object):
    def __init__(self, allowed, reason):
        self.allowed = allowed
        self.reason = reason


def check_access(env):
    """Decide whether the WHM user behind this request may use the page."""
    user = env.get("REMOTE_USER", "")
    if not user:
        return Access(False, "No WHM user is logged in. Open this page from WHM.")
    if env.get("WHM_API_TOKEN_NAME") and user != "root":
        return Access(False, "Requests made with an API token are accepted from root only, "
                             "because a token's own ACLs may be narrower than its owner's.")
    if user == "root":
        return Access(True, "")
    acls = reseller_acls(user)
    if acls is None:
        return Access(False, "The WHM user “{}” is neither root nor a reseller.".format(user))
    if "all" not in acls:
        return Access(False, "The reseller “{}” does not have the “all” privilege "
                             "(Root Access), which this page requires.".format(user))
    return Access(True, "")


def api_token_refusal(name, client):
    """Why a request made with root's API token `name` may not use the page, or None.

    A root token can be narrowed to a few ACLs, while this page can revoke every
    token on the server: only a full-access token may use it. Costs one whmapi1
    call, on API-token requests only."""
    from tokensweeper.tokens import TokenDataError
    from tokensweeper.whmapi import WhmapiError

    try:
        tokens = client.list_tokens("root")
    except (WhmapiError, TokenDataError) as error:
        return "The API token behind this request could not be checked: {}".format(error)
    token = next((t for t in tokens if t.name == name), None)
    if token is None:
        return "The API token behind this request is not one of root's tokens."
    if not token.full_access:
        return ("The API token “{}” has limited privileges; this page can revoke every token "
                "on the server, so it needs a full-access token.".format(name))
    return None


def valid_security_token(token):
    return bool(SECURITY_TOKEN_RE.match(token or ""))


def load_secret():
    """The CSRF key: 32 random bytes kept 0600 in the state directory.

    Made once, whole (statefiles.create_once): created in place, a concurrent first
    request could read it still empty, and a failed write would leave an empty secret
    that breaks every later request. Read only while root alone could have written it
    (statefiles): otherwise a local user could choose the key and forge forms.
    """
    path = paths.state_path(SECRET_NAME)
    try:
        fd = statefiles.open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        statefiles.create_once(path, os.urandom(32).hex().encode("ascii"))
        fd = statefiles.open_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        # Tighten a secret someone copied around with looser permissions.
        if os.fstat(handle.fileno()).st_mode & 0o077:
            os.fchmod(handle.fileno(), 0o600)
        secret = handle.read(4096).strip()
    if len(secret) < 32:
        raise RuntimeError(
            "The CSRF secret {} is damaged; delete it to make a new one.".format(path))
    return secret


def make_nonce(user, security_token, secret=None):
    """A nonce bound to the WHM session (its security token) and user."""
    key = secret if secret is not None else load_secret()
    message = "{}\n{}".format(user, security_token).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_nonce(user, security_token, submitted, secret=None):
    if not submitted or not valid_security_token(security_token):
        return False
    expected = make_nonce(user, security_token, secret)
    return hmac.compare_digest(expected.encode("ascii"), submitted.encode("utf-8", "replace"))
