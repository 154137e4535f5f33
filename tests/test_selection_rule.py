"""Issue 11.1: owners and names only ever NARROW a selection.

A property test over generated configs and command lines, through the same code
every front end uses to turn them into Selectors (config.Config.selectors, the
command line's selectors_from, the hook's narrowed()): a plan never revokes a
token that no criterion selected, and without a criterion it revokes nothing.
"""

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import DAY, NOW
from tokensweeper import config
from tokensweeper.commands import arguments
from tokensweeper.policy import CRITERION_TESTS, Protection, make_plan
from tokensweeper.tokens import Token
from tokensweeper.usage import TokenUsage, UsageFacts

OWNERS = ["root", "res1", "res2"]
NAMES = ["ci-a", "ci-b", "deploy", "x1", "backup_old"]
GLOBS = ["*", "ci-*", "x?", "deploy", "nomatch-*", "[bd]*"]

TOKEN = st.builds(
    lambda owner, name, age, expires_in, full: Token(
        owner, name, NOW - age * DAY, None if expires_in is None else NOW + expires_in * DAY,
        {"all": True} if full else {"list-accts": True}, ()),
    st.sampled_from(OWNERS), st.sampled_from(NAMES), st.integers(0, 1500),
    st.one_of(st.none(), st.integers(-400, 400)), st.booleans())
TOKENS = st.lists(TOKEN, max_size=15, unique_by=lambda t: t.key())

POLICY = st.fixed_dictionaries({
    "expired": st.booleans(),
    "older_than_days": st.one_of(st.none(), st.integers(1, 1000)),
    "unused_for_days": st.one_of(st.none(), st.integers(1, 400)),
    "names": st.lists(st.sampled_from(GLOBS), max_size=2, unique=True),
})
CONFIG = st.fixed_dictionaries({
    "mode": st.sampled_from(["preview", "enforce"]),
    "policy": POLICY,
    "owners": st.one_of(st.just("all"), st.lists(st.sampled_from(OWNERS), min_size=1,
                                                 max_size=2, unique=True)),
})
CRITERION_FLAGS = st.lists(st.sampled_from([
    ["--expired"], ["--expiring-within", "30"], ["--older-than", "365"], ["--unused-for", "90"],
    ["--no-expiry"], ["--full-access"], ["--no-ip-limit"]]), max_size=2, unique_by=tuple)
NARROWING_FLAGS = st.lists(st.one_of(
    st.sampled_from(GLOBS).map(lambda g: ["--name", g]),
    st.sampled_from(OWNERS).map(lambda o: ["--owner", o])), max_size=3)


def usage_for(tokens, used_days_ago):
    """Evidence over 500 days in which some tokens were used."""
    uses = {t.key(): TokenUsage(NOW - days * DAY, "10.0.0.1", 1)
            for t, days in zip(tokens, used_days_ago) if days is not None}
    return UsageFacts(tokens=uses, oldest=NOW - 500 * DAY, newest=NOW)


def assert_only_criteria_revoke(plan, selectors, usage):
    criteria = selectors.active_criteria()
    revoked = plan.to_revoke()
    if not criteria:
        assert revoked == [], "without a criterion nothing may be selected"
    for token in revoked:
        hits = [CRITERION_TESTS[name](token, selectors, usage, NOW)[0] for name in criteria]
        assert any(hits), "%s/%s revoked but no criterion selected it" % token.key()
        if selectors.combine == "all":
            assert all(hits)
        assert not selectors.owners or token.owner in selectors.owners


@given(TOKENS, CONFIG, NARROWING_FLAGS, CRITERION_FLAGS,
       st.lists(st.one_of(st.none(), st.integers(0, 400)), max_size=15))
def test_no_token_is_revoked_that_no_criterion_selected(tokens, raw_config, narrowing,
                                                         criteria, used_days_ago):
    cfg = config.Config(config.parse(yaml.safe_dump(raw_config)), "generated", True)
    usage = usage_for(tokens, used_days_ago)
    argv = ["sweep"] + [arg for flag in narrowing + criteria for arg in flag]
    front_ends = {
        "sweep --scheduled, the page": cfg.selectors(),
        "plan/sweep with this command line": arguments.selectors_from(
            arguments.build_parser().parse_args(argv), cfg),
        "the hook's events.*: sweep": cfg.selectors().narrowed(owners=("res2",)),
    }
    for where, selectors in front_ends.items():
        plan = make_plan(tokens, usage, selectors, Protection(), NOW)
        try:
            assert_only_criteria_revoke(plan, selectors, usage)
        except AssertionError as error:
            raise AssertionError("%s: %s (selectors %s)" % (where, error, selectors.to_dict()))


@given(TOKENS, st.lists(st.sampled_from(GLOBS), max_size=3),
       st.lists(st.sampled_from(OWNERS), max_size=3))
def test_a_policy_without_criteria_selects_nothing_whatever_it_narrows_to(tokens, names, owners):
    raw = {"policy": {"expired": False, "names": names}}
    if owners:
        raw["owners"] = sorted(set(owners))
    cfg = config.Config(config.parse(yaml.safe_dump(raw)), "generated", True)
    assert not cfg.policy_selects_anything()
    for selectors in (cfg.selectors(), cfg.selectors().narrowed(owners=owners, names=names)):
        assert make_plan(tokens, None, selectors, Protection(), NOW).to_revoke() == []
