"""The Incident tab: a selection by when and from where tokens were used."""

from tokensweeper.sweep import build_plan
from tokensweeper.tokens import KINDS
from tokensweeper.usage import load_usage
from tokensweeper.whmapi import WhmapiError

from ..request import HttpError
from ..views import KIND_LABELS
from .common import TYPED_CONFIRMATION_ABOVE, client, load_config, new_confirmation_id


def incident_page(ctx, form=None, plan=None, usage=None, status=200, message="",
                  changes=()):
    """The Incident panel: the form, and with a selection its preview and evidence."""
    from .. import incident as panel

    if form is None:
        form = panel.form_from(ctx.request, ctx.now)
        if form.errors:
            status = 400
        elif form.selectors is not None:
            usage = load_usage()
            plan = incident_plan(form.selectors, ctx.now, usage, form.kinds)
    rows = panel.evidence_rows(plan, usage, form.selectors) if plan is not None else []
    return ctx.page(
        "incident.html", "Incident", "incident", status=status, form=form, plan=plan,
        rows=rows, flags=panel.FLAGS, usage=usage, message=message, changes=changes,
        counts=panel.counts(plan) if plan is not None else None,
        typed=plan is not None and len(plan.to_revoke()) > TYPED_CONFIRMATION_ABOVE,
        moment_help=panel.incident.MOMENT_HELP, confirmation=new_confirmation_id(),
        kind_labels=KIND_LABELS, kinds=[(key, KIND_LABELS[key]) for key in KINDS])


def incident_plan(selectors, now, usage, kinds=None):
    """Every owner's tokens, listed afresh, against the incident selectors; kinds: the
    form's one kind, else the config's."""
    cfg = load_config()
    try:
        return build_plan(client(), selectors, cfg.protection(), usage, now,
                          parallel=cfg.parallel_owners, kinds=kinds or cfg.kinds)
    except WhmapiError as error:
        raise HttpError(503, "Cannot list tokens", str(error))
