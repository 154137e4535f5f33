"""Serve the real index.cgi the way cpsrvd does, for the demo and browser tests.

    python tools/demo_server.py [--port 8087] [--user root] [--setup DIR]

Only http://127.0.0.1:PORT/cpsess0000000001/cgi/tokensweeper/index.cgi runs
the CGI (cpanel-facts.md §2): the WHM environment (REMOTE_USER,
cp_security_token, SCRIPT_NAME, ...), the request body on stdin, `Status:` and
`Location:` honoured, X-Frame-Options added. A URL without the session token
is refused like cpsrvd refuses it. `--setup DIR` first seeds a fake server in
DIR (whmapi1 state, resellers file, WHM chrome cache, api_tokens_log, config)
and points the TOKENSWEEPER_* variables at it unless they are already set.

Development only: never installed on a server.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CGI = os.path.join(REPO, "plugin", "index.cgi")
SECURITY_TOKEN = "/cpsess0000000001"
CGI_PATH = SECURITY_TOKEN + "/cgi/tokensweeper/index.cgi"
PASSED_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH")
# The demo serves a root page to anyone who can reach the port, behind a fixed public
# session token: it must never drive cPanel's real whmapi1.
REAL_WHMAPI1 = "/usr/local/cpanel/bin/whmapi1"
MAX_BODY = 8 * 1024 * 1024


def cgi_environment(handler, user, api_token_name=None):
    url = urlsplit(handler.path)
    env = {k: v for k, v in os.environ.items()
           if k in PASSED_VARIABLES or k.startswith("TOKENSWEEPER_")}
    env.update({
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "cpsrvd-demo",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(handler.server.server_address[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_USER": user,
        "cp_security_token": SECURITY_TOKEN,
        "SCRIPT_NAME": CGI_PATH,
        "SCRIPT_FILENAME": CGI,
        "REQUEST_URI": handler.path,
        "REQUEST_METHOD": handler.command,
        "QUERY_STRING": url.query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": handler.headers.get("Content-Length", ""),
        "HTTP_HOST": handler.headers.get("Host", ""),
        "HTTP_REFERER": handler.headers.get("Referer", ""),
        "HTTP_COOKIE": handler.headers.get("Cookie", ""),
        "HTTP_USER_AGENT": handler.headers.get("User-Agent", ""),
        "REMOTE_ADDR": handler.client_address[0],
        "HTTPS": "on",
    })
    if api_token_name:
        env["WHM_API_TOKEN_NAME"] = api_token_name
    return {k: v for k, v in env.items() if v != "" or k in ("QUERY_STRING",)}


def split_cgi_output(output):
    """(status, reason, headers, body) from a CGI's stdout, as cpsrvd reads it."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = output.partition(separator)
        if found:
            break
    else:
        return 502, "Bad Gateway", [], b"The CGI printed no header block.\n"
    status, reason, headers = 200, "OK", []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            code, _, reason = value.partition(" ")
            status = int(code)
        else:
            headers.append((name, value))
    if any(n.lower() == "location" for n, _ in headers) and status == 200:
        status, reason = 302, "Found"
    return status, reason or "OK", headers, body


