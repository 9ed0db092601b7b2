"""Free loopback ports for servers that tests start (each test file runs in its own sandbox,
in parallel with others, so fixed ports would collide)."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 just now: all are bound at once, then released."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    [port] = free_ports(1)
    return port
