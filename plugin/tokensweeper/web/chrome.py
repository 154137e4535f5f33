"""WHM's own header and footer, read from the caches cPanel pre-renders.

cPanel writes the chrome of every WHM user into
var/cpanel/caches/_generated_header_files/ (or under the directory the
environment variable whm_chrome_cache_directory names, as WHM.php honours it;
see paths.whm_chrome_cache_dir) (cache_keys.json maps a user to a
key; files are KEY_<skipsupport>_<skipheader>.html) and the footer into
_generated_footer_files/footer.html. The header carries placeholders that
cPanel itself replaces per request; we do the same. When any piece is
missing the page uses its own WHM-like layout instead.
"""

import json
import os

from tokensweeper import paths

PLACEHOLDER_TOKEN = "/cpsess0000000000"
PLACEHOLDER_USER = "cpuser00000000000"
PLACEHOLDER_TITLE = "Results of Your Request"
PLACEHOLDER_NONCE = 'nonce="00000000000"'
# WHM's header holds its top bar and whole navigation: the first Tab of a keyboard user
# offers a way past them (WCAG 2.4.1). Styled (hidden until focused) by the page's CSS.
SKIP_LINK = '<a class="ts-skip" href="#tokensweeper">Skip to API Token Sweeper</a>'


class Chrome(object):
    def __init__(self, header, footer):
        self.header = header
        self.footer = footer


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _header_file(user):
    directory = os.path.join(paths.whm_chrome_cache_dir(), "_generated_header_files")
    keys = json.loads(_read(os.path.join(directory, "cache_keys.json")))
    key = keys.get(user) if isinstance(keys, dict) else None
    if not isinstance(key, str) or not key or "/" in key or key.startswith("."):
        return None
    return os.path.join(directory, "{}_0_0.html".format(key))


def load_chrome(user, security_token, title, html_escape):
    """WHM's header and footer for `user`, or None to use the fallback layout.

    `html_escape` escapes the title, which lands inside the header's HTML.
    """
    try:
        header_path = _header_file(user)
        if header_path is None:
            return None
        header = _read(header_path)
        footer = _read(os.path.join(paths.whm_chrome_cache_dir(), "_generated_footer_files",
                                    "footer.html"))
    except (IOError, OSError, ValueError):
        return None
    # The caller passes only a valid token (/cpsess + 10 digits); escaped all the same.
    security_token = str(html_escape(security_token))
    header = (header.replace(PLACEHOLDER_TOKEN, security_token)
              .replace(PLACEHOLDER_USER, str(html_escape(user)))
              .replace(PLACEHOLDER_TITLE, str(html_escape(title)))
              .replace(" " + PLACEHOLDER_NONCE, "").replace(PLACEHOLDER_NONCE, ""))
    footer = footer.replace(PLACEHOLDER_TOKEN, security_token)
    return Chrome(_with_skip_link(header), footer)


def _with_skip_link(header):
    """The header with SKIP_LINK first in its <body> (last, when it has no <body> tag)."""
    start = header.lower().find("<body")
    end = header.find(">", start) if start != -1 else -1
    if end == -1:
        return header + SKIP_LINK
    return header[:end + 1] + SKIP_LINK + header[end + 1:]
