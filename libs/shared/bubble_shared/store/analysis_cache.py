"""The analysis cache: an image's analysis by the sha256 of its bytes and the analyser version.

The same bytes are never analysed twice by one analyser version, whichever item they belong to.
"""

from __future__ import annotations

from bubble.processing.v1 import analysis_pb2
from bubble_shared.store.dialects import insert_or_ignore
from bubble_shared.store.models import AnalysisCacheEntry
from bubble_shared.store.sessions import StoreBase


class AnalysisCache(StoreBase):
    """Cached image analyses; ``clock`` stamps each entry's create_time."""

    def get_cached_analysis(
        self, *, sha256: str, analyzer_name: str, analyzer_version: str
    ) -> analysis_pb2.ImageAnalysis | None:
        """The cached analysis of these bytes by this analyser version, or None."""
        with self._reads.begin() as session:
            row = session.get(AnalysisCacheEntry, (sha256, analyzer_name, analyzer_version))
            if row is None:
                return None
            return analysis_pb2.ImageAnalysis.FromString(row.analysis)

    def put_cached_analysis(
        self,
        *,
        sha256: str,
        analyzer_name: str,
        analyzer_version: str,
        analysis: analysis_pb2.ImageAnalysis,
    ) -> None:
        """Caches an analysis unless the key is cached already (the first writer wins).

        Analysis is deterministic per (bytes, analyser version), so a concurrent writer of the
        same key holds an equivalent result and losing the race is harmless.
        """
        with self._writes.begin() as session:
            insert_or_ignore(
                session,
                AnalysisCacheEntry,
                {
                    "sha256": sha256,
                    "analyzer_name": analyzer_name,
                    "analyzer_version": analyzer_version,
                    "analysis": analysis.SerializeToString(deterministic=True),
                    "create_time": self._now(),
                },
                conflict_columns=("sha256", "analyzer_name", "analyzer_version"),
                returning=AnalysisCacheEntry.sha256,
            )
