"""The workflows a worker registers and the sandbox it runs them in.

Not in the package's ``__init__``: the sandbox imports a workflow's module, with its package,
afresh for every run. An ``__init__`` that imported every workflow made each item run execute
the batch workflow's module too (and its ``workflow.defn`` inspection); now a run imports only
its own module.
"""

import compileall
from pathlib import Path

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


def write_workflow_bytecode() -> None:
    """Writes the bytecode of the modules the sandbox imports for every run, once at start.

    Without bytecode on disk (PYTHONDONTWRITEBYTECODE set, as on this machine and in many
    container images) the sandbox compiled ``item.py`` from source for every run: half of what
    creating a run's sandbox cost (measured with py-spy). ``compileall`` writes it whatever
    PYTHONDONTWRITEBYTECODE says; where the code is read-only, runs compile as before.
    """
    workflows = Path(__file__).parent
    compileall.compile_file(workflows.parent / "__init__.py", quiet=2)
    compileall.compile_dir(workflows, maxlevels=0, quiet=2)
