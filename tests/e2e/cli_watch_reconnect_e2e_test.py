"""``bubble-processing process/batch --wait`` outlasts a restart of the service: it reconnects,
prints no update twice and exits 0 with the final status when the run ends after the restart.

The service, the worker and a Temporal dev server run for real in this process; the CLI blocks,
so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from e2e.restarting import (  # noqa: F401 - database_url, system: the fixtures
    RestartableSystem,
    database_url,
    restart_while_watching,
    system,
)
from e2e.system import jpeg

from bubble_client import AsyncProcessingClient
from bubble_client.cli import run


@pytest.mark.parametrize("command", ["process", "batch"])
async def test_waiting_for_a_run_outlasts_a_service_restart(
    system: RestartableSystem, command: str
) -> None:
    async with AsyncProcessingClient(system.target) as client:
        items = [
            (await client.create_item(owner_id="cli", title=f"hat {n}", images=[jpeg(30 + n)]))
            for n in range(2)
        ]
    ids = [item.item_id for item in items]
    arguments = ["process", ids[0]] if command == "process" else ["batch", *ids]
    out = io.StringIO()
    waiting = asyncio.ensure_future(
        asyncio.to_thread(run, ["--target", system.target, "--json", *arguments, "--wait"], out)
    )

    def updates() -> list[dict[str, Any]]:
        return [json.loads(line) for line in out.getvalue().splitlines()[1:]]  # after the start

    await restart_while_watching(system, lambda: len(updates()), waiting)
    code = await asyncio.wait_for(waiting, 120)

    printed = updates()
    assert code == 0, out.getvalue()
    assert [update["sequence"] for update in printed] == list(range(1, len(printed) + 1))
    statuses: list[dict[str, Any]] = [
        update.get("itemRun") or update["batchRun"] for update in printed
    ]
    repeated = [n for n in range(1, len(statuses)) if statuses[n] == statuses[n - 1]]
    assert not repeated, out.getvalue()
    assert [update.get("terminal", False) for update in printed][-2:] == [False, True]
    assert statuses[0]["state"] == "RUN_STATE_QUEUED"
    assert statuses[-1]["state"] == "RUN_STATE_SUCCEEDED"
    if command == "batch":
        assert statuses[-1]["progress"]["succeeded"] == 2
