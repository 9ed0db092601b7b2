import hashlib
from pathlib import Path

import pytest

from bubble_tools.bench_photos import per_item, write_phone_photos
from bubble_tools.bench_systems import ANALYSIS, Phase
from bubble_tools.bench_throughput import SYSTEMS, summary


def test_every_photo_has_bytes_of_its_own(tmp_path: Path) -> None:
    uris = write_phone_photos(tmp_path, "bench", 7, size=(320, 240))
    digests = {hashlib.sha256((tmp_path / uri).read_bytes()).hexdigest() for uri in uris}
    assert len(digests) == 7
    assert per_item(uris, 3) == [uris[0:3], uris[3:6]]


def _phase(system: str, items: int, seconds: float, analysis: float, rest: float) -> Phase:
    return Phase(system, items, items, seconds, {ANALYSIS: analysis, "the rest": rest})


def test_summary_compares_medians_of_rounds() -> None:
    alone, celery, ours, floor = SYSTEMS
    results = {
        floor: [_phase(floor, 60, seconds, 0.0, 2.0) for seconds in (2.0, 2.5, 3.0)],
        f"{floor} single": [_phase(floor, 1, 0.05, 0.0, 0.03)],
        alone: [_phase(alone, 60, seconds, 18.0, 0.0) for seconds in (9.0, 10.0, 12.0)],
        celery: [_phase(celery, 60, seconds, 18.0, 0.6) for seconds in (10.0, 11.0, 10.5)],
        ours: [_phase(ours, 60, seconds, 18.0, 6.0) for seconds in (13.0, 12.5, 20.0)],
        f"{alone} single": [_phase(alone, 1, 0.1, 0.3, 0.0)],
        f"{celery} single": [_phase(celery, 1, 0.4, 0.3, 0.0)],
        f"{ours} single": [_phase(ours, 1, 0.3, 0.3, 0.1)],
    }
    table, figures = summary(results)
    assert figures["ratios"]["ours_vs_compute_limit"] == pytest.approx(10.0 / 13.0)
    assert figures["ratios"]["ours_vs_celery"] == pytest.approx(10.5 / 13.0)
    assert figures["ratios"]["single_item_ours_vs_celery"] == pytest.approx(0.75)
    assert figures["medians"][ours]["orchestration_cpu_per_item"] == pytest.approx(0.1)
    assert figures["ratios"]["ours_orchestration_vs_temporal_floor"] == pytest.approx(3.0)
    assert f"| {ours} | 3.00 / 4.62 / 4.80 | 0.400 | 0.300 | 0.100 | 0.300 |" in table
