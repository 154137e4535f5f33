"""config.load/parse: defaults, the shipped file, and errors that name key path and value."""

import os

import pytest

from tokensweeper import config
from tokensweeper.config import DEFAULTS, ConfigError

SHIPPED = os.path.join(os.path.dirname(os.path.abspath(config.__file__)), "default-config.yaml")


def problems_of(text):
    with pytest.raises(ConfigError) as raised:
        config.parse(text, "/etc/tokensweeper/config.yaml")
    assert raised.value.source == "/etc/tokensweeper/config.yaml"
    assert "/etc/tokensweeper/config.yaml" in str(raised.value)
    return raised.value.problems


def test_a_missing_file_means_the_defaults(tmp_path, monkeypatch):
    path = str(tmp_path / "absent.yaml")
    monkeypatch.setenv("TOKENSWEEPER_CONFIG", path)
    cfg = config.load()
    assert cfg.to_dict() == DEFAULTS
    assert not cfg.from_file and path in cfg.source
    assert cfg.mode == "preview" and cfg.max_revoke_per_run == 50


@pytest.mark.parametrize("text", ["", "# only comments\n", "---\n"])
def test_an_empty_file_means_the_defaults(text):
    assert config.parse(text) == DEFAULTS


def test_the_shipped_file_is_valid_and_says_the_defaults():
    with open(SHIPPED) as handle:
        assert config.parse(handle.read(), SHIPPED) == DEFAULTS


def test_a_complete_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "mode: enforce\n"
        "policy: {expired: false, older_than_days: 365, unused_for_days: 90,\n"
        "         names: [ci-*, 'tmp_?']}\n"
        "protect: {builtin: false, names: [monitoring, 'backup-[0-9]*']}\n"
        "owners: [root, reseller1]\n"
        "max_revoke_per_run: 0\n"
        "parallel_owners: 32\n"
        "events: {suspend: revoke_all, password_change: sweep, rename: ignore, remove: ignore}\n"
        "schedule: 'off'\n")
    cfg = config.load(str(path))
    assert cfg.from_file and cfg.source == str(path)
    assert cfg.mode == "enforce" and cfg.max_revoke_per_run == 0 and cfg.schedule == "off"
    selectors = cfg.selectors()
    assert selectors.combine == "any"
    assert selectors.expired is False
    assert (selectors.older_than_days, selectors.unused_for_days) == (365, 90)
    assert selectors.names == ("ci-*", "tmp_?") and selectors.owners == ("root", "reseller1")
    protection = cfg.protection()
    assert protection.builtin is False and protection.names == ("monitoring", "backup-[0-9]*")


@pytest.mark.parametrize("text", ["schedule: off\n", "schedule: 'off'\n", "schedule: Off\n"])
def test_schedule_off_bare_or_quoted(text):
    assert config.parse(text)["schedule"] == "off"


def test_keys_left_out_keep_their_defaults():
    values = config.parse("policy:\n  older_than_days: 30\n")
    assert values["policy"] == {"expired": True, "older_than_days": 30, "unused_for_days": None,
                                "names": [], "quarantine_days": 0}
    assert values["events"] == DEFAULTS["events"]


def test_all_owners_sweeps_everyone():
    assert config.parse("owners: all\n")["owners"] == "all"
    assert config.Config(config.parse(""), "x", False).selectors().owners == ()


