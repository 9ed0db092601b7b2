"""What the read-model benchmark measures with: process CPU and memory from /proc, latency
percentiles, an open-loop request pacer, and bulk item seeding straight into the database.

Seeding goes around the service on purpose: creating 20,000 items through CreateItem would
measure CreateItem, not the batch.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bubble_shared.store import create_engine
from bubble_shared.store.models import Item, ItemImage

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and of its children that it has waited for."""
    fields = _stat_fields(pid)
    # utime, stime, cutime, cstime (fields 14-17 of /proc/<pid>/stat, 1-based).
    return sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of the process and of its live descendants (a worker's analysis pool)."""
    return sum(cpu_seconds(child) for child in [pid, *descendants(pid)])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES


def tree_rss_bytes(pid: int) -> int:
    return sum(rss_bytes(child) for child in [pid, *descendants(pid)])


def descendants(pid: int) -> list[int]:
    """Every live descendant, whichever thread started it (a worker's analysis pool is spawned
    from an activity thread: the main thread's ``children`` file does not list it)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        kids: list[int] = []
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids += [int(kid) for kid in task.read_text().split()]
            except OSError:
                continue
        found.extend(kids)
        pending.extend(kids)
    return found


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may contain spaces; it ends at the last ")".
        return stat.read().rsplit(")", 1)[1].split()


@dataclass(frozen=True)
class Latencies:
    samples_ms: Sequence[float]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    def row(self, name: str) -> str:
        return (
            f"| {name} | {len(self.samples_ms)} | {self.percentile(0.0):.2f} | {self.median:.2f} "
            f"| {self.percentile(0.99):.2f} | {max(self.samples_ms):.2f} |"
        )


async def paced(
    call: Callable[[], Awaitable[object]], *, per_second: float, seconds: float
) -> Latencies:
    """Calls ``call`` open-loop at ``per_second`` for ``seconds`` (a slow answer never delays
    the next call), and returns each call's latency."""
    samples: list[float] = []

    async def timed() -> None:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)

    tasks = []
    start = time.perf_counter()
    for index in range(int(per_second * seconds)):
        delay = start + index / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed()))
    await asyncio.gather(*tasks)
    return Latencies(samples)


def seed_items(database_url: str, *, owner_id: str, count: int, image_uri: str) -> list[str]:
    """Inserts ``count`` PENDING items of one image each, oldest first; their IDs."""
    return seed_items_with_images(database_url, owner_id=owner_id, images=[[image_uri]] * count)


def seed_items_with_images(
    database_url: str, *, owner_id: str, images: Sequence[Sequence[str]]
) -> list[str]:
    """Inserts one PENDING item per entry of ``images`` (its image URIs), oldest first; their
    IDs."""
    count = len(images)
    engine = create_engine(database_url)
    base = datetime.now(UTC) - timedelta(days=1)
    ids = [f"{owner_id}-{index:07d}-{uuid.uuid4().hex[:6]}" for index in range(count)]
    try:
        for start in range(0, count, 5000):
            chunk = ids[start : start + 5000]
            with engine.begin() as connection:
                connection.execute(
                    insert(Item),
                    [
                        {
                            "item_id": item_id,
                            "owner_id": owner_id,
                            "title": "Benchmark item",
                            "description": "",
                            "status": "PENDING",
                            "create_time": base + timedelta(microseconds=start + offset),
                            "update_time": base,
                            "version": 1,
                        }
                        for offset, item_id in enumerate(chunk)
                    ],
                )
                connection.execute(
                    insert(ItemImage),
                    [
                        {
                            "image_id": uuid.uuid4().hex,
                            "item_id": item_id,
                            "position": position,
                            "uri": uri,
                            "filename": "",
                            "content_type": "image/jpeg",
                            "size_bytes": 0,
                        }
                        for offset, item_id in enumerate(chunk)
                        for position, uri in enumerate(images[start + offset])
                    ],
                )
    finally:
        engine.dispose()
    return ids
