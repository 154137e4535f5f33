"""Breaking the notices (issue 17): forged or stale audit records, a clock that jumps,
an MTA that hangs or leaves a helper behind. Runs on every Python of the matrix."""

import json
import os

from tests.helpers import DAY, NOW, add, revoke_calls
from tests.test_notify import SENDMAIL, Server  # noqa: F401 - the fixture's server

import pytest


@pytest.fixture
def box(tmp_path):
    return Server(tmp_path)


def append_record(box, record):
    with open(box.cli.audit_path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def forged_notice(real, sent, due):
    """A copy of a real notice record with other times (an admin's paste of an old line)."""
    forged = json.loads(json.dumps(real))
    forged.update(epoch=sent, run_id="forged")
    for entry in forged["tokens"]:
        entry["due_epoch"] = due
    return forged


def test_an_older_notice_appended_later_never_shortens_the_real_notice_period(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    [real] = box.notices()
    # Someone appends an old notice for the same token (sent 30 days ago, due 23 days ago).
    append_record(box, forged_notice(real, NOW - 30 * DAY, NOW - 23 * DAY))
    run = box.run(1)
    assert run.status == 0, run
    assert revoke_calls(box.fake) == []
    assert box.fake.token_names("root") == {"old-ci"}
    run = box.run(7)
    assert box.fake.token_names("root") == set(), run


def test_a_notice_whose_due_day_is_before_its_notice_period_waits_the_period(box):
    add(box.fake, "root", "old-ci", age_days=200, expires_in_days=-5)
    box.run(0)
    [real] = box.notices()
    # A record saying "sent today, due today": never sooner than notice_days after it.
    append_record(box, forged_notice(real, NOW + DAY, NOW + DAY))
    run = box.run(2)
    assert box.fake.token_names("root") == {"old-ci"}, run
    assert "notice sent on 2026-11-28, revocation due on 2026-12-05" in box.run(
        2, "plan", "--expired").out
    box.run(7)
    assert box.fake.token_names("root") == {"old-ci"}
    box.run(8)
    assert box.fake.token_names("root") == set()


def test_history_keeps_the_latest_notice_sent_whatever_the_order_of_the_lines():
    from tokensweeper import notify

    def record(sent, due, action="notice"):
        return {"event": "notice", "epoch": sent,
                "tokens": [{"identity": "root:t:1:abc", "action": action, "due_epoch": due}]}

    notices, _ = notify.history([record(NOW, NOW + 7 * DAY), record(NOW - 9 * DAY, NOW - DAY)])
    assert (notices["root:t:1:abc"].sent, notices["root:t:1:abc"].due) == (NOW, NOW + 7 * DAY)
    notices, _ = notify.history([record(NOW - 9 * DAY, NOW - DAY), record(NOW, NOW + 7 * DAY)])
    assert notices["root:t:1:abc"].sent == NOW
    notices, _ = notify.history([record(NOW, NOW + DAY), record(NOW, NOW + 2 * DAY)])
    assert notices["root:t:1:abc"].due == NOW + 2 * DAY  # same time: the later line
