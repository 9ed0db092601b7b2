"""The service process: ``python -m bubble_service.main`` (or the ``service`` PEX).

Reads and validates its settings (exit 2 listing every problem), migrates nothing (run
``bubble_shared.store.migrate`` first), serves until SIGTERM or SIGINT, then stops gracefully
(see ``server.Service.stop``) and exits 0.
"""

from __future__ import annotations

import asyncio
import logging

from bubble_service.server import start
from bubble_service.settings import ServiceSettings
from bubble_shared.process import run_process

log = logging.getLogger("bubble_service")


async def run(settings: ServiceSettings, stop: asyncio.Event) -> None:
    service = await start(settings)
    try:
        await stop.wait()
        log.info("stopping: in-flight requests get up to %ss", settings.shutdown_grace_seconds)
    finally:
        await service.stop()


def main() -> None:
    run_process("bubble-service", ServiceSettings.from_env, run)


if __name__ == "__main__":
    main()
