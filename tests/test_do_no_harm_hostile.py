"""Issue 25, a third break-it pass: what a damaged token file, a hostile reseller or an
unlucky admin hands the sweeper. Bad input is refused whole and names itself; it never
crashes a run nor steers what is revoked.

Each test here failed on the code before it. Runs on every Python of the matrix.
"""

import pytest

from tests.helpers import DAY, NOW, Cli, new_server


@pytest.fixture
def server(tmp_path):
    return new_server(tmp_path / "fake", resellers=["bob", "amy"])


@pytest.fixture
def cli(server, tmp_path):
    run = Cli(server, tmp_path / "run")
    run.config("mode: enforce\n")
    return run


# -- 1. a listing's create_time that is no time ----------------------------------------


@pytest.mark.parametrize("create_time", ["\u00b2", "\u0661\u0662\u0663", "9" * 5000,
                                         10 ** 20, -10 ** 20, 253402300800],
                         ids=["superscript-two", "arabic-indic-digits", "5000-digits", "huge",
                              "huge-negative", "year-10000"])
def test_a_create_time_no_clock_can_show_is_that_owners_error_never_a_crash(server, cli,
                                                                            create_time):
    """A damaged token file's create_time (not ASCII digits, or past any clock) is bob's
    listing error, named; amy's tokens still list and sweep, nothing of bob's goes."""
    server.add_token("bob", "good", NOW - 400 * DAY)
    server.add_token("amy", "old", NOW - 400 * DAY)
    tokens = server.tokens("bob")
    tokens["weird"] = dict(tokens["good"], name="weird", create_time=create_time)
    server.replace_tokens("bob", tokens)
    said = "could not list the tokens of bob: token 'weird' of bob: create_time is not a Unix time"
    for argv in (["list"], ["plan", "--older-than", "30"]):
        run = cli(*argv)
        assert "Traceback" not in run.err and said in run.err, run
        assert run.status == 3 and "amy" in run.out
    run = cli("sweep", "--older-than", "30", "--yes")
    assert run.status == 3 and said in run.err, run
    assert server.token_names("amy") == set()
    assert server.token_names("bob") == {"good", "weird"}


# -- 2. a glob whose range runs backwards --------------------------------------------------


@pytest.mark.parametrize("glob", ["keep-[z-a]", "[9-0]*", "x[!b-a]", "[a-_]"])
def test_a_backwards_range_in_a_glob_is_refused_by_the_config_check_on_every_python(
        server, cli, glob):
    """Python before 3.10 cannot compile `[z-a]` (fnmatch hands it to re as is): a config
    check that let it pass left every later list, plan, sweep and hook a traceback on
    cPanel's own Python 3.6. It is refused whole, naming the pattern, on every Python."""
    server.add_token("bob", "good", NOW - 400 * DAY)
    said = "%r is not a token name pattern" % glob
    for key in ("protect:\n  names", "policy:\n  older_than_days: 30\n  names",
                "guard:\n  require_expiry: true\n  exempt_names"):
        cli.config("mode: enforce\n%s: ['%s']\n" % (key, glob))
        for argv in (["check-config"], ["list"]):
            run = cli(*argv)
            assert run.status == 2 and "Traceback" not in run.err and said in run.err, run
    cli.config("mode: enforce\n")
    run = cli("plan", "--older-than", "30", "--name", glob)
    assert run.status == 2 and "Traceback" not in run.err and "not a token name pattern" in \
        run.err, run
    assert cli("plan", "--older-than", "30", "--name", "[a-z]*").status == 0


# -- 3. COLUMNS that int() cannot read ------------------------------------------------


@pytest.mark.parametrize("columns", ["\u00b2", "9" * 5000, "-80", "eighty"])
def test_a_columns_value_that_is_no_width_leaves_the_table_whole(server, cli, columns):
    """COLUMNS is the terminal's business: one str.isdigit() accepts but int() refuses
    ("²", thousands of digits) made every table a traceback. It reads as no width."""
    server.add_token("bob", "good", NOW - 400 * DAY)
    run = cli("list", COLUMNS=columns)
    assert run.status == 0 and "Traceback" not in run.err, run
    assert "good" in run.out


# -- 4. notices nobody could receive --------------------------------------------------


@pytest.mark.parametrize("notify", ["{notice_days: 7, recipients: []}",
                                    "{expiry_reminders: [7], recipients: []}"])
def test_notices_with_no_recipient_at_all_are_a_config_error(server, cli, notify):
    """A notice that reaches nobody is no notice: with `recipients: []` every notice of
    every run would be one (the run exits 1 each night, nothing is ever revoked, no
    reminder goes anywhere). check-config says so instead of OK."""
    cli.config("mode: enforce\npolicy:\n  older_than_days: 30\nnotify: %s\n" % notify)
    run = cli("check-config")
    assert run.status == 2 and "notify.recipients: empty" in run.err, run
    cli.config("mode: enforce\nnotify: {notice_days: 0, recipients: []}\n")
    assert cli("check-config").status == 0


# -- 5. a moment its UTC offset carries out of 1970..9999 ------------------------------


@pytest.mark.parametrize("moment", ["9999-12-31T23:59-23:59", "1970-01-01T00:00+00:01"])
def test_a_moment_its_offset_carries_past_9999_or_before_1970_is_refused(server, cli,
                                                                         moment):
    """Years 1970 to 9999, in UTC: the offset counts. 9999-12-31T23:59-23:59 is in year
    10000, which the audit record then carried as the selection's time."""
    server.add_token("bob", "x", NOW - 400 * DAY)
    for option in ("--created-before", "--created-after"):
        run = cli("sweep", option, moment, "--yes")
        assert run.status == 2 and "out of range (years 1970 to 9999" in run.err, run
    assert server.token_names("bob") == {"x"} and cli.audit_records() == []
    assert cli("plan", "--created-before", "9999-12-31T23:59Z").status == 0
