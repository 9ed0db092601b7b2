"""The vision model's settings: all optional, and a half-configured model is refused."""

from __future__ import annotations

import pytest

from bubble_shared.settings import EnvReader, SettingsError
from bubble_worker.settings import Queues, WorkerSettings
from bubble_worker.vision.settings import VisionModelSettings


def read(environ: dict[str, str]) -> tuple[VisionModelSettings | None, list[str]]:
    env = EnvReader(environ)
    return VisionModelSettings.read(env), env.problems


def test_no_url_no_model() -> None:
    assert read({}) == (None, [])
    assert WorkerSettings.from_env({}).vision_model is None


def test_reads_every_variable() -> None:
    settings, problems = read(
        {
            "VISION_MODEL_URL": "http://localhost:11434/v1",
            "VISION_MODEL": "llava:13b",
            "VISION_MODEL_API_KEY": "sk-1",
            "VISION_MODEL_TIMEOUT_SECONDS": "30",
            "VISION_MODEL_MAX_REQUESTS_PER_SECOND": "0.5",
            "VISION_MODEL_MAX_IMAGES": "2",
            "VISION_MODEL_MAX_CONCURRENT_REQUESTS": "3",
            "VISION_MODEL_TASK_QUEUE": "models",
        }
    )

    assert problems == []
    assert settings == VisionModelSettings(
        url="http://localhost:11434/v1",
        model="llava:13b",
        api_key="sk-1",
        timeout_seconds=30,
        max_requests_per_second=0.5,
        max_images=2,
        max_concurrent_requests=3,
        task_queue="models",
    )


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"VISION_MODEL_URL": "http://m/v1"}, "VISION_MODEL_URL is set but VISION_MODEL is not"),
        ({"VISION_MODEL": "llava"}, "VISION_MODEL is set but VISION_MODEL_URL is not"),
        ({"VISION_MODEL_URL": "ftp://m", "VISION_MODEL": "x"}, "must be a URL starting with"),
        ({"VISION_MODEL_MAX_REQUESTS_PER_SECOND": "fast"}, "is not a number"),
        ({"VISION_MODEL_MAX_REQUESTS_PER_SECOND": "0"}, "is outside 0.001..10000"),
        ({"VISION_MODEL_TIMEOUT_SECONDS": "600"}, "is outside 1..120 seconds"),
        ({"VISION_MODEL_MAX_IMAGES": "0"}, "is outside 1..10"),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        WorkerSettings.from_env(environ)


def test_a_vision_model_worker_needs_a_model() -> None:
    with pytest.raises(SettingsError, match="WORKER_QUEUES=vision-model needs VISION_MODEL_URL"):
        WorkerSettings.from_env({"WORKER_QUEUES": "vision-model"})

    settings = WorkerSettings.from_env(
        {"WORKER_QUEUES": "vision-model", "VISION_MODEL_URL": "http://m/v1", "VISION_MODEL": "m"}
    )
    assert settings.queues is Queues.VISION_MODEL
    assert (settings.queues.runs_workflows, settings.queues.runs_analysis) == (False, False)
    assert settings.database_threads == 4
