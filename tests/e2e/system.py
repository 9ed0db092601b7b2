"""What an end-to-end test gets: where the running system is, and images to give it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from bubble_worker.analysis.synthetic import photo_like


@dataclass(frozen=True)
class System:
    target: str
    """host:port of the gRPC service."""
    media_root: Path


def jpeg(seed: int, size: tuple[int, int] = (800, 600)) -> bytes:
    buffer = io.BytesIO()
    photo_like(size, seed=seed).save(buffer, "JPEG", quality=88)
    return buffer.getvalue()
