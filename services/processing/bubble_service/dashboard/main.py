"""The dashboard process: ``python -m bubble_service.dashboard.main`` (or the ``dashboard`` PEX).

Reads and validates its settings (exit 2 listing every problem), serves until SIGTERM or SIGINT,
then stops: open pages' progress streams get SHUTDOWN_GRACE_SECONDS to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn

from bubble_service.dashboard.app import create_app
from bubble_service.dashboard.settings import DashboardSettings
from bubble_shared.process import StartupError, run_process

SHUTDOWN_GRACE_SECONDS = 3
log = logging.getLogger("bubble_dashboard")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: ``run_process`` owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(settings: DashboardSettings, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    try:
        # Bound here, not by uvicorn (which exits the process when it cannot bind).
        socket = config.bind_socket()
    except (OSError, SystemExit) as err:
        raise StartupError(
            f"the dashboard cannot listen on {settings.host}:{settings.port}: {err}"
        ) from None
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[socket]))
    log.info("dashboard on http://%s:%s", settings.host, settings.port)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


def main() -> None:
    run_process("bubble-dashboard", DashboardSettings.from_env, run)


if __name__ == "__main__":
    main()
