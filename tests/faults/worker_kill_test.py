"""Scenario 1: the worker is killed with SIGKILL mid-batch, and a new worker takes over.

The killed worker's activities are lost with it: Temporal retries them on the new worker after
their heartbeat or start-to-close timeout. Every item must still be processed exactly once, and
the killed worker must leave no analysis-pool process or resource tracker running. On both
databases: on SQLite the killed worker may have held the write lock mid-transaction.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults.scenario import finish, report, start_batch
from faults.stack import migrated_database, running_stack

from bubble_shared.testing.databases import DatabaseKind
from bubble_shared.testing.fixtures import BOTH_DATABASES

ITEMS = 40
CONCURRENCY = 10


@pytest.mark.parametrize("database", BOTH_DATABASES)
def test_a_worker_killed_mid_batch_is_replaced_and_every_item_is_processed_once(
    database: DatabaseKind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with migrated_database(database, tmp_path) as url, running_stack(tmp_path, url) as stack:
        run = start_batch(stack, items=ITEMS, concurrency=CONCURRENCY)
        run.wait_until_in_flight(ITEMS // 5)
        [killed] = stack.workers
        pool = killed.remember_descendants()
        killed.kill_hard()
        run.note(f"{killed.name} killed with SIGKILL; it had started {len(pool)} processes")
        stack.start_worker()
        run.note("a new worker polls")
        run.wait_for_end()
        findings = finish(run, webhook_repeats_allowed=True)
        with capsys.disabled():  # the timeline and evidence, also when the test passes
            print(report(run, findings))
    assert not findings.problems, "\n".join(findings.problems)
