"""Structured log lines: Temporal's context flattened, extras kept, one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys

from bubble_shared.log_format import JsonFormatter


def _format(**extra: object) -> dict[str, object]:
    record = logging.LogRecord(
        "bubble_worker", logging.INFO, __file__, 1, "item %s done", ("i1",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_activity_context_becomes_top_level_keys() -> None:
    entry = _format(
        temporal_activity={
            "activity_type": "analyze_item_images",
            "attempt": 3,
            "workflow_id": "item-processing/i1",
            "workflow_run_id": "run-9",
            "task_queue": "image-analysis",
            "namespace": "default",
        },
        item_id="i1",
    )

    assert entry["message"] == "item i1 done"
    assert entry["level"] == "info"
    assert entry["attempt"] == 3
    assert entry["workflow_id"] == "item-processing/i1"
    assert entry["run_id"] == "run-9"
    assert entry["activity_type"] == "analyze_item_images"
    assert entry["item_id"] == "i1"
    assert "namespace" not in entry


def _fail() -> None:
    raise ValueError("boom")


def test_exceptions_are_kept_as_text() -> None:
    try:
        _fail()
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))

    assert "ValueError: boom" in entry["exception"]
