"""The Temporal floor runs our item run's tasks, and finishes every run it starts."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from bubble_shared.testing.temporal_servers import start_dev_server
from bubble_tools.bench_floor import FloorRuns, floor_workers

OUR_RUN = Path("tests/replay/histories/item_succeeds_leaner_runs.json")
"""A recorded run of ours that succeeded at once (no start delay), as the benchmark's do."""

TASK_EVENTS = (
    "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
    "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
    "EVENT_TYPE_MARKER_RECORDED",
)


def _our_tasks() -> Counter[str]:
    events = json.loads(OUR_RUN.read_text())["events"]
    return Counter(event["eventType"] for event in events if event["eventType"] in TASK_EVENTS)


async def test_floor_runs_have_our_tasks_and_all_finish() -> None:
    async with await start_dev_server() as env:
        runs = FloorRuns()
        with ThreadPoolExecutor(max_workers=8) as executor:
            workflows, analyses = floor_workers(env.client, runs, executor)
            async with workflows, analyses:
                ids = await runs.run(env.client, 5, 2)
        assert runs.finished == 5
        ours = _our_tasks()
        for workflow_id in ids:
            history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            floor = Counter(EventType.Name(event.event_type) for event in history.events)
            assert floor["EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"] == 1
            # The same workflow tasks and activity tasks as ours; no more local activities
            # (ours also records a patch marker and, when the notification did not, its last
            # step): a floor, not a copy.
            for event_type in TASK_EVENTS[:2]:
                assert floor[event_type] == ours[event_type], event_type
            assert 2 <= floor["EVENT_TYPE_MARKER_RECORDED"] <= ours["EVENT_TYPE_MARKER_RECORDED"]
