import importlib.util
from pathlib import Path

import bubble_worker
from bubble_worker.workflows import item
from bubble_worker.workflows.runner import write_workflow_bytecode


def test_the_modules_every_run_imports_get_their_bytecode_written() -> None:
    compiled = [
        Path(importlib.util.cache_from_source(module.__file__ or ""))
        for module in (item, bubble_worker)
    ]
    for path in compiled:
        path.unlink(missing_ok=True)

    write_workflow_bytecode()

    assert all(path.is_file() for path in compiled), compiled