@pytest.mark.parametrize("text, problem", [
    ("policy:\n  older_than_days: ninety\n",
     "policy.older_than_days: expected a whole number of days, got 'ninety'"),
    ("policy:\n  older_than_days: -5\n",
     "policy.older_than_days: expected a whole number of days from 1 to 36500, got -5"),
    ("policy:\n  unused_for_days: 0\n",
     "policy.unused_for_days: expected a whole number of days from 1 to 36500, got 0"),
    ("policy:\n  older_than_days: 1.5\n",
     "policy.older_than_days: expected a whole number of days, got 1.5"),
    ("policy:\n  older_than_days: true\n",
     "policy.older_than_days: expected a whole number of days, got True"),
    ("policy:\n  expired: 'yes'\n", "policy.expired: expected true or false, got 'yes'"),
    ("policy:\n  expired: 1\n", "policy.expired: expected true or false, got 1"),
    ("mode: enforcing\n", "mode: expected one of preview, enforce, got 'enforcing'"),
    ("moed: enforce\n", "moed: unknown key"),
    ("policy:\n  expird: true\n", "policy.expird: unknown key"),
    ("events:\n  suspended: sweep\n", "events.suspended: unknown key"),
    ("policy: true\n", "policy: expected a mapping, got True"),
    ("policy:\n  names: ['ci/*']\n", "policy.names: 'ci/*' is not a token name pattern"),
    ("policy:\n  names: ['ci *']\n", "policy.names: 'ci *' is not a token name pattern"),
    ("protect:\n  names: ['[abc']\n", "protect.names: '[abc' is not a token name pattern"),
    ("protect:\n  names: ['']\n", "protect.names: '' is not a token name pattern"),
    ("protect:\n  names: [7]\n", "protect.names: 7 is not a token name pattern"),
    ("protect:\n  names: ci-*\n", "protect.names: expected a list of name patterns, got 'ci-*'"),
    ("protect:\n  builtin: no-thanks\n",
     "protect.builtin: expected true or false, got 'no-thanks'"),
    ("owners: [Bob]\n", "owners: 'Bob' is not a cPanel user name"),
    ("owners: ['../etc']\n", "owners: '../etc' is not a cPanel user name"),
    ("owners: []\n", "owners: expected 'all' or a list of user names, got []"),
    ("owners: everyone\n", "owners: expected 'all' or a list of user names, got 'everyone'"),
    ("max_revoke_per_run: -1\n",
     "max_revoke_per_run: expected a whole number of tokens at least 0, got -1"),
    ("max_revoke_per_run: lots\n",
     "max_revoke_per_run: expected a whole number of tokens, got 'lots'"),
    ("parallel_owners: 0\n",
     "parallel_owners: expected a whole number of owners from 1 to 32, got 0"),
    ("parallel_owners: 33\n",
     "parallel_owners: expected a whole number of owners from 1 to 32, got 33"),
    ("events:\n  remove: sweep\n",
     "events.remove: expected one of snapshot, revoke_all, ignore, got 'sweep'"),
    ("events:\n  suspend: delete\n",
     "events.suspend: expected one of sweep, revoke_all, snapshot, ignore, got 'delete'"),
    ("schedule: weekly\n", "schedule: expected one of daily, hourly, off, got 'weekly'"),
])
def test_each_bad_value_is_named_with_its_key_path(text, problem):
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].startswith(problem), problems[0]


def test_unknown_keys_list_the_known_ones():
    (problem,) = problems_of("policy:\n  expird: true\n")
    assert "expired" in problem and "older_than_days" in problem


def test_every_problem_is_reported_at_once():
    problems = problems_of("mode: sometimes\npolicy:\n  older_than_days: ninety\nextra: 1\n")
    assert len(problems) == 3
    assert [p.split(":")[0] for p in problems] == ["mode", "policy.older_than_days", "extra"]


@pytest.mark.parametrize("text, words", [
    ("- a\n- b\n", "must be a mapping of keys, got list"),
    ("just words\n", "must be a mapping of keys, got str"),
    ("mode: [preview\n", "not valid YAML (line 2)"),
    ("mode: preview\n  policy: x\n", "not valid YAML (line 2)"),
])
def test_a_file_that_is_not_a_config(text, words):
    (problem,) = problems_of(text)
    assert words in problem


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    directory = tmp_path / "config.yaml"
    directory.mkdir()
    with pytest.raises(ConfigError) as raised:
        config.load(str(directory))
    assert str(directory) in str(raised.value) and "cannot read" in str(raised.value)


def test_a_file_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"mode: pr\xe9view\n")
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(str(path))


def test_a_yaml_tag_cannot_run_code(tmp_path):
    (problem,) = problems_of("mode: !!python/object/apply:os.system ['touch %s/x']\n" % tmp_path)
    assert "not valid YAML" in problem
    assert not (tmp_path / "x").exists()


