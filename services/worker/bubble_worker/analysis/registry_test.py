from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis import ImageRejectedError, analyze_image_file, get_analyzer


def test_default_analyzer_is_pillow() -> None:
    analyzer = get_analyzer()

    assert (analyzer.name, analyzer.version) == ("pillow", get_analyzer("pillow").version)


def test_unknown_analyzer_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown image analyser 'clip'.*pillow"):
        get_analyzer("clip")


def test_runs_in_a_process_pool(tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    Image.new("RGB", (120, 90), (10, 200, 10)).save(image)
    empty = tmp_path / "empty.jpg"
    empty.touch()
    media_root = tmp_path / "media"

    # "spawn" shares nothing with this process: arguments, results and errors must pickle.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(analyze_image_file, "", "img-1", str(image), str(media_root)).result()
        failure = pool.submit(analyze_image_file, "pillow", "img-2", str(empty), str(media_root))
        with pytest.raises(ImageRejectedError) as caught:
            failure.result()

    analysis = analysis_pb2.ImageAnalysis.FromString(result)
    assert (analysis.image_id, analysis.format, analysis.width) == ("img-1", "PNG", 120)
    assert all((media_root / t.uri).is_file() for t in analysis.thumbnails)
    assert (caught.value.code, caught.value.image_id, caught.value.reason) == (
        "IMAGE_CORRUPT",
        "img-2",
        "is empty (0 bytes)",
    )
