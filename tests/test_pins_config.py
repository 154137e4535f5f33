"""Pins on config.py found by mutation testing (`make mutate`): the cap that
unattended runs rely on, the words of each problem, and the policy objects a
config turns into."""

import pytest

from tokensweeper import config
from tokensweeper.config import ConfigError


def problems_of(text):
    with pytest.raises(ConfigError) as raised:
        config.parse(text, "cfg.yaml")
    return raised.value.problems


@pytest.mark.parametrize("key", ["max_revoke_per_run", "parallel_owners"])
def test_a_null_cap_or_parallelism_is_refused_not_read_as_no_limit(key):
    # Without a cap, an unattended run could revoke every token on the server.
    assert problems_of("%s: null\n" % key) == [
        "%s: expected a whole number of %s, got None"
        % (key, "tokens" if key == "max_revoke_per_run" else "owners")
    ]


def test_a_cap_of_zero_is_allowed_and_kept():
    assert config.parse("max_revoke_per_run: 0\n")["max_revoke_per_run"] == 0


def test_null_age_limits_mean_no_limit():
    values = config.parse("policy:\n  older_than_days: null\n  unused_for_days: null\n")
    assert values["policy"]["older_than_days"] is None
    assert values["policy"]["unused_for_days"] is None


def test_null_name_lists_mean_none():
    values = config.parse("policy:\n  names: null\nprotect:\n  names: null\n")
    assert values["policy"]["names"] == [] and values["protect"]["names"] == []


@pytest.mark.parametrize("value", [1, 32])
def test_parallel_owners_bounds_are_inclusive(value):
    assert config.parse("parallel_owners: %d\n" % value)["parallel_owners"] == value


def test_the_default_cap_is_50():
    assert config.DEFAULTS["max_revoke_per_run"] == 50
    assert config.parse("")["max_revoke_per_run"] == 50


# -- the words -----------------------------------------------------------------------


def test_one_problem_is_one_line_naming_the_file():
    with pytest.raises(ConfigError) as raised:
        config.parse("mode: sometimes\n", "cfg.yaml")
    assert str(raised.value) == (
        "cfg.yaml: mode: expected one of preview, enforce, got 'sometimes'"
    )
    assert raised.value.source == "cfg.yaml"


def test_several_problems_are_counted_and_listed_one_per_line():
    with pytest.raises(ConfigError) as raised:
        config.parse("mode: sometimes\nschedule: weekly\n", "cfg.yaml")
    assert str(raised.value) == (
        "cfg.yaml has 2 problems:\n"
        "  mode: expected one of preview, enforce, got 'sometimes'\n"
        "  schedule: expected one of daily, hourly, off, got 'weekly'"
    )


def test_an_unknown_key_lists_the_known_ones_in_order():
    assert problems_of("protect:\n  nmes: []\n") == [
        "protect.nmes: unknown key (known: builtin, names)"
    ]


def test_a_section_that_is_not_a_mapping_is_one_problem_and_the_rest_is_checked():
    assert problems_of("events: sweep\nmode: x\n") == [
        "events: expected a mapping, got 'sweep'",
        "mode: expected one of preview, enforce, got 'x'",
    ]


def test_a_bad_glob_is_explained():
    assert problems_of("policy:\n  names: ['a b']\n") == [
        "policy.names: 'a b' is not a token name pattern (letters, digits, _ - and the "
        "wildcards * ? [...])"
    ]


def test_a_number_out_of_range_names_its_bounds():
    assert problems_of("parallel_owners: 40\n") == [
        "parallel_owners: expected a whole number of owners from 1 to 32, got 40"
    ]


def test_a_file_that_is_a_list_says_what_it_is():
    assert problems_of("- 1\n") == ["the file must be a mapping of keys, got list"]


def test_invalid_yaml_gives_the_line_and_the_problem():
    (problem,) = problems_of("mode: preview\nschedule: [daily\n")
    assert problem.startswith("not valid YAML (line 3): ")


def test_owners_may_name_root_and_dotted_users():
    assert config.parse("owners: [root, a.b-c_d]\n")["owners"] == ["root", "a.b-c_d"]


# -- loading and the objects a config becomes ---------------------------------------


def test_a_missing_file_is_the_defaults_and_says_where_it_looked(tmp_path):
    path = str(tmp_path / "none.yaml")
    cfg = config.load(path)
    assert cfg.source == "defaults (no file at %s)" % path
    assert cfg.from_file is False
    assert cfg.values == config.DEFAULTS
    assert cfg.values is not config.DEFAULTS


