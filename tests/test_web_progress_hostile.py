"""Breaking the streamed page (issue 14.4): a browser that leaves mid-stream, listings
that fail or hang mid-stream, POSTs, the page cache. Runs on every Python of the matrix."""

import os
import subprocess
import sys

from tests.test_web_cgi import CGI, Reply
from tests.test_web_progress import send, site  # noqa: F401 - the fixture


def test_a_browser_that_leaves_mid_stream_leaves_no_traceback_and_a_good_cache(site):
    """cpsrvd closes the pipe when the admin clicks away during a slow listing: the CGI
    must end quietly (no traceback in cPanel's error_log), and the next visit is right."""
    site.server.add_fault("latency", function="api_token_list", seconds=1)
    env = dict(os.environ)
    env.update(site.env())
    child = subprocess.Popen([sys.executable, CGI], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        seen = b""
        while b"Listing the API tokens" not in seen:
            chunk = os.read(child.stdout.fileno(), 65536)
            assert chunk, child.stderr.read()
            seen += chunk
        child.stdout.close()  # the browser went away
        err = child.stderr.read().decode("utf-8", "replace")
    finally:
        child.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    site.server.clear_faults()
    head, body = send(site)
    reply = Reply(head + b"".join(body))
    assert reply.status == 200 and "res7-key" in reply.text() and "old-ci" in reply.text()
