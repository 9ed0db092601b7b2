"""Starting the server: a failure part-way leaves nothing listening behind."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from temporalio.testing import WorkflowEnvironment

from bubble_service.server import start
from bubble_service.settings import ServiceSettings
from bubble_shared.testing.ports import free_port


async def test_a_taken_metrics_port_fails_the_start_and_releases_the_grpc_port(
    settings: ServiceSettings, dev_server: WorkflowEnvironment
) -> None:
    grpc_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broken = dataclasses.replace(settings, port=grpc_port, metrics_port=taken.getsockname()[1])

        with pytest.raises(OSError, match="in use"):
            await start(broken, client=dev_server.client)

    with socket.socket() as again:
        again.bind(("127.0.0.1", grpc_port))  # nothing kept the gRPC port
