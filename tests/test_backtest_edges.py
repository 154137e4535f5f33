"""The back-test's log reading at its edges (issue 28, broken on purpose)."""

import os

from tests.test_backtest import AS_OF, DAY, history


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
