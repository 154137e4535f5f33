"""The back-test's log reading at its edges (issue 28, broken on purpose)."""

import os

import pytest

from tests.test_backtest import AS_OF, DAY, cli, history, server, write_log  # noqa: F401


def test_a_long_line_ending_at_a_block_boundary_does_not_end_the_file(tmp_path, monkeypatch):
    from tokensweeper import backtest

    monkeypatch.setattr(backtest, "BLOCK", 97)
    monkeypatch.setattr(backtest, "MAX_LINE", 400)
    head = "".join(history()[:4])
    garbage = "x" * (5000 + (-(len(head) + 5001)) % 97)  # its newline ends a block
    assert (len(head) + len(garbage) + 1) % 97 == 0
    directory = os.path.join(str(tmp_path), "usr", "local", "cpanel", "logs")
    os.makedirs(directory)
    with open(os.path.join(directory, "api_tokens_log"), "w") as handle:
        handle.write(head + garbage + "\n" + "".join(history()[4:]))
    split = backtest.read_split(AS_OF, str(tmp_path))
    # The lines after the long one are read: the uses after the moment are all there.
    assert split.after == {("root", "idle-then-used"): AS_OF + 5 * DAY,
                           ("root", "born-after"): AS_OF + 7 * DAY}


@pytest.mark.parametrize("codec", ["gzip", "xz"])
def test_a_corrupt_archive_is_reported_not_a_crash(cli, codec):  # noqa: F811
    import gzip
    import lzma

    packed = (gzip.compress if codec == "gzip" else lzma.compress)(
        "".join(history()[:4]).encode() * 50)
    damaged = packed[:40] + bytes(b ^ 0xFF for b in packed[40:90]) + packed[90:]
    directory = os.path.join(cli.cpanel_root, "usr", "local", "cpanel", "logs", "archive")
    os.makedirs(directory)
    with open(os.path.join(directory, "api_tokens_log-09-2026.gz"), "wb") as handle:
        handle.write(damaged)
    write_log(cli, history()[4:])
    run = cli("backtest", "--as-of", "30d", "--json")
    assert run.status == 0, run
    document = run.json()
    assert document["log"]["errors"] and "api_tokens_log-09-2026.gz" in document["log"][
        "errors"][0]
    # Not read whole: nothing is counted as unused afterwards on its word.
    assert not any(not e["used_after"] for e in document["would_revoke"])
    assert {e["name"] for e in document["cannot_judge"]} >= {"idle-forever", "bob-idle"}
