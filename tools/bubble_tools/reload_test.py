"""The watcher names the processes whose code changed, and only those."""

from __future__ import annotations

import os
from pathlib import Path

from bubble_tools.reload import SourceWatcher


def _write(path: Path, text: str, *, mtime_ns: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def test_each_change_restarts_the_processes_that_import_it(tmp_path: Path) -> None:
    worker = tmp_path / "services/worker/bubble_worker/main.py"
    service = tmp_path / "services/processing/bubble_service/main.py"
    shared = tmp_path / "libs/shared/bubble_shared/settings.py"
    for path in (worker, service, shared):
        _write(path, "x = 1\n", mtime_ns=1_000_000_000)
    watcher = SourceWatcher(tmp_path)

    assert watcher.changed() == {}
    _write(worker, "x = 2\n", mtime_ns=2_000_000_000)
    assert watcher.changed() == {"worker": [Path("services/worker/bubble_worker/main.py")]}
    assert watcher.changed() == {}
    _write(service, "x = 2\n", mtime_ns=2_000_000_000)
    assert list(watcher.changed()) == ["service", "dashboard"]
    _write(shared, "x = 2\n", mtime_ns=2_000_000_000)
    assert list(watcher.changed()) == ["worker", "service", "dashboard"]
    (tmp_path / "services/worker/bubble_worker/new.py").write_text("")
    assert list(watcher.changed()) == ["worker"]
    service.unlink()
    assert list(watcher.changed()) == ["service", "dashboard"]
    (tmp_path / "services/worker/notes.txt").write_text("not code")
    assert watcher.changed() == {}
    assert watcher.python_path() == [
        str(tmp_path / "services/worker"),
        str(tmp_path / "services/processing"),
        str(tmp_path / "libs/shared"),
    ]
