"""Hot reload for the dev stack (``./pants run tools:dev -- --reload``): which processes' code
changed since the last look.

The worker, the service and the dashboard then import their code from the repository's source
folders (not from the copy Pants runs the stack from), and the stack restarts a process when a
``.py`` file it imports changes: the worker for ``services/worker`` and ``libs/shared``, the
service and the dashboard for ``services/processing`` and ``libs/shared``. A restart is a
graceful stop (running activities finish within the grace period; Temporal keeps every workflow)
followed by a start, so runs in flight carry on with the new code. Contracts (``proto/``) and
third-party requirements are built by Pants: changing them needs a new ``./pants run tools:dev``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

SOURCE_ROOTS: Final = ("services/worker", "services/processing", "libs/shared")
"""Folders on the children's PYTHONPATH, ahead of the stack's own, when reloading."""

WATCHED: Final[Mapping[str, tuple[str, ...]]] = {
    "worker": ("services/worker", "libs/shared"),
    "service": ("services/processing", "libs/shared"),
    "dashboard": ("services/processing", "libs/shared"),
}
"""The source roots each restartable process imports."""


class SourceWatcher:
    """Modification times of the ``.py`` files under the source roots, compared per look."""

    def __init__(self, source_dir: Path) -> None:
        self.source_dir = source_dir
        self._seen = self._snapshot()

    def python_path(self) -> list[str]:
        return [str(self.source_dir / root) for root in SOURCE_ROOTS]

    def _snapshot(self) -> dict[Path, int]:
        times: dict[Path, int] = {}
        for root in SOURCE_ROOTS:
            for path in (self.source_dir / root).rglob("*.py"):
                try:
                    times[path] = path.stat().st_mtime_ns
                except FileNotFoundError:  # deleted while listing: the next look sees it gone
                    continue
        return times

    def changed(self) -> dict[str, list[Path]]:
        """The processes whose code changed since the last call, with the changed files
        (relative to the source folder); added and deleted files count."""
        now = self._snapshot()
        paths = {
            path for path in now.keys() | self._seen.keys() if now.get(path) != self._seen.get(path)
        }
        self._seen = now
        changed: dict[str, list[Path]] = {}
        for name, roots in WATCHED.items():
            mine = sorted(
                path.relative_to(self.source_dir)
                for path in paths
                if any(path.is_relative_to(self.source_dir / root) for root in roots)
            )
            if mine:
                changed[name] = mine
        return changed
