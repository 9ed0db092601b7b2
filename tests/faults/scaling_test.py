"""Horizontal scaling: two workers of the same version, as separate processes on PostgreSQL,
share one 200-item batch, and every item is processed exactly once (one claim, one result, one
notification, one webhook delivery, the batch's counters right), each worker writing some of the
results. Speed is the benchmarks' business (tools:bench-throughput), not this test's: it reports
the batch's items/s and asserts only correctness.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults.processes import Process
from faults.scenario import BatchRun, finish, report, start_batch
from faults.stack import ANALYSIS_PROCESSES, migrated_database, running_stack

ITEMS = 200
CONCURRENCY = 20
WRITTEN = "ITEM_WRITE_OUTCOME_APPLIED"
"""What a worker logs for every item whose result it writes ("suggestions of item X: ...")."""


def _items_per_second(run: BatchRun) -> float:
    started = time.monotonic()
    run.wait_for_end()
    return len(run.item_ids) / (time.monotonic() - started)


def _written_by(worker: Process) -> int:
    lines = worker.log_text().splitlines()
    return sum(1 for line in lines if "suggestions of item" in line and WRITTEN in line)


def test_two_workers_share_one_batch_and_process_every_item_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        migrated_database("postgresql", tmp_path) as url,
        running_stack(tmp_path, url) as stack,
    ):
        [first] = stack.workers
        second = stack.start_worker()
        run = start_batch(stack, items=ITEMS, concurrency=CONCURRENCY, first_seed=30_000)
        run.note("two workers poll")
        two_workers = _items_per_second(run)
        shares = (_written_by(first), _written_by(second))
        run.note(
            f"two workers: {two_workers:.1f} items/s ({ANALYSIS_PROCESSES} analysis processes"
            f" each); results written: {shares[0]} by {first.name}, {shares[1]} by {second.name}"
        )
        findings = finish(run)
        with capsys.disabled():  # the figures, also when the test passes
            print(report(run, findings))
    assert not findings.problems, "\n".join(findings.problems)
    assert sum(shares) == ITEMS
    assert min(shares) > 0, f"one worker wrote every result: {shares}"
