"""Reading settings from the environment, all at once, with every problem reported together.

A process that starts with a bad value should stop before it touches Temporal or the database and
say which variable is wrong, what it holds and what it should hold; listing every problem at once
saves a fix-restart cycle per variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bubble_shared.temporal.names import DEFAULT_ANALYSIS_TASK_QUEUE, DEFAULT_TASK_QUEUE

DEFAULT_DATABASE_URL = "sqlite:///.local/bubble.db"
DEFAULT_MEDIA_ROOT = ".local/media"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """One or more environment variables hold values the process cannot run with."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class EnvReader:
    """Typed reads of environment variables that collect problems instead of raising at the first.

    Call :meth:`raise_if_invalid` after the last read.
    """

    known_variables: ClassVar[set[str]] = set()
    """Every variable any reader was asked for: what deployment files may set (a test checks
    docker-compose.yml against it, so a misspelt variable there cannot pass unnoticed)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        EnvReader.known_variables.add(name)
        value = self._environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a whole number")
            return default
        if not minimum <= value <= maximum:
            self.problems.append(f"{name}={value} is outside {minimum}..{maximum}")
            return default
        return value

    def seconds(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        return self._real(name, default, minimum, maximum, unit=" seconds")

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        return self._real(name, default, minimum, maximum, unit="")

    def _real(
        self, name: str, default: float, minimum: float, maximum: float, *, unit: str
    ) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a number{' of' + unit if unit else ''}")
            return default
        if not minimum <= value <= maximum:
            self.problems.append(f"{name}={value:g} is outside {minimum:g}..{maximum:g}{unit}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problems.append(f"{name}={raw!r} is not a boolean (use true or false)")
        return default

    def host_port(self, name: str, default: str) -> str:
        value = self.text(name, default)
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.problems.append(f"{name}={value!r} is not host:port (e.g. localhost:7233)")
            return default
        return value

    def url(self, name: str, *, schemes: tuple[str, ...]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
        if scheme not in schemes:
            self.problems.append(
                f"{name}={raw!r} must be a URL starting with {' or '.join(schemes)}://"
            )
            return None
        return raw

    def database_url(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            self.problems.append(
                f"{name}={value!r} is not a SQLite or PostgreSQL URL "
                "(e.g. sqlite:///.local/bubble.db or postgresql://user@host/db)"
            )
            return default
        return value

    def raise_if_invalid(self) -> None:
        if self.problems:
            raise SettingsError(self.problems)


@dataclass(frozen=True)
class TemporalSettings:
    """Where Temporal is and which queues the system uses."""

    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    analysis_task_queue: str = DEFAULT_ANALYSIS_TASK_QUEUE
    batch_task_queue: str = ""
    """Batch workflows; empty means ``<task_queue>-batches``, so a setup that renames the item
    queue (each test does) gets a batch queue of its own without naming it."""

    def __post_init__(self) -> None:
        if not self.batch_task_queue:
            object.__setattr__(self, "batch_task_queue", f"{self.task_queue}-batches")

    @classmethod
    def read(cls, env: EnvReader) -> TemporalSettings:
        return cls(
            address=env.host_port("TEMPORAL_ADDRESS", cls.address),
            namespace=env.text("TEMPORAL_NAMESPACE", cls.namespace),
            task_queue=env.text("TEMPORAL_TASK_QUEUE", cls.task_queue),
            analysis_task_queue=env.text("ANALYSIS_TASK_QUEUE", cls.analysis_task_queue),
            batch_task_queue=env.text("TEMPORAL_BATCH_TASK_QUEUE", ""),
        )


@dataclass(frozen=True)
class StoreSettings:
    """Where items live: the database and the folder holding image files and thumbnails."""

    database_url: str = DEFAULT_DATABASE_URL
    media_root: Path = Path(DEFAULT_MEDIA_ROOT)

    @classmethod
    def read(cls, env: EnvReader) -> StoreSettings:
        return cls(
            database_url=env.database_url("DATABASE_URL", cls.database_url),
            media_root=Path(env.text("MEDIA_ROOT", DEFAULT_MEDIA_ROOT)).absolute(),
        )
