"""The CGI request: environment and body in, a validated Request out.

cpsrvd runs the CGI as root for whoever is logged in to WHM, so parsing is
strict: an unexpected body, bad encoding or a body over the size limit is
refused before any other code sees it.
"""

import re
from urllib.parse import parse_qsl

# A selection of every token of a big server (5,000 tokens of ~70 bytes each)
# fits comfortably; anything bigger is not a form this page produced.
MAX_BODY = 1024 * 1024
MAX_FIELDS = 20000

FORM_TYPE = "application/x-www-form-urlencoded"

# ASCII digits only: str.isdigit() also accepts "²" or "١", which int() then
# rejects or reads, and a number of thousands of digits makes int() raise.
DIGITS_RE = re.compile(r"^[0-9]+\Z")


class HttpError(Exception):
    """A request this page refuses; the front end renders it as an error page."""

    def __init__(self, status, title, message, problems=(), settings_link=False):
        Exception.__init__(self, message)
        self.status = status
        self.title = title
        self.message = message
        self.problems = list(problems)  # shown as a list under the message
        self.settings_link = settings_link
        # Set once the user is known to may use the page: the error page then shows the
        # tabs, so it is never a dead end. A refused user gets no links into the page.
        self.tabs = False


def bad_request(message):
    return HttpError(400, "Bad request", message)


class Request(object):
    """One CGI request. `query` and `form` map a name to a list of values."""

    def __init__(self, env, method, query, form):
        self.env = env
        self.method = method
        self.query = query
        self.form = form

    @property
    def user(self):
        return self.env.get("REMOTE_USER", "")

    @property
    def security_token(self):
        return self.env.get("cp_security_token", "")

    def arg(self, name, default=""):
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def field(self, name, default=""):
        """The first value of a form field."""
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name):
        return list(self.form.get(name, []))


def parse_fields(text):
    """Parse urlencoded text into name -> [values]; 400 on bad encoding."""
    try:
        # Raw non-UTF-8 bytes in QUERY_STRING reach os.environ as lone surrogates, which
        # parse_qsl keeps and which would only fail when the page is encoded.
        text.encode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeError, ValueError):
        raise bad_request("The request is not valid URL-encoded UTF-8.")
    if len(pairs) > MAX_FIELDS:
        raise bad_request("The request has too many fields.")
    result = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise bad_request("The request contains a NUL character.")
        result.setdefault(name, []).append(value)
    return result


def read_body(env, stream):
    """Read exactly CONTENT_LENGTH bytes of an urlencoded form body."""
    ctype = env.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise HttpError(415, "Unsupported form", "Forms must be sent as " + FORM_TYPE + ".")
    raw_length = env.get("CONTENT_LENGTH", "").strip()
    if not DIGITS_RE.match(raw_length):
        raise HttpError(411, "Length required", "The request does not say how long its body is.")
    length = int(raw_length) if len(raw_length) <= len(str(MAX_BODY)) else MAX_BODY + 1
    if length > MAX_BODY:
        raise HttpError(413, "Request too large",
                        "The form is larger than {} bytes; select fewer tokens.".format(MAX_BODY))
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise bad_request("The request body ended early.")
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise bad_request("The form body must be URL-encoded.")


def parse_request(env, stream):
    """Build a Request from a CGI environment and the binary stdin stream."""
    method = env.get("REQUEST_METHOD", "GET").upper()
    if method not in ("GET", "HEAD", "POST"):
        raise HttpError(405, "Method not allowed", "This page accepts GET and POST only.")
    query = parse_fields(env.get("QUERY_STRING", ""))
    form = parse_fields(read_body(env, stream)) if method == "POST" else {}
    return Request(env, method, query, form)