class Handler(BaseHTTPRequestHandler):
    server_version = "cpsrvd-demo"
    user = "root"
    api_token_name = None
    python = None

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def do_HEAD(self):
        self.serve()

    def serve(self):
        path = urlsplit(self.path).path
        if path in ("/", "") and self.command != "POST":
            return self.reply(302, "Found", [("Location", CGI_PATH)], b"")
        if path != CGI_PATH:
            return self.reply(403, "Forbidden", [("Content-Type", "text/plain")],
                              b"Access denied: this URL lacks the session's security token.\n")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.reply(413, "Payload Too Large", [("Content-Type", "text/plain")],
                              b"Request body too large.\n")
        body = self.rfile.read(length) if length else b""
        argv = [self.python, CGI] if self.python else [CGI]
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=cgi_environment(self, self.user, self.api_token_name),
                                 cwd=os.path.dirname(CGI))
        child.stdin.write(body)
        child.stdin.close()
        try:
            self.relay(child.stdout)
        finally:
            child.stdout.close()
            if child.wait() != 0:
                self.log_message("CGI exited with %d", child.returncode)

    def relay(self, stdout):
        """As cpsrvd does: read the CGI's header block first, then stream its body as it
        comes, holding the first read back until the second (Cpanel/Server/Responder.pm),
        so a page that writes its top early (web/progress.py) is seen early."""
        output = b""
        while not any(sep in output for sep in (b"\r\n\r\n", b"\n\n")):
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            output += chunk
        status, reason, headers, payload = split_cgi_output(output)
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.send_header("Connection", "close")  # HTTP/1.0: the body ends when it closes
        self.end_headers()
        if self.command == "HEAD":
            return
        held = payload or os.read(stdout.fileno(), 65536)  # the first body read, held back
        while True:
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            self.wfile.write(held + chunk)
            self.wfile.flush()
            held = b""
        self.wfile.write(held)

    def reply(self, status, reason, headers, body):
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- the seeded fake server ------------------------------------------------------------

DEMO_CONFIG = """\
# Token Sweeper demo configuration (tools/demo_server.py --setup)
mode: preview
policy:
  expired: true
  older_than_days: 730
  unused_for_days: 180
protect:
  builtin: true
  names: [monitoring]
kinds: [whm, cpanel]
"""

