"""Scenario 4: the worker gets SIGTERM mid-batch (a deploy, a scale-down), and a new worker
takes over.

A graceful stop lets running activities finish within WORKER_SHUTDOWN_GRACE_SECONDS, exits 0 and
shuts its analysis pool down; the new worker picks up the rest. Nothing is lost or repeated, and
no notification is delivered twice, not even with the same idempotency key.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults.scenario import WORKER_STOP_TIMEOUT_SECONDS, finish, report, start_batch
from faults.stack import migrated_database, running_stack

ITEMS = 40
CONCURRENCY = 10


def test_a_worker_stopped_mid_batch_hands_over_to_a_new_one_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with migrated_database("sqlite", tmp_path) as url, running_stack(tmp_path, url) as stack:
        run = start_batch(stack, items=ITEMS, concurrency=CONCURRENCY)
        run.wait_until_in_flight(ITEMS // 5)
        [stopped] = stack.workers
        stopped.remember_descendants()
        signalled = time.monotonic()
        code = stopped.stop(timeout=WORKER_STOP_TIMEOUT_SECONDS)
        run.note(
            f"{stopped.name} stopped by SIGTERM: exit code {code} after "
            f"{time.monotonic() - signalled:.1f}s; {run.in_flight()}"
        )
        stack.start_worker()
        run.note("a new worker polls")
        run.wait_for_end()
        findings = finish(run)
        if code != 0:
            findings.problems.append(f"{stopped.name}: SIGTERM ended it with {code}, not 0")
        with capsys.disabled():  # the timeline and evidence, also when the test passes
            print(report(run, findings))
    assert not findings.problems, "\n".join(findings.problems)
