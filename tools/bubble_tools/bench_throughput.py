"""Ours against Celery and against the analyser alone, on the same items, in one run.

    ./pants run tools:bench-throughput                      # 60 items x 3 phone photos, 3 rounds
    ./pants run tools:bench-throughput -- --items 20 --rounds 1

Starts the dev stack (Temporal dev server, worker, gRPC service; SQLite) and a Celery worker
(prefork, Redis at --redis-url, by default the local one's database 15) in a scratch folder,
writes phone-size JPEGs of distinct bytes, and puts fresh items of them through each system in
interleaved rounds (the order rotates each round), the analysis cache emptied before every phase:

- the analyser alone, in a process pool of --processes: the compute limit;
- Celery, one task per item on --processes prefork processes: analyse, write, notify;
- ours: one batch of all the items (max_concurrency --window) over gRPC, waited for with
  WatchStatus, on a worker with --processes analysis processes;
- the Temporal floor: one workflow per item with our run's tasks and messages, every step doing
  nothing, --window at a time, on the same Temporal server (``bench_floor``): what Temporal and
  its SDK cost per item before our code does anything.

Each phase's CPU is read per role from /proc, so CPU per item splits into analysis and the rest
(orchestration). Single-item latency: one item at a time, --singles per round. Prints a table
(min/median/max over rounds, ratios of medians) and writes every figure to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bubble_shared.store import create_engine
from bubble_tools import bench_probes as probes
from bubble_tools.bench_celery_app import app as celery_app
from bubble_tools.bench_floor import FloorSystem
from bubble_tools.bench_photos import per_item, write_phone_photos
from bubble_tools.bench_systems import (
    ANALYSIS,
    AnalyserAlone,
    CeleryBaseline,
    Done,
    Ours,
    Phase,
    forget_analyses,
    timed,
)
from bubble_tools.dev_stack import Ports, Stack, running_stack
from bubble_tools.exiting import run_then_exit

BENCH_PORTS = Ports(
    temporal=27233,
    ui=28233,
    grpc=25051,
    codec=28081,
    worker_metrics=29464,
    service_metrics=29465,
    dashboard=28080,
)


class Bench:
    """The three systems on one stack, and fresh items for each phase."""

    def __init__(self, args: argparse.Namespace, stack: Stack, scratch: Path) -> None:
        self.args = args
        self.stack = stack
        uris = write_phone_photos(
            stack.media_root, "bench", args.items * args.images_per_item, size=args.photo_size
        )
        self.items = per_item(uris, args.images_per_item)
        self.alone = AnalyserAlone(
            processes=args.processes, media_root=stack.media_root, scratch=scratch / "alone"
        )
        self.engine = create_engine(stack.database_url)
        self.celery = CeleryBaseline(
            env={**stack.environment(), "BENCH_REDIS_URL": args.redis_url},
            engine=self.engine,
            concurrency=args.processes,
            log=scratch / "celery.log",
        )
        self.ours = Ours(stack=stack, engine=self.engine, window=args.window)
        self.floor = FloorSystem(stack=stack, window=args.window, log=scratch / "floor.log")
        self._seeded = 0

    def fresh(self, groups: Sequence[Sequence[str]]) -> list[str]:
        """New PENDING items of ``groups`` (image URIs), and an empty analysis cache."""
        self._seeded += 1
        forget_analyses(self.engine)
        return probes.seed_items_with_images(
            self.stack.database_url, owner_id=f"bench-{self._seeded:04d}", images=groups
        )

    def phase(self, system: str, groups: Sequence[Sequence[str]]) -> Phase:
        work: Callable[[], Done]
        if system == AnalyserAlone.name:
            forget_analyses(self.engine)
            roles, work = self.alone.roles(), lambda: self.alone.process(groups)
        elif system == FloorSystem.name:
            roles, work = self.floor.roles(), lambda: Done(self.floor.process(len(groups)))
        elif system == CeleryBaseline.name:
            ids = self.fresh(groups)
            roles, work = self.celery.roles(), lambda: self.celery.process(ids)
        else:
            ids = self.fresh(groups)
            roles, work = self.ours.roles(), lambda: self.ours.process(ids)
        return timed(system, roles, work, len(groups))

    def single(self, system: str, group: Sequence[str]) -> Phase:
        if system == Ours.name:
            (item_id,) = self.fresh([group])
            return timed(system, self.ours.roles(), lambda: self.ours.process_one(item_id), 1)
        return self.phase(system, [group])

    def close(self) -> None:
        for system in (self.alone, self.celery, self.ours, self.floor):
            system.close()
        self.engine.dispose()


SYSTEMS = (AnalyserAlone.name, CeleryBaseline.name, Ours.name, FloorSystem.name)


def run(bench: Bench, rounds: int, singles: int) -> dict[str, list[Phase]]:
    """Every system in every round, the order rotated; then ``singles`` one-item runs each."""
    phases: dict[str, list[Phase]] = {system: [] for system in SYSTEMS}
    latencies: dict[str, list[Phase]] = {system: [] for system in SYSTEMS}
    for system in SYSTEMS:  # warm-up: pools started, code imported, connections open
        bench.phase(system, bench.items[:2])
    for number in range(rounds):
        order = SYSTEMS[number % len(SYSTEMS) :] + SYSTEMS[: number % len(SYSTEMS)]
        for system in order:
            phase = bench.phase(system, bench.items)
            phases[system].append(phase)
            print(
                f"round {number + 1}: {system}: {phase.items_per_second:.2f} items/s, "
                f"{phase.cpu_per_item():.3f} CPU-s/item, {phase.processed}/{phase.items} processed",
                flush=True,
            )
        for index in range(singles):
            for system in order:
                latencies[system].append(bench.single(system, bench.items[index]))
    return {**phases, **{f"{system} single": found for system, found in latencies.items()}}


def spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def summary(results: dict[str, list[Phase]]) -> tuple[str, dict[str, Any]]:
    """The README's table and its ratios (medians over rounds)."""
    lines = [
        "| system | items/s min / median / max | CPU-s per item | analysis | the rest "
        "| single item, s (median) |",
        "|---|---|---|---|---|---|",
    ]
    medians: dict[str, dict[str, float]] = {}
    for system in SYSTEMS:
        phases, singles = results[system], results[f"{system} single"]
        rate = [phase.items_per_second for phase in phases]
        cpu = [phase.cpu_per_item() for phase in phases]
        rest = [phase.cpu_per_item(without=[ANALYSIS]) for phase in phases]
        latency = [phase.seconds for phase in singles]
        medians[system] = {
            "items_per_second": statistics.median(rate),
            "cpu_per_item": statistics.median(cpu),
            "orchestration_cpu_per_item": statistics.median(rest),
            "single_item_seconds": statistics.median(latency) if latency else float("nan"),
        }
        lines.append(
            f"| {system} | {spread(rate)} | {statistics.median(cpu):.3f} "
            f"| {statistics.median(cpu) - statistics.median(rest):.3f} "
            f"| {statistics.median(rest):.3f} | {medians[system]['single_item_seconds']:.3f} |"
        )
    ours, alone, celery, floor = (
        medians[system]
        for system in (Ours.name, AnalyserAlone.name, CeleryBaseline.name, FloorSystem.name)
    )
    ratios = {
        "ours_vs_compute_limit": ours["items_per_second"] / alone["items_per_second"],
        "ours_vs_celery": ours["items_per_second"] / celery["items_per_second"],
        "single_item_ours_vs_celery": ours["single_item_seconds"] / celery["single_item_seconds"],
        "ours_orchestration_vs_temporal_floor": ours["orchestration_cpu_per_item"]
        / floor["cpu_per_item"],
    }
    per_role, floor_per_role = (
        cpu_by_role(results[system]) for system in (Ours.name, FloorSystem.name)
    )
    lines += [
        "",
        f"ours / compute limit: {ratios['ours_vs_compute_limit']:.2f}; "
        f"ours / Celery: {ratios['ours_vs_celery']:.2f}; "
        f"single item, ours / Celery: {ratios['single_item_ours_vs_celery']:.2f}",
        "ours, CPU-s per item by role: "
        + ", ".join(f"{role} {cpu:.4f}" for role, cpu in per_role.items()),
        "the Temporal floor, CPU-s per item by role: "
        + ", ".join(f"{role} {cpu:.4f}" for role, cpu in floor_per_role.items())
        + "; ours' orchestration / the floor: "
        + f"{ratios['ours_orchestration_vs_temporal_floor']:.2f}",
    ]
    figures = {
        "medians": medians,
        "ratios": ratios,
        "ours_cpu_by_role": per_role,
        "temporal_floor_cpu_by_role": floor_per_role,
    }
    return "\n".join(lines), figures


