"""The dashboard's HTML: Jinja templates (autoescaped) and the helpers they use.

Templates read the API's own messages (item_pb2.Item, run_pb2.BatchRunStatus, ...); the helpers
here turn enum numbers into words, timestamps into UTC text and runs into Temporal UI links.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import jinja2
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.responses import HTMLResponse

from bubble.processing.v1 import analysis_pb2, item_pb2, run_pb2

STATUS_FILTERS = ("PENDING", "PROCESSING", "PROCESSED", "FAILED", "CANCELLED")
"""The item statuses a list can be filtered by, as ItemStatus names without their prefix."""


def item_status(value: int) -> str:
    return _enum_word(item_pb2.ItemStatus, value, "ITEM_STATUS_")


def run_state(value: int) -> str:
    return _enum_word(run_pb2.RunState, value, "RUN_STATE_")


def stage(value: int) -> str:
    return _enum_word(run_pb2.ProcessingStage, value, "PROCESSING_STAGE_")


def warning_kind(value: int) -> str:
    return _enum_word(analysis_pb2.QualityWarningKind, value, "QUALITY_WARNING_KIND_")


def _enum_word(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return str(value)


def when(stamp: Timestamp) -> str:
    """A timestamp as UTC text; "" when unset."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Pages:
    """Renders the templates with the helpers and the links of this deployment."""

    def __init__(self, *, temporal_ui_url: str, namespace: str) -> None:
        self._temporal_ui_url = temporal_ui_url
        self._namespace = namespace
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("bubble_service.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._env.globals.update(
            item_status=item_status,
            run_state=run_state,
            stage=stage,
            warning_kind=warning_kind,
            when=when,
            run_link=self.run_link,
            status_filters=STATUS_FILTERS,
        )

    def run_link(self, workflow_id: str, run_id: str = "") -> str:
        """The run's page in the Temporal UI ("" without a UI or a workflow)."""
        if not self._temporal_ui_url or not workflow_id:
            return ""
        path = (
            f"/namespaces/{urllib.parse.quote(self._namespace, safe='')}"
            f"/workflows/{urllib.parse.quote(workflow_id, safe='')}"
        )
        if run_id:
            path += f"/{urllib.parse.quote(run_id, safe='')}/history"
        return self._temporal_ui_url + path

    def render(
        self, template: str, context: Mapping[str, Any], *, status_code: int = 200
    ) -> HTMLResponse:
        html = self._env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code)
