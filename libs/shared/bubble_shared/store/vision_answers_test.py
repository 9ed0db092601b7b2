"""Cached vision-model answers: a miss is None, the first writer wins, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from bubble.processing.v1 import analysis_pb2
from bubble_shared.store import VisionAnswerCache
from bubble_shared.store.conftest import FakeClock

KEY = "ab" * 32


def answer(title: str) -> analysis_pb2.ItemSuggestions:
    return analysis_pb2.ItemSuggestions(
        title=title, category="Shoes", tags=["sneakers"], attributes={"brand": "Nike"}
    )


def test_a_miss_then_a_hit_then_the_first_writer_wins(engine: Engine, clock: FakeClock) -> None:
    answers = VisionAnswerCache(engine, clock=clock)
    assert answers.get_answer(KEY) is None

    answers.put_answer(KEY, model="llava", prompt_version="1", answer=answer("Red sneakers"))
    answers.put_answer(KEY, model="llava", prompt_version="1", answer=answer("Other"))

    assert answers.get_answer(KEY) == answer("Red sneakers")
    assert answers.get_answer("cd" * 32) is None
