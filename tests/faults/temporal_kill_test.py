"""Scenario 2: the Temporal server is killed with SIGKILL mid-batch and started again on the same
SQLite file and port.

The worker and the service keep running and reconnect; what Temporal had persisted (the batch,
its children, their timers and activities) carries on, and nothing is processed twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults.scenario import finish, report, start_batch
from faults.stack import migrated_database, running_stack

ITEMS = 40
CONCURRENCY = 10
TEMPORAL_DOWN_SECONDS = 5.0


def test_temporal_killed_mid_batch_and_restarted_on_its_file_loses_and_repeats_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with migrated_database("sqlite", tmp_path) as url, running_stack(tmp_path, url) as stack:
        run = start_batch(stack, items=ITEMS, concurrency=CONCURRENCY)
        run.wait_until_in_flight(ITEMS // 5)
        assert stack.temporal is not None
        stack.temporal.kill_hard()
        run.note("Temporal killed with SIGKILL")
        time.sleep(TEMPORAL_DOWN_SECONDS)
        stack.start_temporal()
        run.note("Temporal started again on the same SQLite file and port")
        run.wait_for_end()
        findings = finish(run)
        with capsys.disabled():  # the timeline and evidence, also when the test passes
            print(report(run, findings))
    assert not findings.problems, "\n".join(findings.problems)
