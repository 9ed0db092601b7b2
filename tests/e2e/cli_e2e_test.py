"""The bubble-processing CLI against the running system, as a person types it."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from e2e.system import System, jpeg

from bubble_client.cli import run


def _cli(system: System, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run(["--target", system.target, *args], stream=out)
    return code, out.getvalue()


async def test_create_process_watch_status_batch_and_cancel(system: System, tmp_path: Path) -> None:
    photo = tmp_path / "scarf.jpg"
    photo.write_bytes(jpeg(21))

    def session() -> list[tuple[int, str]]:
        created = _cli(system, "--json", "create", "--owner", "cli", "--title", "Scarf", str(photo))
        item_id = json.loads(created[1])["itemId"]
        other = json.loads(
            _cli(system, "--json", "create", "--owner", "cli", "--title", "Hat", str(photo))[1]
        )["itemId"]
        return [
            created,
            _cli(system, "process", item_id, "--wait"),
            _cli(system, "--json", "status", "--item", item_id),
            _cli(system, "get", item_id),
            _cli(system, "batch", item_id, other, "--force", "--wait"),
            _cli(system, "process", other, "--force", "--countdown", "3600"),
            _cli(system, "cancel", "--item", other),
            _cli(system, "status", "--item", "no-such-item"),
        ]

    results = await asyncio.to_thread(session)
    created, processed, status, shown, batch, delayed, cancelled, missing = results

    assert created[0] == 0
    assert processed[0] == 0
    assert "SUCCEEDED" in processed[1].splitlines()[-1]
    assert json.loads(status[1])["itemRun"]["state"] == "RUN_STATE_SUCCEEDED"
    assert "PROCESSED" in shown[1]
    assert "suggested title:" in shown[1]
    assert batch[0] == 0
    assert "ok 2" in batch[1].splitlines()[-1]
    assert delayed[0] == 0
    assert "cancel requested" in cancelled[1]
    assert missing[0] == 1
