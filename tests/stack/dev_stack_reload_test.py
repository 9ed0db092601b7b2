"""``tools:dev -- --reload``: a change to the worker's or the service's code restarts that
process with the new code, a run in flight carries on, and a change that breaks a process leaves
the rest of the stack running until the next change."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

from e2e.system import jpeg
from stack.running import PORT_NAMES, started_stack

import bubble_service
import bubble_shared
import bubble_worker
from bubble_client import ProcessingClient
from bubble_client import messages as m
from bubble_shared.testing.ports import free_ports


def _sources(target: Path) -> Path:
    """A copy of the sources the stack runs, laid out as in the repository, to edit."""
    for package, root in (
        (bubble_worker, "services/worker"),
        (bubble_service, "services/processing"),
        (bubble_shared, "libs/shared"),
    ):
        assert package.__file__ is not None
        shutil.copytree(Path(package.__file__).parent, target / root / package.__name__)
    return target


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_a_change_restarts_its_process_and_the_run_in_flight_carries_on(tmp_path: Path) -> None:
    source = _sources(tmp_path / "src")
    state = tmp_path / "state"
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    with started_stack(state, ports, "--reload", "--source-dir", str(source)) as stack:
        stack.wait_until_ready()
        with ProcessingClient(stack.grpc, timeout=30) as client:
            item = client.create_item(owner_id="u1", title="Lamp", images=[jpeg(1)])
            client.start_item_processing(item.item_id, start_delay=timedelta(seconds=6))

            _append(
                source / "services/worker/bubble_worker/__init__.py",
                'print("edited worker", flush=True)',
            )
            stack.wait_for_line("reloading the worker: services/worker/bubble_worker/__init__.py")
            stack.wait_for_line("the worker runs the new code")
            _append(
                source / "services/processing/bubble_service/__init__.py",
                'print("edited service", flush=True)',
            )
            stack.wait_for_line("reloading the service: services/processing/bubble_service")
            stack.wait_for_line("the service runs the new code")

            # A broken change: the worker does not come back, the service keeps answering.
            _append(source / "services/worker/bubble_worker/__init__.py", "def broken(:")
            stack.wait_for_line("the worker did not start again")
            assert client.get_item(item.item_id).item_id == item.item_id
            # Fixed: it comes back, and the run that waited through all of it finishes.
            worker_init = source / "services/worker/bubble_worker/__init__.py"
            worker_init.write_text(worker_init.read_text().replace("def broken(:", ""))
            stack.wait_for_line("the worker runs the new code")
            deadline = time.monotonic() + 60
            while client.get_item(item.item_id).status != m.ItemStatus.PROCESSED:
                assert time.monotonic() < deadline, stack.text
                time.sleep(0.2)

    assert "edited worker" in (state / "logs" / "worker.log").read_text()
    assert "edited service" in (state / "logs" / "service.log").read_text()
