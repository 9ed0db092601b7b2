"""Where the repository is, for tools run from Pants (build root) or from a test sandbox."""

from __future__ import annotations

from pathlib import Path

ROOT_MARKER = "buf.yaml"


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) with buf.yaml.

    ``./pants run`` runs tools in the build root and a test sandbox mirrors the repository's
    layout, so the marker file is found in both without configuration.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ROOT_MARKER).is_file():
            return folder
    raise FileNotFoundError(f"no {ROOT_MARKER} at or above {here}: run this from the repository")
