"""Mail through the local MTA: the only code that runs sendmail.

Like cron's own mail, a message goes to `/usr/sbin/sendmail -t -oi` (Exim's on a cPanel
server; TOKENSWEEPER_SENDMAIL names another): the recipients come from the `To` header
(-t), a line holding a single dot does not end the message (-oi), the message is the
standard input, never a shell, and a hung MTA is killed after a timeout.

Headers are built by the `email` package from validated values only: an address must be
plain ASCII (config.valid_address), and every other header value has its control
characters replaced, so a hostile token or owner name that reached a subject could never
start a header of its own.
"""

import os
import re
import socket
import time

from . import paths
from .config import valid_address

TIMEOUT = 60
KILL_GRACE = 2
STDERR_LIMIT = 4096  # enough for the MTA's first line of complaint
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_HOST_CHARS = re.compile(r"[^A-Za-z0-9.-]")


class MailError(Exception):
    """The message was not handed to the MTA (or the MTA refused it)."""


class MailUnavailable(MailError):
    """The MTA cannot be run or did not answer in time: the next message would fare no
    better, so a run stops mailing rather than wait TIMEOUT for each recipient."""


def hostname():
    """The server's name for From and subjects: letters, digits, dots and dashes only."""
    name = _HOST_CHARS.sub("", socket.gethostname() or "")
    return name.strip(".") or "localhost"


def header_text(text):
    """A header value with no line breaks or other control characters left in it."""
    return _CONTROL.sub(" ", text).strip()


def compose(to, subject, body, now, host=None):
    """A plain-text message to one recipient -> email.message.EmailMessage."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    if not valid_address(to):
        raise MailError("%r is not a mail address this tool sends to" % (to,))
    host = host or hostname()
    message = EmailMessage()
    message["From"] = "Token Sweeper <root@%s>" % host
    message["To"] = to
    message["Subject"] = header_text(subject)
    message["Date"] = formatdate(now, usegmt=True)
    message["Message-ID"] = make_msgid("tokensweeper", domain=host)
    # RFC 3834: no vacation replies or bounces-to-bounces for a message nobody typed.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def send(message, timeout=None):
    """Hand one message to the MTA; MailError (naming why) when it was not accepted.

    The MTA's end is its exit, not the end of its output: Exim's background delivery
    forks, leaves the session and keeps the descriptors it inherited while it delivers,
    so a pipe on them would make the run wait for every delivery (or forever). Its
    standard output goes to /dev/null and its error to a temporary file."""
    import subprocess  # only runs that mail need it
    import tempfile

    timeout = TIMEOUT if timeout is None else timeout
    binary = paths.sendmail()
    data = message.as_bytes()
    with tempfile.TemporaryFile() as said:
        try:
            child = subprocess.Popen([binary, "-t", "-oi"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=said,
                                     start_new_session=True)
        except OSError as error:
            raise MailUnavailable("cannot run %s: %s" % (binary, error.strerror or error))
        try:
            child.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            _reap(child)
            raise MailUnavailable("%s did not finish within %d seconds" % (binary, timeout))
        if child.returncode != 0:
            said.seek(0)
            lines = said.read(STDERR_LIMIT).decode("utf-8", "replace").strip().splitlines()
            raise MailError("%s exited with status %d%s" % (
                binary, child.returncode, ": %s" % lines[0] if lines else ""))


def _reap(child):
    import subprocess

    try:
        child.stdin.close()
    except OSError:
        pass  # a broken pipe: the MTA is gone already
    try:
        child.wait(timeout=KILL_GRACE)  # SIGKILLed: at once, unless stuck in the kernel
    except subprocess.TimeoutExpired:
        pass  # never hang with it


def _kill_group(child):
    import signal

    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        child.kill()


def day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))
