"""`tokensweeper incident-report`: one audited run as an incident record."""

import sys

from ... import audit, clock, incident
from ..context import actor
from ..output import emit_json, plural
from ..status import OK, CliError


def run(args):
    records, damaged = audit.read()
    if damaged:
        print("warning: skipped %s of the audit log that could not be read"
              % plural(damaged, "line"), file=sys.stderr)
    matching = [run for run in audit.runs(records) if run.run_id == args.run]
    if not matching:
        raise CliError("no run %s in the audit log (see `tokensweeper audit`)" % args.run)
    document = incident.report_document(matching[0], clock.now(), actor())
    if document["interrupted"]:
        print("warning: run %s %s" % (args.run, audit.INTERRUPTED_ADVICE), file=sys.stderr)
    if args.json:
        emit_json(document)
    else:
        print(incident.report_text(document))
    return OK
