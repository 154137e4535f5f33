"""A CGI response: a status line for cpsrvd, headers, a body."""

REASONS = {
    200: "OK", 303: "See Other", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 411: "Length Required",
    413: "Payload Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error",
    503: "Service Unavailable",
}

HTML = "text/html; charset=utf-8"

# Headers every response sends: nothing here may be cached by a browser or
# proxy (it lists credentials' metadata), sniffed into another type, leak the
# /cpsess… URL through a Referer to another site, or be framed by another site
# (clickjacking a Revoke button). A response may give its own Content-Security-
# Policy (the fallback layout's strict one); each of those says frame-ancestors too.
FRAME_ANCESTORS = "frame-ancestors 'self'"
BASE_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Content-Security-Policy", FRAME_ANCESTORS),
)


class Response(object):
    """body: bytes, or `chunks`: an iterable of bytes written (and flushed) one by one after
    the headers, so a slow page can show something at once (see web/progress.py)."""

    def __init__(self, status=200, body=b"", content_type=HTML, headers=(), chunks=None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = list(headers)
        self.chunks = chunks

    def header(self, name):
        for key, value in self.all_headers():
            if key.lower() == name.lower():
                return value
        return None

    def all_headers(self):
        given = {key.lower() for key, _ in self.headers}
        base = [(k, v) for k, v in BASE_HEADERS if k.lower() not in given]
        return [("Status", "%d %s" % (self.status, REASONS.get(self.status, "Unknown"))),
                ("Content-Type", self.content_type)] + base + self.headers

    def head_bytes(self):
        lines = ["%s: %s" % (key, value) for key, value in self.all_headers()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def to_bytes(self, head_only=False):
        """The whole response at once (a streamed one is gathered first)."""
        if head_only:
            return self.head_bytes()
        return self.head_bytes() + b"".join(self.body_chunks())

    def body_chunks(self):
        return [self.body] if self.chunks is None else self.chunks

    def write_to(self, stdout, head_only=False):
        """Headers, then the body; each chunk of a streamed body is flushed as it comes."""
        stdout.write(self.head_bytes())
        stdout.flush()
        if head_only:
            return
        for chunk in self.body_chunks():
            stdout.write(chunk)
            stdout.flush()