def cpu_by_role(phases: Sequence[Phase]) -> dict[str, float]:
    """Median CPU-s per item of each role over ``phases``."""
    roles = sorted({role for phase in phases for role in phase.cpu})
    return {
        role: statistics.median(phase.cpu[role] / phase.items for phase in phases) for role in roles
    }


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def _bench_and_report(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_stack(Path(scratch) / "stack", BENCH_PORTS) as stack,
    ):
        bench = Bench(args, stack, Path(scratch))
        try:
            started = time.perf_counter()
            results = run(bench, args.rounds, args.singles)
        finally:
            bench.close()
    table, figures = summary(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": f"{os.cpu_count()} cores",
                "arguments": {k: v for k, v in vars(args).items() if k != "out"},
                "seconds": round(time.perf_counter() - started, 1),
                **figures,
                "phases": {
                    name: [phase.__dict__ | {"cpu": dict(phase.cpu)} for phase in phases]
                    for name, phases in results.items()
                },
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(table)
    print(f"every figure: {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--images-per-item", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--singles", type=int, default=3, help="one-item runs per round")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--window", type=int, default=16, help="the batch's max_concurrency")
    parser.add_argument("--photo-size", type=_size, default=(4032, 3024), help="WIDTHxHEIGHT")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--out", type=Path, default=Path("dist/bench-throughput.json"))
    args = parser.parse_args(argv)
    os.environ["ANALYSIS_PROCESSES"] = str(args.processes)
    celery_app.conf.update(broker_url=args.redis_url, result_backend=args.redis_url)
    run_then_exit("bench-throughput", lambda: _bench_and_report(args))


if __name__ == "__main__":
    main()
