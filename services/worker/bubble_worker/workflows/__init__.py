"""The workflows. Deterministic code only: activities are called by name, never imported here."""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bubble_worker.workflows.batch import ItemBatchProcessingWorkflow
from bubble_worker.workflows.item import ItemImageProcessingWorkflow

WORKFLOWS = (ItemImageProcessingWorkflow, ItemBatchProcessingWorkflow)

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        # The worker's retry budget (set once at start): the sandbox must see the worker's copy
        # of the module, not a fresh one with the defaults.
        "bubble_worker.workflows.policies"
    )
)
"""Every worker of our workflows runs them with this sandbox."""

__all__ = [
    "WORKFLOWS",
    "WORKFLOW_RUNNER",
    "ItemBatchProcessingWorkflow",
    "ItemImageProcessingWorkflow",
]
