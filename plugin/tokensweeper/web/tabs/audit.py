"""The Audit tab: the runs of the audit log, one run's result and its incident report,
and the log's download."""

import json
import re
from urllib.parse import urlencode

from tokensweeper import audit, paths

from .. import runkinds, views
from ..request import HttpError, bad_request
from ..response import HTML, Response
from .common import _choice, _page_number

AUDIT_PAGE_SIZE = 20
SEARCH_LIMIT = 100
# -- audit -----------------------------------------------------------------------------


def watched_tokens(cfg):
    """What the scheduled run's latest new-token watch found (watch.py), when guard: is set."""
    if cfg.values.get("guard") is None:
        return None
    from tokensweeper import watch

    return watch.latest()


def audit_runs():
    records, damaged = audit.read()
    found = audit.runs(records)
    # Newest first; runs of the same second keep the log's order (later line = newer).
    position = {run.run_id: index for index, run in enumerate(found)}
    ordered = sorted(found, key=lambda run: (run.epoch, position[run.run_id]), reverse=True)
    return ordered, damaged


def audit_page(ctx):
    fmt = _choice(ctx.request, "format", ("", "html", "jsonl"), "")
    if fmt == "jsonl":
        return audit_download()
    if ctx.request.arg("run"):
        return run_page(ctx, ctx.request.arg("run"))
    runs, damaged = audit_runs()
    recorded = len(runs)
    search = ctx.request.arg("q")
    if len(search) > SEARCH_LIMIT:
        raise bad_request("The search is longer than %d characters." % SEARCH_LIMIT)
    runs = [run for run in runs if runkinds.matches(run, search)]
    number = _page_number(ctx.request)
    pages = max(1, (len(runs) + AUDIT_PAGE_SIZE - 1) // AUDIT_PAGE_SIZE)
    number = min(number, pages)
    shown = runs[(number - 1) * AUDIT_PAGE_SIZE:number * AUDIT_PAGE_SIZE]
    return ctx.page("audit.html", "Audit log", "audit", runs=shown,
                    total=len(runs), recorded=recorded, search=search,
                    kinds={run.run_id: runkinds.run_kind(run) for run in shown},
                    kind_words=runkinds.KIND_WORDS, damaged=damaged, page_number=number,
                    pages=pages, audit_path=paths.audit_log())


RUN_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\Z")


def incident_report(ctx):
    """One run as an incident record (`tokensweeper incident-report`), text or JSON."""
    from tokensweeper import incident

    run_id = ctx.request.arg("run")
    fmt = _choice(ctx.request, "format", ("text", "json"), "text")
    if not RUN_ID_RE.match(run_id):
        raise bad_request("The run id must look like 20261130T004539Z-d13f26.")
    records, _ = audit.read()
    matching = [run for run in audit.runs(records) if run.run_id == run_id]
    if not matching:
        raise HttpError(404, "No such run", "The audit log has no run {}.".format(run_id))
    document = incident.report_document(matching[0], ctx.now, "whm:" + ctx.user)
    name = "tokensweeper-incident-{}.{}".format(run_id, "json" if fmt == "json" else "txt")
    if fmt == "json":
        body = json.dumps(document, indent=2, sort_keys=True) + "\n"
        ctype = "application/json; charset=utf-8"
    else:
        body = incident.report_text(document) + "\n"
        ctype = "text/plain; charset=utf-8"
    return Response(200, body, ctype, [
        ("Content-Disposition", 'attachment; filename="{}"'.format(name))])


def audit_download():
    records, _ = audit.read()
    body = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    return Response(200, body, "application/x-ndjson; charset=utf-8", [
        ("Content-Disposition", 'attachment; filename="tokensweeper-audit.jsonl"')])


def see_run(run_id):
    """303 See Other to the run's own page: the browser shows it with a GET, so reloading
    it or going back never sends the confirmation again. The Location is relative, as every
    link of the page is, so WHM's /cpsess… prefix (and a proxy's host) stay as they are."""
    location = "index.cgi?" + urlencode([("page", "audit"), ("run", run_id)])
    from html import escape  # only on this path

    body = ('<!DOCTYPE html><title>Result</title><p><a href="{}">See the result of run '
            '{}</a></p>\n'.format(escape(location), escape(run_id)))
    return Response(303, body, HTML, [("Location", location)])


def run_page(ctx, run_id):
    runs, _ = audit_runs()
    found = next((run for run in runs if run.run_id == run_id), None)
    if found is None:
        raise HttpError(404, "No such run",
                        "The audit log has no run “{}”. It may have been rotated away; "
                        "the audit log lists the runs it has.".format(run_id[:80]))
    report = None
    if runkinds.run_kind(found) == "incident":  # its report, readable here (issue 30.10)
        from tokensweeper import incident

        report = incident.report_text(incident.report_document(found, ctx.now,
                                                               "whm:" + ctx.user))
    return ctx.page("result.html", "Result", "audit", run=views.RunView.from_audit(found),
                    kind=runkinds.KIND_WORDS[runkinds.run_kind(found)],
                    retry=runkinds.failed_keys(found), report=report)
