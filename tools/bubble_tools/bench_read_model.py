"""Measures the read model on the whole stack: ``./pants run tools:bench-read-model``.

Starts the dev stack (Temporal dev server, worker, gRPC service) in a scratch folder and measures,
in one run:

1. status reads: GetStatus against GetItem (both database reads), open-loop at a fixed rate;
2. idle watches: the CPU of the service, Temporal and the worker with N WatchStatus streams open
   on runs that do not change, against the same stack with none;
3. a large batch selected by a selector, against independent StartItemProcessing runs of the same
   worker and server: runs per second, the batch's open runs over time (the window must not dip
   at continue-as-new), worker memory over time, history length of each batch execution.

Every item of the batch phases shares one small JPEG, so the analysis cache answers for all but
the first: those phases measure orchestration (Temporal, the workflows, the database), which is
what the read model changes; the analyser has its own benchmark (tools:bench-decode).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf.duration_pb2 import Duration
from temporalio.client import Client

from bubble.processing.v1 import item_pb2, run_pb2, service_pb2, service_pb2_grpc
from bubble_shared.store import BatchWindows, create_engine
from bubble_shared.temporal.converter import DATA_CONVERTER
from bubble_tools import bench_probes as probes
from bubble_tools.dev_stack import Ports, Stack, running_stack
from bubble_tools.exiting import run_then_exit
from bubble_worker.analysis.synthetic import photo_like

# The async stub type exists only in the type stubs (the runtime class serves both).
if TYPE_CHECKING:
    Stub: TypeAlias = service_pb2_grpc.ItemProcessingServiceAsyncStub
else:
    Stub = service_pb2_grpc.ItemProcessingServiceStub


def _shared_image(stack: Stack) -> str:
    buffer = io.BytesIO()
    photo_like((640, 480), seed=5).save(buffer, "JPEG", quality=85)
    (stack.media_root / "bench").mkdir(parents=True, exist_ok=True)
    (stack.media_root / "bench" / "shared.jpg").write_bytes(buffer.getvalue())
    return "bench/shared.jpg"


async def status_reads(
    stub: Stub, item_ids: Sequence[str], rate: float, seconds: float
) -> dict[str, Any]:
    """GetItem and GetStatus in alternating one-second windows at ``rate`` reads per second."""
    reads = {"GetItem": [], "GetStatus": []}  # type: dict[str, list[float]]
    counter = iter(range(10**9))

    async def get_item() -> None:
        item_id = item_ids[next(counter) % len(item_ids)]
        await stub.GetItem(
            service_pb2.GetItemRequest(item_id=item_id, view=item_pb2.ITEM_VIEW_BASIC)
        )

    async def get_status() -> None:
        await stub.GetStatus(
            service_pb2.GetStatusRequest(item_id=item_ids[next(counter) % len(item_ids)])
        )

    for _ in range(int(seconds)):
        for name, call in (("GetItem", get_item), ("GetStatus", get_status)):
            reads[name].extend((await probes.paced(call, per_second=rate, seconds=1.0)).samples_ms)
    item, status = probes.Latencies(reads["GetItem"]), probes.Latencies(reads["GetStatus"])
    return {
        "rate_per_second": rate,
        "rows": [item.row("GetItem"), status.row("GetStatus")],
        "median_ratio": status.median / item.median,
        "get_status_p99_ms": status.percentile(0.99),
    }


async def idle_watches(
    stub: Stub, stack: Stack, item_ids: Sequence[str], seconds: float
) -> dict[str, Any]:
    """CPU of every process with no watch open, then with one watch per item (runs that wait
    on a one-day start delay, so nothing changes)."""
    for item_id in item_ids:
        await stub.StartItemProcessing(
            service_pb2.StartItemProcessingRequest(
                item_id=item_id, start_delay=Duration(seconds=86400)
            )
        )
    await asyncio.sleep(3)
    baseline = _cores(stack, seconds)
    calls = [
        stub.WatchStatus(service_pb2.WatchStatusRequest(item_id=item_id)) for item_id in item_ids
    ]
    for call in calls:
        await call.read()  # the first snapshot: the stream is open
    await asyncio.sleep(3)
    watched = _cores(stack, seconds)
    for call in calls:
        call.cancel()
    for item_id in item_ids:
        await stub.CancelProcessing(service_pb2.CancelProcessingRequest(item_id=item_id))
    return {
        "streams": len(item_ids),
        "cores_without": baseline,
        "cores_with": watched,
        "extra_cores": round(sum(watched.values()) - sum(baseline.values()), 4),
    }


def _cores(stack: Stack, seconds: float) -> dict[str, float]:
    pids = {name: process.pid for name, process in stack.processes}
    before = {name: probes.tree_cpu_seconds(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    return {
        name: round((probes.tree_cpu_seconds(pid) - before[name]) / seconds, 4)
        for name, pid in pids.items()
    }


async def independent_runs(stub: Stub, item_ids: Sequence[str], window: int) -> dict[str, Any]:
    """StartItemProcessing for each item from ``window`` concurrent callers, each starting its
    next item as soon as its last run has ended (watched with WatchStatus): the same bound on
    open runs as the batch."""
    pending = list(item_ids)

    async def caller() -> None:
        while pending:
            item_id = pending.pop()
            await stub.StartItemProcessing(service_pb2.StartItemProcessingRequest(item_id=item_id))
            # As a client waits for a run: one watch stream until the terminal snapshot.
            async for _ in stub.WatchStatus(service_pb2.WatchStatusRequest(item_id=item_id)):
                pass

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(window)))
    elapsed = time.perf_counter() - started
    return {
        "items": len(item_ids),
        "seconds": round(elapsed, 1),
        "runs_per_second": round(len(item_ids) / elapsed, 2),
    }


async def selected_batch(
    stub: Stub, client: Client, stack: Stack, owner_id: str, window: int
) -> dict[str, Any]:
    started = time.perf_counter()
    response = await stub.StartBatchProcessing(
        service_pb2.StartBatchProcessingRequest(
            selector=item_pb2.ItemSelector(owner_id=owner_id), max_concurrency=window
        )
    )
    accepted_ms = (time.perf_counter() - started) * 1000
    worker = {name: process.pid for name, process in stack.processes}["worker"]
    windows = BatchWindows(create_engine(stack.database_url))
    timeline = []
    while True:
        batch = (
            await stub.GetStatus(service_pb2.GetStatusRequest(batch_id=response.batch_id))
        ).batch_run
        done = batch.progress.succeeded + batch.progress.failed + batch.progress.skipped
        # Open runs as the batch itself counts them (its runs that have not ended, notifying
        # included), read from the database; "running" is members whose outcome is not written.
        open_runs = len(await asyncio.to_thread(windows.open_runs, response.batch_id))
        timeline.append(
            {
                "t": round(time.perf_counter() - started, 1),
                "done": done,
                "open_runs": open_runs,
                "running": batch.progress.running,
                "executions": batch.continued_as_new_count + 1,
                "worker_rss_mb": round(probes.tree_rss_bytes(worker) / 2**20, 1),
            }
        )
        if batch.state not in (run_pb2.RUN_STATE_QUEUED, run_pb2.RUN_STATE_RUNNING):
            break
        await asyncio.sleep(2)
    elapsed = time.perf_counter() - started
    histories = [
        execution.history_length
        async for execution in client.list_workflows(f"WorkflowId = '{response.workflow_id}'")
    ]
    return {
        "items": batch.progress.total,
        "accepted_in_ms": round(accepted_ms, 1),
        "seconds": round(elapsed, 1),
        "runs_per_second": round(batch.progress.total / elapsed, 2),
        "state": run_pb2.RunState.Name(batch.state),
        "succeeded": batch.progress.succeeded,
        "executions": len(histories),
        "largest_history_events": max(histories, default=0),
        "window": window_summary(timeline, window),
        "timeline": timeline,
    }


def window_summary(timeline: list[dict[str, Any]], window: int) -> dict[str, Any]:
    """How full the window (the batch's open runs) stayed once ramped up, and at each
    continue-as-new: the samples from the first full window until the members run out (the last
    window's worth of items)."""
    total = timeline[-1]["done"] if timeline else 0
    steady = [sample for sample in timeline if sample["t"] > 0 and sample["done"] < total - window]
    first_full = next(
        (index for index, sample in enumerate(steady) if sample["open_runs"] >= window * 0.9), None
    )
    steady = steady[first_full:] if first_full is not None else []
    running = sorted(sample["open_runs"] for sample in steady)
    boundaries = [
        min(before["open_runs"], after["open_runs"])
        for before, after in itertools.pairwise(steady)
        if after["executions"] != before["executions"]
    ]
    return {
        "samples": len(running),
        "median_open_runs": running[len(running) // 2] if running else 0,
        "lowest_open_runs": running[0] if running else 0,
        "share_under_80_percent": round(
            sum(1 for value in running if value < 0.8 * window) / len(running), 3
        )
        if running
        else 0.0,
        "open_runs_at_continue_as_new": boundaries,
    }


async def accept_large_selection(
    stub: Stub, stack: Stack, count: int, image: str
) -> dict[str, Any]:
    """How long StartBatchProcessing takes for a selector of ``count`` items (then cancelled)."""
    probes.seed_items(stack.database_url, owner_id="bench-million", count=count, image_uri=image)
    request = service_pb2.StartBatchProcessingRequest(
        selector=item_pb2.ItemSelector(owner_id="bench-million")
    )
    started = time.perf_counter()
    response = await stub.StartBatchProcessing(request)
    accepted_ms = (time.perf_counter() - started) * 1000
    await stub.CancelProcessing(service_pb2.CancelProcessingRequest(batch_id=response.batch_id))
    return {"items": response.accepted_item_count, "accepted_in_ms": round(accepted_ms, 1)}


async def _bench(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    image = _shared_image(stack)
    client = await Client.connect(
        f"127.0.0.1:{stack.ports.temporal}", data_converter=DATA_CONVERTER
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.ports.grpc}") as channel:
        stub: Stub = service_pb2_grpc.ItemProcessingServiceStub(channel)
        results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores"}
        reads = probes.seed_items(
            stack.database_url, owner_id="bench-reads", count=200, image_uri=image
        )
        batch = await stub.StartBatchProcessing(
            service_pb2.StartBatchProcessingRequest(item_ids=reads)
        )
        while (
            await stub.GetStatus(service_pb2.GetStatusRequest(batch_id=batch.batch_id))
        ).batch_run.state in (run_pb2.RUN_STATE_QUEUED, run_pb2.RUN_STATE_RUNNING):
            await asyncio.sleep(1)
        results["status_reads"] = await status_reads(stub, reads, args.read_rate, args.read_seconds)
        watched = probes.seed_items(
            stack.database_url, owner_id="bench-watch", count=args.watches, image_uri=image
        )
        results["idle_watches"] = await idle_watches(stub, stack, watched, args.cpu_seconds)
        independent = probes.seed_items(
            stack.database_url, owner_id="bench-single", count=args.independent, image_uri=image
        )
        results["independent"] = await independent_runs(stub, independent, args.window)
        probes.seed_items(
            stack.database_url, owner_id="bench-batch", count=args.batch_items, image_uri=image
        )
        results["batch"] = await selected_batch(stub, client, stack, "bench-batch", args.window)
        if args.selector_items:
            results["large_selection"] = await accept_large_selection(
                stub, stack, args.selector_items, image
            )
        results["batch_vs_independent"] = round(
            results["batch"]["runs_per_second"] / results["independent"]["runs_per_second"], 3
        )
    return results


def _bench_and_report(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_stack(
            Path(scratch),
            Ports(
                temporal=17233,
                ui=18233,
                grpc=15051,
                codec=18081,
                worker_metrics=19464,
                service_metrics=19465,
                dashboard=18080,
            ),
        ) as stack,
    ):
        results = asyncio.run(_bench(args, stack))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: value for key, value in results.items() if key != "batch"}, indent=2))
    print(json.dumps({k: v for k, v in results["batch"].items() if k != "timeline"}, indent=2))
    print(f"timeline and all figures: {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch-items", type=int, default=20_000)
    parser.add_argument("--independent", type=int, default=3_000)
    parser.add_argument("--window", type=int, default=50, help="open runs at once (both ways)")
    parser.add_argument("--watches", type=int, default=100)
    parser.add_argument(
        "--selector-items", type=int, default=1_000_000, help="items of the acceptance check"
    )
    parser.add_argument("--read-rate", type=float, default=200.0)
    parser.add_argument("--read-seconds", type=float, default=10.0)
    parser.add_argument("--cpu-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("dist/bench-read-model.json"))
    args = parser.parse_args(argv)
    run_then_exit("bench-read-model", lambda: _bench_and_report(args))


if __name__ == "__main__":
    main()
