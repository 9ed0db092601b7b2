"""The life of a service process, the same for the worker and the gRPC service.

Read and validate the settings (exit 2 listing every problem), run until SIGTERM or SIGINT, let
``run`` stop gracefully, then leave with ``os._exit``: a process that used temporalio can abort
during interpreter shutdown (temporalio/sdk-python#300), after everything is already closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from bubble_shared.log_format import configure_logging_from_env
from bubble_shared.settings import SettingsError

Settings = TypeVar("Settings")

EXIT_FAILED = 1
EXIT_BAD_SETTINGS = 2


class StartupError(Exception):
    """The process cannot start, for a reason its message explains to the operator."""


def _leave(exit_code: int) -> NoReturn:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def run_process(
    name: str,
    read_settings: Callable[[], Settings],
    run: Callable[[Settings, asyncio.Event], Awaitable[None]],
) -> NoReturn:
    """Runs ``run(settings, stop)`` until a stop signal sets ``stop``; never returns."""
    try:
        configure_logging_from_env()
        settings = read_settings()
    except SettingsError as err:
        print(f"{name}: {err}", file=sys.stderr)
        _leave(EXIT_BAD_SETTINGS)

    async def run_until_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    exit_code = 0
    try:
        asyncio.run(run_until_signal())
    except StartupError as err:
        print(f"{name}: {err}", file=sys.stderr)
        exit_code = EXIT_FAILED
    except Exception:
        logging.getLogger(name).exception("%s failed", name)
        exit_code = EXIT_FAILED
    _leave(exit_code)
