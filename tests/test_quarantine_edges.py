"""Quarantine and restore at their edges (issue 28, broken on purpose): lists that hold the
quarantine address among others, runs that select a token already held, time."""

from tests.helpers import NOW, DAY, add
from tests.test_quarantine import CONFIG, at, cli, ips, listed, server  # noqa: F401
from tokensweeper import quarantine


def test_a_list_holding_the_marker_among_others_comes_back(cli, server):
    add(server, "bob", "mixed", age_days=400, ips=["10.0.0.1", quarantine.MARKER])
    run = cli("quarantine", "--owner", "bob", "--older-than", "365", "--yes")
    assert run.status == 0, run
    assert ips(server, "bob", "mixed") == [quarantine.MARKER]
    run = cli("restore", "--owner", "bob", "--name", "mixed")
    assert run.status == 0, run
    assert ips(server, "bob", "mixed") == ["10.0.0.1", quarantine.MARKER]
