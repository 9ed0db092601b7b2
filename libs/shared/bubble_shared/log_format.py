"""Structured logs: one JSON object per line, with the workflow, item and attempt on each record.

Temporal's ``workflow.logger`` and ``activity.logger`` attach their context as ``temporal_workflow``
/ ``temporal_activity`` dicts; they are flattened here into top-level keys (``workflow_id``,
``attempt``...) so a log search for one item or one workflow finds every line about it.

A record's traceback is cut to ``MAX_TRACEBACK_CHARS`` (its start and its end, where the error is):
chained database errors run to many kilobytes, and a log line must stay a line a person reads.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bubble_shared.settings import EnvReader

_TEMPORAL_CONTEXTS = ("temporal_workflow", "temporal_activity")
_FLATTENED_KEYS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "attempt": "attempt",
    "task_queue": "task_queue",
}
_EXTRA_KEYS = ("item_id", "batch_id", "image_id", "rpc", "code", "duration_ms", "peer")
MAX_TRACEBACK_CHARS = 4000


def bounded_traceback(text: str, limit: int = MAX_TRACEBACK_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters, else its first quarter and its last part."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n... ({len(text) - limit} characters left out) ...\n{text[-tail:]}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for context_name in _TEMPORAL_CONTEXTS:
            context = getattr(record, context_name, None)
            if isinstance(context, dict):
                for key, value in context.items():
                    if key in _FLATTENED_KEYS:
                        entry[_FLATTENED_KEYS[key]] = value
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return bounded_traceback(super().formatException(ei))


class TextFormatter(logging.Formatter):
    """Plain lines for a person at a terminal, with tracebacks bounded as in JSON."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return bounded_traceback(super().formatException(ei))


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Root logging to stderr; JSON lines for machines, plain text for a person at a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def read_logging_settings(environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """``LOG_LEVEL`` (default INFO) and whether ``LOG_FORMAT`` is ``json`` (default) or ``text``.

    Raises SettingsError for other values, before anything is logged.
    """
    env = EnvReader(environ)
    level = env.text("LOG_LEVEL", "INFO").upper()
    log_format = env.text("LOG_FORMAT", "json").lower()
    if level not in LOG_LEVELS:
        env.problems.append(f"LOG_LEVEL={level!r} must be one of {', '.join(LOG_LEVELS)}")
    if log_format not in ("json", "text"):
        env.problems.append(f"LOG_FORMAT={log_format!r} must be json or text")
    env.raise_if_invalid()
    return level, log_format == "json"


def configure_logging_from_env(environ: Mapping[str, str] | None = None) -> None:
    level, json_lines = read_logging_settings(environ)
    configure_logging(level, json_lines=json_lines)
