"""One fault scenario's course: seed items, start a batch, strike while it is in flight, wait for
the batch to end, then collect every violation at once (so one run shows all that went wrong).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from faults import checks
from faults.seeding import IMAGE_SIZE, seed_items
from faults.stack import WORKER_GRACE_SECONDS, Stack
from sqlalchemy import Engine, select

from bubble_client import ProcessingClient
from bubble_shared.store import create_engine, models

BATCH_END_TIMEOUT_SECONDS = 180.0
# A stopped or killed worker's processes get this long to go away by themselves.
ORPHAN_GRACE_SECONDS = 10.0
# A worker stopped by SIGTERM: its grace for running activities, then time to close.
WORKER_STOP_TIMEOUT_SECONDS = WORKER_GRACE_SECONDS + 20.0
_OPEN_STATES = ("QUEUED", "RUNNING")
STRIKE_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class BatchState:
    state: str
    total: int
    running: int
    finished: int
    """Members with an outcome: succeeded, failed or cancelled."""

    @property
    def open(self) -> bool:
        return self.state in _OPEN_STATES


@dataclass
class BatchRun:
    stack: Stack
    engine: Engine
    item_ids: list[str]
    batch_id: str = ""
    started: float = field(default_factory=time.monotonic)
    timeline: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.timeline.append(f"{time.monotonic() - self.started:6.1f}s  {text}")

    def batch(self) -> BatchState:
        with self.engine.connect() as db:
            row = db.execute(
                select(
                    models.Batch.state,
                    models.Batch.total,
                    models.Batch.running,
                    models.Batch.succeeded + models.Batch.failed + models.Batch.cancelled,
                ).where(models.Batch.batch_id == self.batch_id)
            ).one()
        return BatchState(*row)

    def in_flight(self) -> str:
        """How much of the batch is under way: the evidence that a fault struck mid-batch."""
        processing = len(self.processing())
        batch = self.batch()
        return (
            f"{batch.finished}/{batch.total} finished, {batch.running} running, "
            f"{processing} items PROCESSING"
        )

    def processing(self) -> list[str]:
        """Items claimed by a run and not yet written: their analysis or write is under way."""
        with self.engine.connect() as db:
            return list(
                db.scalars(
                    select(models.Item.item_id).where(
                        models.Item.item_id.in_(self.item_ids), models.Item.status == "PROCESSING"
                    )
                )
            )

    def wait_until_in_flight(
        self, finished: int, *, analysing: int = 1, timeout: float = 120.0
    ) -> list[str]:
        """Until ``finished`` items have an outcome and ``analysing`` more are claimed (their
        analysis or item write under way): the moment to strike. Returns the claimed items.
        Fails if the batch ends first (too small to be in flight when the fault comes)."""
        deadline = time.monotonic() + timeout
        while (batch := self.batch()).finished < finished or len(
            claimed := self.processing()
        ) < analysing:
            assert batch.open, f"the batch ended before the fault: {batch}"
            assert time.monotonic() < deadline, f"not in flight in {timeout:g}s: {batch}"
            for process in self.stack.started:
                if not process.ended_by:
                    process.check_running()
            # Often: an analysis of the fault tests' small images lasts tens of milliseconds
            # after its claim, and the fault must come while it does.
            time.sleep(STRIKE_POLL_SECONDS)
        self.note(f"in flight: {self.in_flight()}")
        return claimed

    def wait_for_end(self, timeout: float = BATCH_END_TIMEOUT_SECONDS) -> None:
        """Until the batch is terminal, or ``timeout`` (the checks then report what is stuck)."""
        deadline = time.monotonic() + timeout
        while self.batch().open and time.monotonic() < deadline:
            time.sleep(0.5)
        self.note(f"batch {self.batch().state}: {self.in_flight()}")


def start_batch(
    stack: Stack,
    *,
    items: int,
    concurrency: int,
    first_seed: int = 10_000,
    image_size: tuple[int, int] = IMAGE_SIZE,
) -> BatchRun:
    """Seeds ``items`` items with images of their own and starts one batch over them."""
    engine = create_engine(stack.database_url)
    item_ids = seed_items(
        stack.database_url,
        stack.media_root,
        count=items,
        owner_id=f"fault-{stack.suffix}-{first_seed}",
        first_seed=first_seed,
        image_size=image_size,
    )
    run = BatchRun(stack, engine, item_ids)
    with ProcessingClient(stack.grpc_target, timeout=30) as client:
        started = client.start_batch_processing(item_ids, max_concurrency=concurrency)
    run.batch_id = started.batch_id
    run.note(f"batch {run.batch_id} of {items} items started, at most {concurrency} at once")
    return run


def finish(run: BatchRun, *, webhook_repeats_allowed: bool = False) -> checks.Findings:
    """Every check, in one list: the outcome in the database and over gRPC, the webhook, the
    processes (none died by itself, every worker stops gracefully, none leaves processes).

    ``webhook_repeats_allowed``: the fault may strike between a webhook POST and its record
    (a killed worker, a lost database), so a repeat with the same idempotency key is allowed.
    """
    findings = checks.Findings(problems=[], notes=[])
    stack = run.stack
    try:
        notification_of = checks.processed_exactly_once(
            run.engine, run.batch_id, run.item_ids, findings
        )
        checks.webhook_deliveries(
            stack.webhook, notification_of, findings, repeats_allowed=webhook_repeats_allowed
        )
        with ProcessingClient(stack.grpc_target, timeout=30) as client:
            checks.batch_counters(run.engine, client, run.batch_id, len(run.item_ids), findings)
    finally:
        run.engine.dispose()

    findings.add(
        "processes that died by themselves",
        [
            f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail(15)}"
            for process in stack.started
            if not process.ended_by and not process.running()
        ],
    )
    for worker in stack.workers:
        if worker.running():
            worker.remember_descendants()
            code = worker.stop(timeout=WORKER_STOP_TIMEOUT_SECONDS)
            run.note(f"{worker.name} stopped by SIGTERM: exit code {code}")
            if code != 0:
                findings.problems.append(f"{worker.name}: SIGTERM ended it with {code}, not 0")
    findings.add("processes left behind by a worker", _leftovers(stack))
    return findings


def _leftovers(stack: Stack) -> list[str]:
    deadline = time.monotonic() + ORPHAN_GRACE_SECONDS
    while True:
        found = [
            f"{worker.name} (ended by {worker.ended_by or 'itself'}) left {info.describe()}"
            for worker in stack.workers
            for info in worker.leftovers()
        ]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def report(run: BatchRun, findings: checks.Findings) -> str:
    """What happened and what was found, printed with the test's output."""
    lines = ["", "=== fault report ===", "timeline:", *run.timeline, "notes:", *findings.notes]
    if findings.problems:
        lines += ["problems:", *findings.problems, "logs:", run.stack.logs()]
    return "\n".join(lines)
