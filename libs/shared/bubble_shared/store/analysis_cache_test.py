"""The analysis cache: first writer wins, races are harmless, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bubble.processing.v1 import analysis_pb2
from bubble_shared.store import AnalysisCache

SHA = "ab" * 32
KEY = {"sha256": SHA, "analyzer_name": "bubble-pillow", "analyzer_version": "1.0.0"}


def analysis(width: int) -> analysis_pb2.ImageAnalysis:
    return analysis_pb2.ImageAnalysis(
        sha256=SHA,
        format="JPEG",
        width=width,
        height=10,
        analyzer_name="bubble-pillow",
        analyzer_version="1.0.0",
        dominant_colors=[analysis_pb2.ColorSwatch(hex="#000080", name="navy", fraction=0.5)],
    )


def test_a_missing_entry_is_none(cache: AnalysisCache) -> None:
    assert cache.get_cached_analysis(**KEY) is None


def test_put_then_get(cache: AnalysisCache) -> None:
    cache.put_cached_analysis(**KEY, analysis=analysis(10))

    assert cache.get_cached_analysis(**KEY) == analysis(10)


def test_the_key_includes_analyzer_name_and_version(cache: AnalysisCache) -> None:
    cache.put_cached_analysis(**KEY, analysis=analysis(10))

    assert cache.get_cached_analysis(**{**KEY, "analyzer_version": "2.0.0"}) is None
    assert cache.get_cached_analysis(**{**KEY, "analyzer_name": "other"}) is None
    assert cache.get_cached_analysis(**{**KEY, "sha256": "cd" * 32}) is None


def test_the_first_writer_wins(cache: AnalysisCache) -> None:
    cache.put_cached_analysis(**KEY, analysis=analysis(10))
    cache.put_cached_analysis(**KEY, analysis=analysis(20))

    assert cache.get_cached_analysis(**KEY) == analysis(10)


def test_concurrent_puts_of_one_key_do_not_fail(cache: AnalysisCache) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def put(width: int) -> None:
        barrier.wait()
        cache.put_cached_analysis(**KEY, analysis=analysis(width))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, range(1, threads + 1)))

    cached = cache.get_cached_analysis(**KEY)
    assert cached is not None
    assert cached.width in range(1, threads + 1)


def test_an_items_images_are_looked_up_and_stored_at_once(cache: AnalysisCache) -> None:
    names = {"analyzer_name": "bubble-pillow", "analyzer_version": "1.0.0"}
    cache.put_cached_analysis(**KEY, analysis=analysis(10))
    others = {"cd" * 32: analysis(30), "ef" * 32: analysis(40)}

    cache.put_cached_analyses({**others, SHA: analysis(20)}, **names)

    found = cache.get_cached_analyses([SHA, *others, "00" * 32], **names)
    assert found == {SHA: analysis(10), **others}  # the first writer of SHA still wins
    assert cache.get_cached_analyses([], **names) == {}
    assert cache.get_cached_analyses(list(others), **{**names, "analyzer_version": "2"}) == {}
