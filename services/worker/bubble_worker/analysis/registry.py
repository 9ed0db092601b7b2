"""Named analysers, and the entry point worker processes use to run one by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Protocol

from bubble.processing.v1 import analysis_pb2
from bubble_worker.analysis.pillow_analyzer import PillowAnalyzer


class Analyzer(Protocol):
    """Turns one image file into an ImageAnalysis.

    An interface so that another implementation (e.g. a model-based one) can be added to
    :data:`ANALYZERS` without touching the activities that call it.
    """

    @property
    def name(self) -> str:
        """Stable identifier, e.g. "pillow"; stored as ImageAnalysis.analyzer_name."""
        ...

    @property
    def version(self) -> str:
        """Semantic version; with ``name`` and the file's sha256 it keys the analysis cache, so
        it must change whenever results change."""
        ...

    def analyze(self, *, image_id: str, path: Path, media_root: Path) -> analysis_pb2.ImageAnalysis:
        """Analyses the file at ``path``; thumbnails go under ``media_root``.

        Raises ImageRejectedError when the file can never be analysed; any other exception is
        a bug or an infrastructure failure that a retry may fix.
        """
        ...


DEFAULT_ANALYZER: Final = "pillow"

ANALYZERS: Final[Mapping[str, Callable[[], Analyzer]]] = {"pillow": PillowAnalyzer}
"""Every analyser by name. A static table rather than run-time registration, because worker
processes of a process pool import this module afresh and would not see registrations."""


def get_analyzer(name: str = "") -> Analyzer:
    """The analyser called ``name``, or the default one for "".

    Raises ValueError naming the known analysers for any other name (a configuration error).
    """
    key = name or DEFAULT_ANALYZER
    factory = ANALYZERS.get(key)
    if factory is None:
        known = ", ".join(sorted(ANALYZERS))
        raise ValueError(f"unknown image analyser {name!r}; known analysers: {known}")
    return factory()


def analyze_image_file(analyzer_name: str, image_id: str, path: str, media_root: str) -> bytes:
    """Runs an analyser in a worker process: ImageAnalysis.SerializeToString() of the result.

    Takes and returns only plain values, so ProcessPoolExecutor can pickle the call and its
    result cheaply; ImageRejectedError pickles too and is raised again in the caller.
    """
    analysis = get_analyzer(analyzer_name).analyze(
        image_id=image_id, path=Path(path), media_root=Path(media_root)
    )
    serialized: bytes = analysis.SerializeToString(deterministic=True)
    return serialized
