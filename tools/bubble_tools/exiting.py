"""How the tools that use temporalio end: a failure in one line, then ``os._exit``.

Processes using temporalio can abort during interpreter shutdown (sdk-python#300), so these tools
flush their output and leave without it, with an exit code that says whether the work succeeded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


def run_then_exit(tool: str, work: Callable[[], object]) -> NoReturn:
    """Runs ``work``; exits 0, or 1 after printing "<tool> failed: <error>" to stderr."""
    exit_code = 0
    try:
        work()
    except Exception as err:  # reported, then a clean exit code
        print(f"{tool} failed: {err!r}", file=sys.stderr)
        exit_code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
