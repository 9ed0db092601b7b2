"""Pytest hooks that end a test process with pytest's own exit status, and nothing else.

A process that used temporalio can abort while the interpreter shuts down, after every test
passed (exit 134, ``PyGILState_Release``; temporalio/sdk-python#300), about one run in ten here.
Once pytest has written its reports there is nothing left to do, so the last hook flushes and
leaves with ``os._exit``. Import both hooks into the ``conftest.py`` of each source root whose
tests use Temporal.
"""

from __future__ import annotations

import os
import sys

import pytest

_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status  # noqa: PLW0603 - pytest hands the status to this hook only
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status is None:
        return  # pytest stopped before a session ran (usage error): let it exit normally
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
