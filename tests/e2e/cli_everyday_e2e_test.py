"""The everyday use of ``bubble-processing`` against the running system (issue 11): options
where the README puts them, files told apart from server URIs, everything ``get`` knows, a
batch's failures in its exit code and output, and a ``list`` that says when there is more."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from e2e.system import System, jpeg

from bubble_client import ProcessingClient
from bubble_client.cli import run


def _cli(system: System, *args: str) -> tuple[int, str]:
    """The exit code and stdout, as a shell sees them (argparse's own exit included)."""
    out = io.StringIO()
    try:
        code = run(["--target", system.target, *args], stream=out)
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 1
    return code, out.getvalue()


async def test_create_takes_files_and_uris_apart_and_status_takes_json_after_the_command(
    system: System, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "front.jpg"
    photo.write_bytes(jpeg(41))
    (system.media_root / "items" / "back.jpg").write_bytes(jpeg(42))

    def session() -> tuple[int, str, tuple[int, str], int, list[str]]:
        with ProcessingClient(system.target) as client:
            item_id = client.create_item(owner_id="cli", title="Scarf", images=[photo]).item_id
        processed = _cli(system, "process", item_id, "--wait")
        status = _cli(system, "status", "--item", item_id, "--json")
        created = _cli(
            system, "create", "--owner", "cli", str(photo), "--uri", "items/back.jpg", "--json"
        )
        missing = _cli(system, "create", "--owner", "cli-missing", str(tmp_path / "photo.jpg"))
        with ProcessingClient(system.target) as client:
            orphans = [item.item_id for item in client.list_items(owner_id="cli-missing")]
        return processed[0], status[1], created, missing[0], orphans

    processed, status, created, missing, orphans = await asyncio.to_thread(session)

    assert processed == 0
    assert json.loads(status)["itemRun"]["state"] == "RUN_STATE_SUCCEEDED"
    assert created[0] == 0
    uris = [image["uri"] for image in json.loads(created[1])["images"]]
    assert uris[1] == "items/back.jpg"  # after the uploaded file, as on the command line
    assert missing == 2
    assert "no such file" in capsys.readouterr().err
    assert orphans == []


async def test_get_batch_and_list_show_what_happened(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    def session() -> dict[str, tuple[int, str]]:
        with ProcessingClient(system.target) as client:
            good = client.create_item(owner_id="cli-list", title="Scarf", images=[jpeg(43)])
            bad = client.create_item(owner_id="cli-list", title="Hat", images=["items/gone.jpg"])
            client.create_item(owner_id="cli-list", title="Cap", images=[jpeg(44)])
        results = {
            "failing batch": _cli(system, "batch", good.item_id, bad.item_id, "--wait"),
            "skipping batch": _cli(system, "batch", good.item_id, "--wait"),
            "get": _cli(system, "get", good.item_id),
            "first page": _cli(system, "list", "--owner", "cli-list", "--limit", "2"),
        }
        hint = capsys.readouterr().err
        option = hint.split("more items: ")[-1].split()[0] if "more items: " in hint else ""
        results["hint"] = (0, hint)
        results["next page"] = _cli(system, "list", "--owner", "cli-list", option)
        results["all"] = _cli(system, "list", "--owner", "cli-list", "--all", "--json")
        results["bad"] = (0, bad.item_id)
        return results

    results = await asyncio.to_thread(session)

    code, out = results["failing batch"]
    assert code == 3  # the batch finished, some items failed
    assert "ok 1  skipped 0  failed 1" in out
    assert out.splitlines()[-1] == f"failed item {results['bad'][1]}"
    code, out = results["skipping batch"]
    assert code == 0
    assert f"[{'=' * 30}] 1/1  ok 0  skipped 1" in out.splitlines()[-1]
    shown = results["get"][1]
    for label in ("tags:", "colours:", "cover image:", "thumbnail:"):
        assert label in shown, shown
    assert len(results["first page"][1].splitlines()) == 2
    assert "more items: --page-token=" in results["hint"][1]
    # Seen once under CI load: the second page printed nothing. Say why, if it happens again.
    code, out = results["next page"]
    assert code == 0, (code, out, capsys.readouterr().err)
    assert len(out.splitlines()) == 1, (out, results["first page"], results["hint"])
    assert "more items" not in capsys.readouterr().err
    listed = [json.loads(line)["itemId"] for line in results["all"][1].splitlines()]
    assert len(set(listed)) == 3
