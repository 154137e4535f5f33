"""The WHM page: CGI request parsing, ACL, CSRF, routes, templates, static files.

index.cgi calls main(); everything else lives in the modules of this package.
"""


def main():
    from .app import main as run
    return run()
