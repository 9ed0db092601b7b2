"""Every stored workflow history replays against today's workflow code.

A workflow change that is not deterministic for histories recorded by an earlier version (a
different activity order, a removed timer...) would break every open workflow of that version
after a deploy; here it fails CI instead. Histories are recorded with tools:record-histories.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from bubble_shared.temporal.converter import DATA_CONVERTER
from bubble_worker.workflows.runner import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_stored() -> None:
    assert len(HISTORIES) >= 6, "run ./pants run tools:record-histories and commit the files"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())

    result = await Replayer(
        workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER
    ).replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
