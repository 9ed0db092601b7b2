"""The service process: ``python -m bubble_service.main`` (or the ``service`` PEX).

Reads and validates its settings (exit 2 listing every problem), migrates nothing (run
``bubble_shared.store.migrate`` first), serves until SIGTERM or SIGINT, then stops gracefully
(see ``server.Service.stop``) and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from bubble_service.server import SchemaOutdatedError, start
from bubble_service.settings import ServiceSettings
from bubble_shared.log_format import configure_logging_from_env
from bubble_shared.settings import SettingsError

log = logging.getLogger("bubble_service")


async def run(settings: ServiceSettings, stop: asyncio.Event) -> None:
    service = await start(settings)
    try:
        await stop.wait()
        log.info("stopping: in-flight requests get up to %ss", settings.shutdown_grace_seconds)
    finally:
        await service.stop()


def main() -> None:
    try:
        configure_logging_from_env()
        settings = ServiceSettings.from_env()
    except SettingsError as err:
        print(f"bubble-service: {err}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(2)

    async def run_until_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    exit_code = 0
    try:
        asyncio.run(run_until_signal())
    except SchemaOutdatedError as err:
        print(f"bubble-service: {err}", file=sys.stderr)
        exit_code = 1
    except Exception:
        log.exception("service failed")
        exit_code = 1
    # temporalio can abort during interpreter shutdown (sdk-python#300); everything is closed.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


if __name__ == "__main__":
    main()
