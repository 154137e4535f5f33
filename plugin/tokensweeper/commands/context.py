"""What the commands that list tokens share (Context), and who runs them (actor)."""

import getpass
import os
import sys

from .. import clock, usage
from ..owners import find_owners, order_owners
from ..sweep import build_plan
from ..tokens import WHM
from ..whmapi import Client
from .output import plural, progress


class Context(object):
    """What every command needs: the validated config, a client, the usage evidence and now."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.client = Client()
        self.now = clock.now()
        self.quiet = False  # the scheduled run: warnings are not worth a cron mail
        self._usage = None
        self._owner_problems = []
        self.result = None  # the sweep's Result, once carry_out executed one

    @property
    def usage(self):
        if self._usage is None:
            self._usage = usage.load_usage()
        return self._usage

    def owners(self, wanted=None, everyone=False):
        """The owners to list: those wanted, else every owner, narrowed to the config's
        `owners` unless everyone (a listing shows every token; sweeps stay in scope)."""
        if wanted:
            return order_owners(wanted)
        progress("finding token owners...")
        owners, self._owner_problems = find_owners(self.client)
        if self.cfg.owners != "all" and not everyone:
            owners = [owner for owner in owners if owner in self.cfg.owners]
        return owners

    def plan(self, selectors, owners=None, everyone=False, kinds=None):
        """The plan over the tokens of `kinds` (default: the config's): of the owners
        wanted (every kind), else of every owner each kind's source finds, narrowed to the
        config's `owners` unless everyone."""
        kinds = tuple(kinds or self.cfg.kinds)
        if not owners and not everyone:
            owners = list(selectors.owners) or None  # list only the owners a sweep may touch
        found, narrow = {}, None
        if owners:
            narrow = order_owners(owners)
        else:
            if WHM in kinds:
                found[WHM] = self.owners(None, everyone)
            if self.cfg.owners != "all" and not everyone:
                narrow = list(self.cfg.owners)  # the other kinds' holders, too
        counted = narrow if narrow is not None else found.get(WHM)
        whose = [plural(len(counted), "owner")] if counted is not None else []
        if any(kind != WHM for kind in kinds) and narrow is None:
            whose.append("the cPanel accounts with tokens")
        progress("listing the tokens of %s..." % " and ".join(whose))
        plan = build_plan(
            self.client,
            selectors,
            self.cfg.protection(),
            self.usage,
            self.now,
            narrow,
            self.cfg.parallel_owners,
            kinds=kinds,
            resellers=selectors.resellers or None,
            found=found,
        )
        plan.problems = self._owner_problems + plan.problems
        self.report(plan)
        return plan

    def report(self, plan):
        """Listing failures always reach stderr; warnings (refused or dormant owners) too,
        except in the scheduled run."""
        evidence = getattr(plan, "evidence_problems", [])
        for problem in [] if self.quiet else plan.problems:
            if problem not in evidence:
                print("warning: %s" % problem, file=sys.stderr)
        for problem in evidence:  # never quiet: it decided what was NOT selected
            print("WARNING: %s" % problem, file=sys.stderr)
        for owner, message in sorted(plan.owner_errors.items()):
            print("error: could not list the tokens of %s: %s" % (owner, message), file=sys.stderr)


def actor():
    try:
        return "cli:%s" % getpass.getuser()
    except Exception:  # no name for this uid: still record who
        return "cli:uid%d" % os.getuid()
