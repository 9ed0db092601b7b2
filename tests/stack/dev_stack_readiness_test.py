"""The stack says ready only once its worker polls every task queue: with a worker that never
polls the workflow queue (WORKER_QUEUES=analysis) it must not say ready, and stops with a message
naming the queue and the worker's log instead of leaving items QUEUED with nobody to run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stack.running import PORT_NAMES, started_stack

from bubble_shared.testing.ports import free_ports

# Long enough for the service to listen on a loaded machine; the worker never gets there.
STARTUP_TIMEOUT_SECONDS = 30


def test_a_worker_that_does_not_poll_every_queue_is_not_ready(tmp_path: Path) -> None:
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    state_dir = (tmp_path / "state").resolve()
    with started_stack(
        state_dir,
        ports,
        "--startup-timeout",
        str(STARTUP_TIMEOUT_SECONDS),
        env={"WORKER_QUEUES": "analysis"},
    ) as stack:
        assert stack.process.stdout is not None
        for line in stack.process.stdout:  # fails at once, not after a timeout, if it says ready
            stack.output.append(line)
            assert line.strip() != "ready", f"ready while nobody polls:\n{stack.text}"
            assert "gRPC API" not in line, f"endpoints while nobody polls:\n{stack.text}"
        exit_code = stack.read_to_the_end()

    assert exit_code == 1, stack.text
    assert (
        "no worker polled task queue item-processing, item-processing-batches within 30s"
        in stack.text
    )
    assert str(state_dir / "logs" / "worker.log") in stack.text
    # Its Temporal dev server (the only process naming the state folder) was stopped too.
    left = subprocess.run(["pgrep", "-f", str(state_dir)], capture_output=True, check=False)
    assert left.returncode == 1, left.stdout