def test_a_file_is_read_and_remembered_as_the_source(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mode: enforce\nowners: [bob]\n")
    cfg = config.load(str(path))
    assert (cfg.source, cfg.from_file, cfg.mode, cfg.owners) == (
        str(path), True, "enforce", ["bob"])


def test_unreadable_file_message(tmp_path):
    with pytest.raises(ConfigError) as raised:
        config.load(str(tmp_path))
    assert raised.value.problems[0].startswith("cannot read it: ")
    assert raised.value.source == str(tmp_path)


def test_an_unknown_attribute_is_an_attribute_error():
    cfg = config.Config(config.parse(""), "x", True)
    with pytest.raises(AttributeError):
        cfg.no_such_key  # noqa: B018
    assert getattr(cfg, "no_such_key", "fallback") == "fallback"


def test_to_dict_is_a_copy_the_caller_may_change():
    cfg = config.Config(config.parse(""), "x", True)
    copy = cfg.to_dict()
    copy["policy"]["names"].append("x")
    assert cfg.values["policy"]["names"] == []


def test_the_policy_becomes_or_ed_selectors_within_the_owners():
    cfg = config.Config(
        config.parse(
            "owners: [bob]\npolicy:\n  expired: false\n  older_than_days: 9\n"
            "  unused_for_days: 30\n  names: ['ci-*']\n"
        ),
        "x",
        True,
    )
    assert cfg.selectors().to_dict() == {
        "older_than_days": 9,
        "unused_for_days": 30,
        "names": ["ci-*"],
        "owners": ["bob"],
        "combine": "any",
    }
    everyone = config.Config(config.parse(""), "x", True).selectors()
    assert everyone.owners == () and everyone.expired is True


def test_protection_comes_from_protect():
    cfg = config.Config(config.parse("protect:\n  builtin: false\n  names: [keep-*]\n"), "x", True)
    protection = cfg.protection()
    assert (protection.builtin, protection.names) == (False, ("keep-*",))


def test_problems_after_an_unknown_key_are_still_reported():
    assert problems_of("extra: 1\nmode: x\n") == [
        "extra: unknown key (known: events, guard, kinds, max_revoke_per_run, mode, notify, "
        "owners, parallel_owners, policy, protect, schedule)",
        "mode: expected one of preview, enforce, got 'x'",
    ]


def test_changing_a_loaded_config_never_changes_the_defaults(tmp_path):
    parsed = config.parse("policy:\n  expired: true\n")
    parsed["policy"]["names"].append("everything-*")
    cfg = config.load(str(tmp_path / "none.yaml"))
    cfg.values["policy"]["expired"] = False
    cfg.values["events"]["suspend"] = "revoke_all"
    assert config.DEFAULTS["policy"] == {
        "expired": True, "older_than_days": None, "unused_for_days": None, "names": [],
        "quarantine_days": 0}
    assert config.DEFAULTS["events"]["suspend"] == "sweep"


def test_a_bad_file_names_itself_in_the_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mode: x\n")
    with pytest.raises(ConfigError) as raised:
        config.load(str(path))
    assert raised.value.source == str(path)
    assert str(raised.value) == "%s: mode: expected one of preview, enforce, got 'x'" % path


def test_text_parsed_without_a_source_is_called_config():
    with pytest.raises(ConfigError) as raised:
        config.parse("mode: x\n")
    assert str(raised.value).startswith("config: mode: ")


def test_yaml_errors_give_the_parsers_problem_and_line():
    assert problems_of("mode: preview\nschedule: [daily\n") == [
        "not valid YAML (line 3): expected ',' or ']', but got '<stream end>'"]


def test_a_yaml_error_without_a_line_is_reported_whole():
    # The reader rejects control characters before any line is known.
    assert problems_of("mode: \x07\n") == [
        "not valid YAML: unacceptable character #x0007: special characters are not allowed\n"
        '  in "<unicode string>", position 6'
    ]


def test_an_unknown_attribute_names_itself():
    cfg = config.Config(config.parse(""), "x", True)
    with pytest.raises(AttributeError) as caught:
        cfg.no_such_key  # noqa: B018
    assert str(caught.value) == "no_such_key"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("max_revoke_per_run: 1.0\n", "max_revoke_per_run: expected a whole number of tokens, "
                                      "got 1.0"),
        ("max_revoke_per_run: false\n", "max_revoke_per_run: expected a whole number of tokens, "
                                        "got False"),
        ("policy:\n  older_than_days: 0\n", "policy.older_than_days: expected a whole number of "
                                            "days from 1 to 36500, got 0"),
        ("parallel_owners: 33\n", "parallel_owners: expected a whole number of owners from 1 to "
                                  "32, got 33"),
        ("parallel_owners: -1\n", "parallel_owners: expected a whole number of owners from 1 to "
                                  "32, got -1"),
    ],
)
def test_whole_numbers_and_their_bounds_in_words(text, problem):
    assert problems_of(text) == [problem]


@pytest.mark.parametrize("text", ["max_revoke_per_run: 100000\n", "policy:\n  older_than_days: 1\n",
                                  "policy:\n  unused_for_days: 36500\n"])
def test_whole_numbers_within_their_bounds_are_kept(text):
    config.parse(text)


EMPTY_RECIPIENTS = ("notify.recipients: empty, so no notice or expiry reminder could reach "
                    "anyone (name owner, contact or a mail address)")


@pytest.mark.parametrize("notify", ["{notice_days: 1, recipients: []}",
                                    "{expiry_reminders: [1], recipients: []}"])
