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
    def __init__(self, status=200, body=b"", content_type=HTML, headers=()):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = list(headers)

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

    def to_bytes(self, head_only=False):
        lines = ["%s: %s" % (key, value) for key, value in self.all_headers()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body

