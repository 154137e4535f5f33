"""The page's routes. GET shows, POST (with a valid nonce) previews or revokes.

Every route uses the engine exactly as the command line does: owners and
whmapi list, policy plans, sweep.execute revokes and audits. Nothing here
decides what is stale or talks to whmapi1 itself.

Each tab is one module of web/tabs/ (overview, sweep, incident, settings, audit, and
revoke for the POST actions; common holds what they share); this module is the
dispatch table from the query to them.
"""

from . import render, security
from .request import HttpError, bad_request
from .tabs.audit import audit_page, incident_report
from .tabs.common import Context, client  # noqa: F401 (app.py asks routes.client())
from .tabs.export import export_csv
from .tabs.incident import incident_page
from .tabs.overview import overview
from .tabs.quarantine import backtest_page, restore
from .tabs.revoke import preview_selection, revoke
from .tabs.settings import settings
from .tabs.sweep import sweep_preview

# -- dispatch -------------------------------------------------------------------------------

GET_PAGES = {
    "overview": overview,
    "sweep": sweep_preview,
    "audit": audit_page,
    "settings": settings,
    "incident": incident_page,
    "report": incident_report,
    "export": export_csv,
    "backtest": backtest_page,
}

POST_ACTIONS = {
    "preview": preview_selection,
    "revoke": revoke,
    "restore": restore,
}


def route(request, now):
    name = request.arg("asset")
    if name:
        found = render.asset(name)
        if found is None:
            raise HttpError(404, "Not found", "This page has no file of that name.")
        return found
    ctx = Context(request, now)
    if request.method == "POST":
        action = request.field("action")
        handler = POST_ACTIONS.get(action)
        if handler is None:
            raise bad_request("This form asks for an unknown action.")
        if not security.check_nonce(ctx.user, request.security_token, request.field("nonce")):
            raise HttpError(403, "Form expired or forged",
                            "The form's security nonce does not match your WHM session, so "
                            "nothing was done. Reload the page and try again.")
        return handler(ctx)
    page = request.arg("page", "overview")
    if page in POST_ACTIONS or request.arg("action"):
        raise HttpError(405, "Use the form",
                        "Previews of a selection and revocations happen only through the "
                        "page's forms (POST). A link never changes anything.")
    handler = GET_PAGES.get(page)
    if handler is None:
        raise HttpError(404, "Not found", "This page does not exist.")
    return handler(ctx)