def test_a_policy_that_selects_nothing_is_noticed():
    cfg = config.Config(config.parse("policy: {expired: false}\n"), "x", True)
    assert not cfg.policy_selects_anything()
    assert config.Config(config.parse(""), "x", True).policy_selects_anything()


# -- guard: the creation guard and the new-token watch ------------------------------------


def test_guard_is_off_unless_the_config_says_guard():
    assert config.parse("", "c")["guard"] is None
    assert config.parse("guard:\n", "c")["guard"] is None
    assert config.parse("guard: {}\n", "c")["guard"] == {
        "require_expiry": False, "max_lifetime_days": None, "exempt_names": []}
    assert config.parse("guard:\n  max_lifetime_days: 30\n  exempt_names: [ci-*]\n",
                        "c")["guard"] == {"require_expiry": False, "max_lifetime_days": 30,
                                          "exempt_names": ["ci-*"]}
    assert config.parse("guard:\n  require_expiry: true\n  max_lifetime_days: 3650\n",
                        "c")["guard"]["max_lifetime_days"] == 3650


def test_the_shipped_comments_and_the_guide_say_guard_empty_braces_is_on():
    # They said "empty = off", but `guard: {}` is a guard with no rule: the scheduled run
    # then reports every new full-access WHM token. Only a bare `guard:` (or none) is off.
    guide = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                         "configuration.md")
    for path in (SHIPPED, guide):
        with open(path, encoding="utf-8") as handle:
            text = " ".join(line.lstrip("# ") for line in handle.read().split("\n"))
        assert "empty = off" not in text and "empty or absent = off" not in text, path
        assert "`guard: {}` turns it on" in text, path
    assert config.parse("guard: {}\n", "c")["guard"] is not None


@pytest.mark.parametrize("text, problem", [
    ("guard: 90\n", "guard: expected a mapping (require_expiry, max_lifetime_days, "
                    "exempt_names), got 90"),
    ("guard:\n  max_days: 90\n  zz: 1\n", "guard: unknown key max_days, zz (known: "
                                          "exempt_names, max_lifetime_days, require_expiry)"),
    ("guard:\n  require_expiry: 1\n", "guard: require_expiry: expected true or false, got 1"),
    ("guard:\n  max_lifetime_days: 0\n", "guard: max_lifetime_days: expected a whole number "
                                         "of days from 1 to 3650, got 0"),
    ("guard:\n  max_lifetime_days: 3651\n", "guard: max_lifetime_days: expected a whole "
                                            "number of days from 1 to 3650, got 3651"),
    ("guard:\n  exempt_names: ci-*\n", "guard: exempt_names: expected a list of name "
                                       "patterns, got 'ci-*'"),
    ("guard:\n  require_expiry: false\n  max_lifetime_days: 30\n",
     "guard: require_expiry: false contradicts max_lifetime_days: 30 (a token that never "
     "expires outlives any limit); remove one of them"),
])
def test_guard_problems_name_the_key_and_the_value(text, problem):
    assert problems_of(text) == [problem]


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    # Seven levels of nine would be 4.8 million strings once written out (the config
    # cache's JSON); real bombs go deeper. The parser refuses the first alias.
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 7):
        refs = ",".join(["*a%d" % (level - 1)] * 9)
        lines.append("a%d: &a%d [%s]" % (level, level, refs))
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(str(path))
    assert "aliases (*name) are not allowed" in str(caught.value)
    assert "line 2" in str(caught.value)


def test_an_anchor_without_alias_still_loads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("mode: &m preview\n")
    assert config.load(str(path)).mode == "preview"


@pytest.mark.parametrize("value", ["-1", "366", "seven", "1.5", "true"])
def test_quarantine_days_is_a_whole_number_of_days(value):
    with pytest.raises(config.ConfigError) as error:
        config.parse("policy:\n  quarantine_days: %s\n" % value)
    assert "policy.quarantine_days" in str(error.value)


def test_quarantine_days_is_read():
    assert config.parse("policy:\n  quarantine_days: 14\n")["policy"]["quarantine_days"] == 14
