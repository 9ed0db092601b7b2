"""The analysis cache: an image's analysis by the sha256 of its bytes and the analyser version.

The same bytes are never analysed twice by one analyser version, whichever item they belong to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import select

from bubble.processing.v1 import analysis_pb2
from bubble_shared.store.dialects import insert_or_ignore
from bubble_shared.store.models import AnalysisCacheEntry
from bubble_shared.store.sessions import StoreBase


class AnalysisCache(StoreBase):
    """Cached image analyses; ``clock`` stamps each entry's create_time.

    An item's images are looked up in one query and stored in one transaction: one round trip
    each per item, not per image.
    """

    def get_cached_analysis(
        self, *, sha256: str, analyzer_name: str, analyzer_version: str
    ) -> analysis_pb2.ImageAnalysis | None:
        """The cached analysis of these bytes by this analyser version, or None."""
        found = self.get_cached_analyses(
            [sha256], analyzer_name=analyzer_name, analyzer_version=analyzer_version
        )
        return found.get(sha256)

    def get_cached_analyses(
        self, sha256s: Collection[str], *, analyzer_name: str, analyzer_version: str
    ) -> dict[str, analysis_pb2.ImageAnalysis]:
        """The cached analyses among these files' bytes by this analyser version, by sha256."""
        if not sha256s:
            return {}
        with self._reads.begin() as session:
            rows = session.execute(
                select(AnalysisCacheEntry.sha256, AnalysisCacheEntry.analysis).where(
                    AnalysisCacheEntry.analyzer_name == analyzer_name,
                    AnalysisCacheEntry.analyzer_version == analyzer_version,
                    AnalysisCacheEntry.sha256.in_(set(sha256s)),
                )
            )
            return {sha256: analysis_pb2.ImageAnalysis.FromString(data) for sha256, data in rows}

    def put_cached_analysis(
        self,
        *,
        sha256: str,
        analyzer_name: str,
        analyzer_version: str,
        analysis: analysis_pb2.ImageAnalysis,
    ) -> None:
        """Caches an analysis unless the key is cached already (the first writer wins)."""
        self.put_cached_analyses(
            {sha256: analysis}, analyzer_name=analyzer_name, analyzer_version=analyzer_version
        )

    def put_cached_analyses(
        self,
        analyses: Mapping[str, analysis_pb2.ImageAnalysis],
        *,
        analyzer_name: str,
        analyzer_version: str,
    ) -> None:
        """Caches analyses by sha256 in one transaction; a key cached already keeps its entry.

        Analysis is deterministic per (bytes, analyser version), so a concurrent writer of the
        same key holds an equivalent result and losing the race is harmless.
        """
        if not analyses:
            return
        now = self._now()
        with self._writes.begin() as session:
            for sha256, analysis in analyses.items():
                insert_or_ignore(
                    session,
                    AnalysisCacheEntry,
                    {
                        "sha256": sha256,
                        "analyzer_name": analyzer_name,
                        "analyzer_version": analyzer_version,
                        "analysis": analysis.SerializeToString(deterministic=True),
                        "create_time": now,
                    },
                    conflict_columns=("sha256", "analyzer_name", "analyzer_version"),
                    returning=AnalysisCacheEntry.sha256,
                )