def setup_demo(directory, now=None):
    """Seed a realistic fake server under `directory` and point the environment at it."""
    sys.path.insert(0, REPO)
    from tests.fakes.fakeserver import FakeServer
    from tests.fakes.seed import seed_realistic

    now = int(time.time()) if now is None else now
    directory = os.path.abspath(directory)
    fake_dir = os.path.join(directory, "fake")
    state_file = os.path.join(fake_dir, "whmapi1-state.json")
    if os.path.exists(state_file):
        os.remove(state_file)
    server = seed_realistic(FakeServer(fake_dir, now=now), now)
    for key, value in server.env.items():
        # An explicit TOKENSWEEPER_WHMAPI1 points the demo at another whmapi1.
        if key == "TOKENSWEEPER_WHMAPI1":
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
    os.environ["PATH"] = server.child_path()
    defaults = {
        "TOKENSWEEPER_STATE_DIR": os.path.join(directory, "state"),
        "TOKENSWEEPER_CONFIG": os.path.join(directory, "config.yaml"),
        "TOKENSWEEPER_CPANEL_ROOT": os.path.join(directory, "cpanel-root"),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    root = os.environ["TOKENSWEEPER_CPANEL_ROOT"]
    if os.environ["TOKENSWEEPER_CONFIG"] == defaults["TOKENSWEEPER_CONFIG"]:
        write(defaults["TOKENSWEEPER_CONFIG"], DEMO_CONFIG)
    if root == defaults["TOKENSWEEPER_CPANEL_ROOT"]:
        server.write_resellers_file(root)  # the seed's real ACL lists, kept up to date
        write_chrome(root)
        write_connected_apps(root)
        write_usage_log(root, server, now)
        server.write_token_files(root)
    return server


def demo_env(directory):
    """Shell lines giving a shell the environment the demo's index.cgi runs with."""
    import shlex

    sys.path.insert(0, REPO)
    from tests.fakes.fakeserver import FakeServer

    directory = os.path.abspath(directory)
    server = FakeServer(os.path.join(directory, "fake"))
    values = dict(server.env, TOKENSWEEPER_STATE_DIR=os.path.join(directory, "state"),
                  TOKENSWEEPER_CONFIG=os.path.join(directory, "config.yaml"),
                  TOKENSWEEPER_CPANEL_ROOT=os.path.join(directory, "cpanel-root"),
                  PATH=server.child_path())
    return "\n".join("export {}={}".format(k, shlex.quote(v)) for k, v in sorted(values.items()))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_connected_apps(root):
    """Root's Connected Applications file, as cPanel keeps it: a linked app uses a token."""
    write(os.path.join(root, "root", "conn-apps.json"),
          '{"grafana-cloud": {"token_name": "grafana-readonly", "public_key": "/root/gc.pub"}}')


def write_usage_log(root, server, now):
    """An api_tokens_log covering the last 120 days, in the shapes real servers write."""
    from tests.fakes.seed import usage_log_text
    write(os.path.join(root, "usr", "local", "cpanel", "logs", "api_tokens_log"),
          usage_log_text(server, now))


CHROME_HEADER = """<!DOCTYPE html>
<html lang="en" class="whm-demo">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0, user-scalable=1">
<title>WHM - Results of Your Request</title>
<style nonce="00000000000">
body { margin: 0; font-family: "Open Sans", "Helvetica Neue", Helvetica, Arial, sans-serif;
  font-size: 14px; color: #333; background: #fff; }
#whm-top { height: 50px; display: flex; align-items: center; justify-content: space-between;
  padding: 0 20px; background: #293a4a; color: #fff; }
#whm-top .logo { font-size: 20px; font-weight: 600; display: flex; gap: 8px; align-items: center; }
#whm-top .logo span { display: inline-block; width: 30px; height: 30px; border-radius: 50%;
  background: #ff6c2c; text-align: center; line-height: 30px; font-size: 14px; font-weight: 700; }
#whm-top .user { font-size: 13px; color: #c9d3dc; }
#whm-wrap { display: flex; min-height: calc(100vh - 50px); }
#whm-nav { width: 210px; background: #f3f4f5; border-right: 1px solid #dcdfe3; padding: 12px 0;
  font-size: 13px; flex: none; }
#whm-nav h2 { font-size: 11px; text-transform: uppercase; letter-spacing: .8px; color: #6b7a88;
  margin: 14px 16px 6px; }
#whm-nav a { display: block; padding: 6px 16px; color: #293a4a; text-decoration: none; }
#whm-nav a.current { background: #dfeef8; border-left: 3px solid #179bd7; padding-left: 13px;
  font-weight: 600; }
#whm-content { flex: 1; min-width: 0; }
#whm-crumbs { background: #f5f5f5; border-bottom: 1px solid #e3e3e3; padding: 8px 20px;
  font-size: 13px; color: #6b7a88; }
#whm-crumbs a { color: #0d6aad; }
#whm-page { padding: 10px 20px 30px; }
#whm-menu-toggle, #whm-menu-button { display: none; }
/* Like WHM's: below 768 px the sidebar collapses behind a menu button (no JavaScript). */
@media (max-width: 767px) {
  #whm-top { padding: 0 10px; }
  #whm-menu-toggle { display: block; position: absolute; width: 1px; height: 1px; opacity: 0; }
  #whm-menu-button { display: inline-block; padding: 4px 10px; border: 1px solid #c9d3dc;
    border-radius: 4px; cursor: pointer; font-size: 13px; }
  #whm-menu-toggle:focus-visible + #whm-top #whm-menu-button { outline: 3px solid #f0a22b; }
  #whm-wrap { display: block; }
  #whm-nav { display: none; width: auto; border-right: 0; border-bottom: 1px solid #dcdfe3; }
  #whm-menu-toggle:checked ~ #whm-wrap #whm-nav { display: block; }
  #whm-crumbs { padding: 8px 10px; }
  #whm-page { padding: 10px 10px 30px; }
}
</style>
</head>
<body>
<input type="checkbox" id="whm-menu-toggle" aria-controls="whm-nav">
<div id="whm-top"><div class="logo"><span>cP</span>WHM</div>
<label id="whm-menu-button" for="whm-menu-toggle">Menu</label>
<div class="user">cpuser00000000000</div></div>
<div id="whm-wrap">
<nav id="whm-nav" aria-label="WHM">
<h2>Server</h2>
<a href="/cpsess0000000000/scripts/command?PFILE=main">Home</a>
<a href="/cpsess0000000000/scripts7/apitokens">Manage API Tokens</a>
<h2>Plugins</h2>
<a class="current" href="/cpsess0000000000/cgi/tokensweeper/index.cgi">API Token Sweeper</a>
</nav>
<div id="whm-content">
<div id="whm-crumbs"><a href="/cpsess0000000000/scripts/command?PFILE=main">Home</a>
&raquo; Plugins &raquo; Results of Your Request</div>
<div id="whm-page">
"""

CHROME_FOOTER = """</div></div></div>
<script nonce="00000000000">/* WHM footer scripts would run here */</script>
</body>
</html>
"""


def write_chrome(root):
    """A WHM chrome cache with cPanel's placeholders, as cpanel-facts.md §2 describes."""
    caches = os.path.join(root, "var", "cpanel", "caches")
    headers = os.path.join(caches, "_generated_header_files")
    write(os.path.join(headers, "cache_keys.json"), '{"root": "demo0root", "hostpro": "demo1hp"}')
    for key in ("demo0root", "demo1hp"):
        for variant in ("0_0", "0_1", "1_0", "1_1"):
            write(os.path.join(headers, "{}_{}.html".format(key, variant)), CHROME_HEADER)
    write(os.path.join(caches, "_generated_footer_files", "footer.html"), CHROME_FOOTER)


def real_whmapi1_refusal():
    """Why the demo must not start, or None: the whmapi1 the page would run (the
    TOKENSWEEPER_WHMAPI1 named, else the plugin's default) is cPanel's real one."""
    chosen = os.environ.get("TOKENSWEEPER_WHMAPI1") or REAL_WHMAPI1
    same = os.path.normpath(chosen) == REAL_WHMAPI1
    if not same and os.path.exists(REAL_WHMAPI1):
        same = os.path.realpath(chosen) == os.path.realpath(REAL_WHMAPI1)
        try:
            same = same or os.path.samefile(chosen, REAL_WHMAPI1)  # a hard link or bind mount
        except OSError:
            pass  # the named program does not exist: it is not cPanel's either
    if not same:
        return None
    return ("refusing to start: the demo would run cPanel's real {} (TOKENSWEEPER_WHMAPI1={}) "
            "as a root page open to every local user. Use --setup DIR for a fake server, or "
            "name another whmapi1 in TOKENSWEEPER_WHMAPI1.".format(
                REAL_WHMAPI1, os.environ.get("TOKENSWEEPER_WHMAPI1") or "(not set)"))


# What bin/tokensweeper needs to act on the demo's fake server from another shell.
CLI_VARIABLES = ("TOKENSWEEPER_WHMAPI1", "TOKENSWEEPER_FAKE_STATE", "TOKENSWEEPER_FAKE_LOG",
                 "TOKENSWEEPER_CONFIG", "TOKENSWEEPER_STATE_DIR", "TOKENSWEEPER_CPANEL_ROOT",
                 "TOKENSWEEPER_NOW")


def cli_exports(environ=None):
    """Shell lines that point `bin/tokensweeper` at the same fake server as the page."""
    environ = os.environ if environ is None else environ
    lines = ["export {}={}".format(key, shlex.quote(environ[key]))
             for key in CLI_VARIABLES if environ.get(key)]
    return lines + ["# then, in this checkout: bin/tokensweeper list"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8087))
    parser.add_argument("--user", default="root", help="REMOTE_USER (default root)")
    parser.add_argument("--api-token-name", help="set WHM_API_TOKEN_NAME, as for a token request")
    parser.add_argument("--python",
                        help="run index.cgi with this interpreter (default: its shebang)")
    parser.add_argument("--setup", metavar="DIR", help="seed a fake server in DIR first")
    parser.add_argument("--env", metavar="DIR",
                        help="print the `export` lines that point bin/tokensweeper at the demo "
                        "seeded in DIR (make demo: .demo), and exit")
    args = parser.parse_args(argv)
    if args.env:
        print(demo_env(args.env))
        return 0
    if args.setup:
        setup_demo(args.setup)
    refusal = real_whmapi1_refusal()
    if refusal:
        print("demo_server: " + refusal, file=sys.stderr)
        return 2
    Handler.user = args.user
    Handler.api_token_name = args.api_token_name
    Handler.python = args.python
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("Token Sweeper demo: http://127.0.0.1:{}{}".format(httpd.server_address[1], CGI_PATH),
          flush=True)
    print("The command line, against the same server:", flush=True)
    for line in cli_exports():
        print("  " + line, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
