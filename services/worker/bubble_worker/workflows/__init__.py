"""The workflows. Deterministic code only: activities are called by name, never imported here."""

from bubble_worker.workflows.batch import ItemBatchProcessingWorkflow
from bubble_worker.workflows.item import ItemImageProcessingWorkflow

WORKFLOWS = (ItemImageProcessingWorkflow, ItemBatchProcessingWorkflow)

__all__ = ["WORKFLOWS", "ItemBatchProcessingWorkflow", "ItemImageProcessingWorkflow"]
