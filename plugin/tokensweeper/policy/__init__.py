"""Which tokens a sweep revokes, and why. Pure: no I/O, no clock.

make_plan(tokens, usage, selectors, protection, now) gives one PlanItem per
token, each with a decision and a reason an administrator can read:
  revoke     selected, and not protected
  protected  selected, but protected (cPanel's own name shapes, connected applications,
             config globs; the reason names the rule)
  keep       not selected (the reason says why)
  gone       asked for by name but no longer listed
  notice     selected and not protected, but an unattended run must first give notice
             (hold_for_notice: notify.notice_days; the reason says when it is due)

The package holds one module per idea: words (decisions, spans, listing states),
protection, selectors, criteria, plan, notices, cap (the per-owner cap) and confirm
(confirmation checks). Its public names are importable from here.
"""

from .cap import (  # noqa: F401
    CapShare,
    share_cap,
)
from .confirm import (  # noqa: F401
    confirmation_changes,
    identity_key,
)
from .criteria import (  # noqa: F401
    CRITERION_TESTS,
    NOT_LOGGED,
    judge,
)
from .notices import (  # noqa: F401
    Notice,
    NoticeState,
    due_day,
    hold_for_notice,
    notice_ended_by_use,
    notice_states,
)
from .plan import (  # noqa: F401
    Plan,
    PlanItem,
    evidence_problem,
    make_plan,
    plan_for_names,
)
from .protection import (  # noqa: F401
    ACCESSHASH_NAME,
    BUILTIN,
    BUILTIN_RULES,
    BUILTIN_RULES_BY_KIND,
    CLUSTER_ACLS,
    CONFIGURED,
    CONNECTED,
    CPANEL_RULES,
    CPMOVE_NAME,
    CPMOVE_STAMP,
    CPMOVE_VALIDITY,
    ISO_STAMP,
    LINKED_NODE_NAME,
    MAIL_NODE_NAME,
    REVERSE_TRUST_NAME,
    TRANSFER_NAME,
    UUID4,
    Protection,
    Rule,
    connected_apps_file,
)
from .selectors import (  # noqa: F401
    Selectors,
)
from .words import (  # noqa: F401
    EXPIRING_SOON_DAYS,
    GONE,
    KEEP,
    NOTICE,
    PROTECTED,
    REVOKE,
    STATE_WORDS,
    ago_phrase,
    day,
    days_phrase,
    state_of,
    until_phrase,
)