def test_notices_or_reminders_to_nobody_are_refused(notify):
    assert problems_of("notify: %s" % notify) == [EMPTY_RECIPIENTS]
    assert problems_of("mode: later\nnotify: %s" % notify)[-1] == EMPTY_RECIPIENTS


def test_notify_defaults_and_each_check():
    assert config.DEFAULTS["notify"] == {"notice_days": 0, "recipients": ["owner", "contact"],
                                         "expiry_reminders": []}
    values = config.parse("notify:\n  notice_days: 365\n  recipients: [contact, a@b.example]\n"
                          "  expiry_reminders: null\n")["notify"]
    assert values == {"notice_days": 365, "recipients": ["contact", "a@b.example"],
                      "expiry_reminders": []}
    assert config.parse("notify: {notice_days: 0, recipients: []}")["notify"]["recipients"] == []
    assert config.parse("notify: {expiry_reminders: [1, 365, 1]}")["notify"][
        "expiry_reminders"] == [365, 1]
    assert problems_of("notify: {notice_days: 366}") == [
        "notify.notice_days: expected a whole number of days from 0 to 365, got 366"]
    assert problems_of("notify: {notice_days: true}") == [
        "notify.notice_days: expected a whole number of days, got True"]
    assert problems_of("notify: {recipients: [owner, 'x@y', 'x y@z']}") == [
        "notify.recipients: 'x y@z' is neither owner, contact nor a mail address like "
        "admin@example.com"]
    assert problems_of("notify: {recipients: {a: 1}}") == [
        "notify.recipients: expected a list of owner, contact or mail addresses, got {'a': 1}"]
    assert problems_of("notify: {expiry_reminders: [7, 366]}") == [
        "notify.expiry_reminders: expected a whole number of days from 1 to 365, got 366"]
    assert problems_of("notify: {expiry_reminders: '7'}") == [
        "notify.expiry_reminders: expected a list of whole numbers of days, e.g. [7, 1], "
        "got '7'"]


@pytest.mark.parametrize("address, valid", [
    ("admin@example.com", True),
    ("a.b+c@sub.example.org", True),
    ("x@localhost", True),
    ("root@y", True),
    ("x@y\n", False),
    ("x@y.com\nBcc: z@w.com", False),
    ("x y@z.com", False),
    ("<x@y.com>", False),
    ("x@y.com,z@w.com", False),
    ("ädmin@example.com", False),
    ("@example.com", False),
    ("x@", False),
    ("x@-.com", True),
    ("a" * 65 + "@example.com", False),
    ("a@" + "b" * 64, False),
    ("a@" + ".".join(["b" * 60] * 5), False),
    (None, False),
    ("a@" + ".".join(["b" * 63] * 3) + "." + "c" * 60, True),  # 254 characters: the limit
    ("a@" + ".".join(["b" * 63] * 3) + "." + "c" * 61, False),
])
def test_valid_address_shapes(address, valid):
    assert config.valid_address(address) is valid


# -- kinds (issue 15) ---------------------------------------------------------------


def test_a_config_without_kinds_acts_on_whm_tokens_only():
    # An existing enforce-mode config predates cPanel tokens: an upgrade must not widen it.
    cfg = config.Config(config.parse("mode: enforce\n"), "x", True)
    assert cfg.kinds == ["whm"]
    assert config.load("/nonexistent/config.yaml").kinds == ["whm"]


def test_kinds_opt_in_and_bad_values():
    assert config.parse("kinds: [whm, cpanel]\n")["kinds"] == ["whm", "cpanel"]
    assert config.parse("kinds: [cpanel]\n")["kinds"] == ["cpanel"]
    assert problems_of("kinds: [whm, uapi]\n") == [
        "kinds: 'uapi' is not a token kind (whm, cpanel)"]
    assert problems_of("kinds: []\n") == [
        "kinds: expected a list of token kinds (whm, cpanel), got []"]
    assert problems_of("kinds: cpanel\n") == [
        "kinds: expected a list of token kinds (whm, cpanel), got 'cpanel'"]
    assert problems_of("kinds: [cpanel, cpanel]\n") == [
        "kinds: a kind is listed twice: ['cpanel', 'cpanel']"]


def test_the_shipped_template_documents_kinds_and_keeps_whm_only():
    import os

    template = os.path.join(os.path.dirname(config.__file__), "default-config.yaml")
    with open(template, encoding="utf-8") as handle:
        text = handle.read()
    assert config.parse(text)["kinds"] == ["whm"]
    assert "tokensweeper plan --kind cpanel" in text


def test_a_day_count_is_at_most_a_hundred_years(tmp_path):
    """Issue 25: the command line's range (1 to 36500), the same in the config."""
    path = tmp_path / "config.yaml"
    path.write_text("policy:\n  older_than_days: 36500\n  unused_for_days: 36500\n")
    assert config.load(str(path)).selectors().older_than_days == 36500
    path.write_text("policy:\n  unused_for_days: 36501\n")
    with pytest.raises(ConfigError, match="from 1 to 36500, got 36501"):
        config.load(str(path))
