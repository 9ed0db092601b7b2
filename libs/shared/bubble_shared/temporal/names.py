"""Names that the worker and its callers must agree on: workflow types, ids, queues, queries.

Temporal matches workflows, activities and queries by name, so a rename here is a breaking change
for every open workflow. The service starts and queries workflows by these names without importing
the worker.
"""

from __future__ import annotations

ITEM_WORKFLOW = "ItemImageProcessingWorkflow"
BATCH_WORKFLOW = "ItemBatchProcessingWorkflow"

ANALYZE_ITEM_IMAGES = "analyze_item_images"
SUGGEST_WITH_VISION_MODEL = "suggest_with_vision_model"
UPDATE_ITEM_WITH_SUGGESTIONS = "update_item_with_suggestions"
MARK_ITEM_PROCESSING_FAILED = "mark_item_processing_failed"
SEND_PROCESSING_NOTIFICATION = "send_processing_notification"
RECORD_ITEM_RUN = "record_item_run"
ADVANCE_BATCH = "advance_batch"
CANCEL_BATCH_RUNS = "cancel_batch_runs"
FINISH_BATCH = "finish_batch"

PROGRESS_QUERY = "get_progress"
"""Both workflows answer it with their progress message."""

DEFAULT_TASK_QUEUE = "item-processing"
"""Workflows and the short database and notification activities."""
DEFAULT_ANALYSIS_TASK_QUEUE = "image-analysis"
"""``analyze_item_images`` only: CPU-bound, so it scales on its own workers."""
DEFAULT_VISION_MODEL_TASK_QUEUE = "vision-model"
"""``suggest_with_vision_model`` only: its workers are rate-limited to what the model allows."""

_ITEM_WORKFLOW_ID_PREFIX = "item-processing/"
_BATCH_WORKFLOW_ID_PREFIX = "item-batch/"


def item_workflow_id(item_id: str) -> str:
    """One workflow id per item: Temporal then allows one open run per item, whoever starts it."""
    return f"{_ITEM_WORKFLOW_ID_PREFIX}{item_id}"


def batch_workflow_id(batch_id: str) -> str:
    return f"{_BATCH_WORKFLOW_ID_PREFIX}{batch_id}"


def item_id_from_workflow_id(workflow_id: str) -> str | None:
    """The item of an item workflow id; None for any other id."""
    if workflow_id.startswith(_ITEM_WORKFLOW_ID_PREFIX):
        return workflow_id.removeprefix(_ITEM_WORKFLOW_ID_PREFIX) or None
    return None


def batch_id_from_workflow_id(workflow_id: str) -> str | None:
    """The batch of a batch workflow id; None for any other id."""
    if workflow_id.startswith(_BATCH_WORKFLOW_ID_PREFIX):
        return workflow_id.removeprefix(_BATCH_WORKFLOW_ID_PREFIX) or None
    return None
