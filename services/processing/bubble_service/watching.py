"""WatchStatus's engine: one shared poller for every watch stream of this process.

A stream registers what it watches (an item run, pinned to its run ID, or a batch) and waits. One
background task polls, every WATCH_POLL_INTERVAL_SECONDS (batches: at most once a second, the
coalescing service.proto promises), the row versions of every watched target: one indexed query
per kind, in IN lists of at most 500 IDs. It reads the full status only of the targets whose
version changed, once per target whatever the number of streams watching it, and hands that
snapshot to each of them. A stream keeps only the newest snapshot it has not sent yet, so a slow
client holds one snapshot in memory, never a growing queue, and skips what it could not send.

So N streams of one run cost one version query and at most one read per interval, and 1,000
streams of 50 targets the same two queries plus at most 50 reads.

Why not PostgreSQL LISTEN/NOTIFY: the version poll already costs two indexed queries per interval
whatever the number of streams, the same on SQLite (which has no NOTIFY) as on PostgreSQL.
NOTIFY would need a trigger or a NOTIFY in every writer's transaction (the worker's hot path) and
a dedicated connection per service process, and would gain only latency below the poll interval
(0.5 s), which no client of a status needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bubble_service.status import Snapshot, StatusReader, TargetKind

log = logging.getLogger(__name__)

BATCH_INTERVAL_SECONDS = 1.0
"""Batches change with every item: their snapshots are coalesced to at most one per second."""


@dataclass(frozen=True)
class WatchKey:
    """What a stream watches: an item run by run ID, or a batch by batch ID."""

    kind: TargetKind
    id: str

    @classmethod
    def of(cls, snapshot: Snapshot) -> WatchKey:
        if snapshot.item_run is not None:
            return cls("item", snapshot.item_run.run_id)
        assert snapshot.batch_run is not None
        return cls("batch", snapshot.batch_run.batch_id)


class Subscription:
    """One stream's mailbox: the newest snapshot it has not taken yet, and a wake-up."""

    def __init__(self, key: WatchKey, seen: Snapshot) -> None:
        self.key = key
        self.closed = False
        """Set when the server stops: the stream must end (UNAVAILABLE, reconnect)."""
        self._seen_version = seen.version
        self._newest: Snapshot | None = None
        self._changed = asyncio.Event()

    def offer(self, snapshot: Snapshot) -> None:
        """Replaces what the stream has not taken yet with ``snapshot``, if it is newer."""
        if snapshot.version > self._seen_version:
            self._newest = snapshot
            self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def next(self, timeout: float) -> Snapshot | None:
        """The newest snapshot since the last one taken; None when closed or after ``timeout``
        seconds without one."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        self._changed.clear()
        newest, self._newest = self._newest, None
        if newest is None or self.closed:
            return None
        self._seen_version = newest.version
        return newest


@dataclass
class _Watched:
    """A target with at least one stream: the newest snapshot the poller knows of it."""

    snapshot: Snapshot
    subscriptions: set[Subscription] = field(default_factory=set)


class WatchHub:
    """The registry of watched targets and the one task that polls them."""

    def __init__(self, reader: StatusReader, *, interval_seconds: float) -> None:
        self._reader = reader
        self._interval = interval_seconds
        self._batch_interval = max(interval_seconds, BATCH_INTERVAL_SECONDS)
        self._watched: dict[WatchKey, _Watched] = {}
        self._batches_polled = 0.0
        self._closed = False

    @property
    def watched(self) -> int:
        """Targets watched now (for tests and logs)."""
        return len(self._watched)

    @contextlib.contextmanager
    def subscribe(self, current: Snapshot) -> Iterator[Subscription]:
        """Registers a stream that has sent ``current``; unregisters it on exit."""
        key = WatchKey.of(current)
        subscription = Subscription(key, current)
        watched = self._watched.get(key)
        if watched is None:
            watched = self._watched[key] = _Watched(current)
        else:
            # The poller may already know a newer snapshot than the stream's own first read.
            subscription.offer(watched.snapshot)
        watched.subscriptions.add(subscription)
        if self._closed:
            subscription.close()
        try:
            yield subscription
        finally:
            watched.subscriptions.discard(subscription)
            if not watched.subscriptions and self._watched.get(key) is watched:
                del self._watched[key]

    async def run(self, stopping: asyncio.Event) -> None:
        """Polls until the server stops, then closes every stream's subscription."""
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=self._interval)
                if stopping.is_set():
                    break
                try:
                    await self.poll()
                except Exception:  # the database is down: streams wait, the next poll retries
                    log.warning("polling the watched runs failed", exc_info=True)
        finally:
            self.close()

    def close(self) -> None:
        self._closed = True
        for watched in list(self._watched.values()):
            for subscription in list(watched.subscriptions):
                subscription.close()

    async def poll(self) -> int:
        """One round: the versions of every watched target, then one read per changed target,
        handed to its streams. Returns the number of targets read."""
        batches_due = time.monotonic() - self._batches_polled >= self._batch_interval
        known = {key: watched.snapshot.version for key, watched in self._watched.items()}
        if not batches_due:
            known = {key: version for key, version in known.items() if key.kind == "item"}
        if not known:
            return 0
        if batches_due:
            self._batches_polled = time.monotonic()
        changed = await asyncio.to_thread(self._read_changed, known)
        for key, snapshot in changed.items():
            watched = self._watched.get(key)
            if watched is None or snapshot.version <= watched.snapshot.version:
                continue
            watched.snapshot = snapshot
            for subscription in watched.subscriptions:
                subscription.offer(snapshot)
        return len(changed)

    def _read_changed(self, known: dict[WatchKey, int]) -> dict[WatchKey, Snapshot]:
        """In a thread: the versions of ``known``, and the snapshots of those that changed."""
        run_ids = [key.id for key in known if key.kind == "item"]
        batch_ids = [key.id for key in known if key.kind == "batch"]
        run_versions, batch_versions = self._reader.versions(run_ids, batch_ids)
        changed: dict[WatchKey, Snapshot] = {}
        for key, version in known.items():
            current = (run_versions if key.kind == "item" else batch_versions).get(key.id)
            if current is None or current == version:
                continue
            snapshot = self._reader.load_run(key.id) if key.kind == "item" else (
                self._reader.load_batch(key.id)
            )
            if snapshot is not None:
                changed[key] = snapshot
        return changed
