"""Cached vision-model answers: asking the model again about the same pictures, text, model and
prompt costs money and rate-limit slots and gives nothing new."""

from __future__ import annotations

from bubble.processing.v1 import analysis_pb2
from bubble_shared.store.dialects import insert_or_ignore
from bubble_shared.store.models import VisionModelAnswer
from bubble_shared.store.sessions import StoreBase


class VisionAnswerCache(StoreBase):
    """Validated model answers (ItemSuggestions with the model's fields only) by cache key."""

    def get_answer(self, cache_key: str) -> analysis_pb2.ItemSuggestions | None:
        with self._reads.begin() as session:
            row = session.get(VisionModelAnswer, cache_key)
            if row is None:
                return None
            return analysis_pb2.ItemSuggestions.FromString(row.answer)

    def put_answer(
        self,
        cache_key: str,
        *,
        model: str,
        prompt_version: str,
        answer: analysis_pb2.ItemSuggestions,
    ) -> None:
        """Caches the answer unless the key is cached already (the first writer wins: two
        answers to the same question are equally good)."""
        with self._writes.begin() as session:
            insert_or_ignore(
                session,
                VisionModelAnswer,
                {
                    "cache_key": cache_key,
                    "model": model,
                    "prompt_version": prompt_version,
                    "answer": answer.SerializeToString(deterministic=True),
                    "create_time": self._now(),
                },
                conflict_columns=("cache_key",),
                returning=VisionModelAnswer.cache_key,
            )
