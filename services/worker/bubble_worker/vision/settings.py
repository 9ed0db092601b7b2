"""Which vision model to ask and how fast: read with the worker's settings, all optional.

Without VISION_MODEL_URL nothing is asked and the image facts are the suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass

from bubble_shared.settings import EnvReader
from bubble_shared.temporal.names import DEFAULT_VISION_MODEL_TASK_QUEUE

MAX_TIMEOUT_SECONDS = 120.0
"""The activity's start-to-close timeout (policies.VISION_MODEL_START_TO_CLOSE) leaves room for
two requests of this length (the second without a JSON schema, for servers without one)."""


@dataclass(frozen=True)
class VisionModelSettings:
    url: str
    """Base URL of the Chat Completions API, usually ending in /v1."""
    model: str
    api_key: str | None = None
    timeout_seconds: float = 60.0
    max_requests_per_second: float = 1.0
    """Temporal's rate limit on the model's task queue, for all its workers together."""
    max_images: int = 3
    """Images sent per item: the cover first, then the next ones that are not duplicates."""
    max_concurrent_requests: int = 4
    """Requests one worker has in flight at once."""
    task_queue: str = DEFAULT_VISION_MODEL_TASK_QUEUE

    @classmethod
    def read(cls, env: EnvReader) -> VisionModelSettings | None:
        """The settings, or None when no model is configured (VISION_MODEL_URL unset)."""
        url = env.url("VISION_MODEL_URL", schemes=("http", "https"))
        model = env.optional_text("VISION_MODEL")
        api_key = env.optional_text("VISION_MODEL_API_KEY")
        timeout = env.seconds(
            "VISION_MODEL_TIMEOUT_SECONDS",
            cls.timeout_seconds,
            minimum=1,
            maximum=MAX_TIMEOUT_SECONDS,
        )
        rate = env.number(
            "VISION_MODEL_MAX_REQUESTS_PER_SECOND",
            cls.max_requests_per_second,
            minimum=0.001,
            maximum=10_000,
        )
        images = env.integer("VISION_MODEL_MAX_IMAGES", cls.max_images, minimum=1, maximum=10)
        concurrent = env.integer(
            "VISION_MODEL_MAX_CONCURRENT_REQUESTS",
            cls.max_concurrent_requests,
            minimum=1,
            maximum=1_000,
        )
        task_queue = env.text("VISION_MODEL_TASK_QUEUE", cls.task_queue)
        if url is None:
            if model is not None:
                env.problems.append(
                    "VISION_MODEL is set but VISION_MODEL_URL is not: set the URL of the model's"
                    " OpenAI-compatible API (e.g. http://localhost:11434/v1) or unset VISION_MODEL"
                )
            return None
        if model is None:
            env.problems.append(
                "VISION_MODEL_URL is set but VISION_MODEL is not: name the model to ask"
                " (e.g. llava or gpt-4o-mini)"
            )
            return None
        return cls(
            url=url,
            model=model,
            api_key=api_key,
            timeout_seconds=timeout,
            max_requests_per_second=rate,
            max_images=images,
            max_concurrent_requests=concurrent,
            task_queue=task_queue,
        )
