"""Structured log lines: Temporal's context flattened, extras kept, one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys

from bubble_shared.log_format import MAX_TRACEBACK_CHARS, JsonFormatter, TextFormatter


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


def _raise_a_long_error() -> None:
    raise ValueError("x" * 20_000 + " the actual error")


def _failing() -> logging.LogRecord:
    """A record whose traceback is 20 KB long, as a chained database error's can be."""
    try:
        _raise_a_long_error()
    except ValueError:
        return logging.LogRecord(
            "bubble_worker", logging.WARNING, __file__, 1, "failed", (), sys.exc_info()
        )
    raise AssertionError("not raised")


def test_a_huge_traceback_is_cut_and_keeps_its_end() -> None:
    record = _failing()
    entry = json.loads(JsonFormatter().format(record))

    assert len(entry["exception"]) < MAX_TRACEBACK_CHARS + 100
    assert entry["exception"].startswith("Traceback")
    assert entry["exception"].endswith("the actual error")
    assert "characters left out" in entry["exception"]


def test_text_lines_bound_tracebacks_too() -> None:
    record = _failing()
    text = TextFormatter().format(record)

    assert len(text) < MAX_TRACEBACK_CHARS + 200
    assert text.endswith("the actual error")
