"""`tokensweeper check-config`: check the config file and show the effective settings."""

import sys

from ... import config
from ..output import emit_json
from ..status import OK, USAGE


def run(args):
    try:
        cfg = config.load()
    except config.ConfigError as error:
        if args.json:
            emit_json({"ok": False, "source": error.source, "problems": error.problems})
        else:
            print("%s" % error, file=sys.stderr)
        return USAGE
    warnings = (
        []
        if cfg.policy_selects_anything()
        else [
            "the policy selects nothing: enable policy.expired, older_than_days or unused_for_days"
        ]
    )
    if args.json:
        emit_json({"ok": True, "source": cfg.source, "config": cfg.to_dict(), "warnings": warnings})
        return OK
    print("OK: %s" % cfg.source)
    print(
        "mode: %s (%s)"
        % (
            cfg.mode,
            "revokes on schedule and hooks"
            if cfg.mode == "enforce"
            else "scheduled runs and hooks only record what they would do",
        )
    )
    print("policy: %s" % cfg.selectors().describe())
    print(
        "protected: %s" % ("built-in names" if cfg.protect["builtin"] else "no built-in names")
        + ("" if not cfg.protect["names"] else ", " + ", ".join(cfg.protect["names"]))
    )
    print(
        "cap per unattended run: %d tokens; schedule: %s" % (cfg.max_revoke_per_run, cfg.schedule)
    )
    print("notices: %s" % notice_words(cfg.notify))
    for warning in warnings:
        print("warning: %s" % warning)
    return OK


def notice_words(settings):
    days, reminders = settings["notice_days"], settings["expiry_reminders"]
    said = ("unattended runs mail a notice and revoke %d day%s later; to %s"
            % (days, "" if days == 1 else "s", ", ".join(settings["recipients"]) or "nobody")
            if days else "off (unattended runs revoke at once)")
    if reminders:
        said += "; expiry reminders %s days before" % ", ".join(str(d) for d in reminders)
    return said
