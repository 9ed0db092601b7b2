"""The committed client code is exactly what betterproto2 generates from proto/ today."""

from __future__ import annotations

import filecmp
from pathlib import Path

from bubble_tools.codegen import CLIENT_GENERATED_DIR, generate_client
from bubble_tools.repo import find_repo_root


def _tree(root: Path) -> dict[str, Path]:
    return {
        str(path.relative_to(root)): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_committed_client_matches_the_contracts(tmp_path: Path) -> None:
    repo_root = find_repo_root(Path(__file__).parent)
    committed = _tree(repo_root / CLIENT_GENERATED_DIR)
    fresh = _tree(generate_client(repo_root, tmp_path))

    assert fresh, "buf generate produced no files: is buf.gen.yaml pointing at the client?"
    stale = sorted(
        name
        for name in committed.keys() | fresh.keys()
        if name not in committed
        or name not in fresh
        or not filecmp.cmp(committed[name], fresh[name], shallow=False)
    )
    assert not stale, (
        f"{CLIENT_GENERATED_DIR} is stale against proto/ ({', '.join(stale)}): "
        "run ./pants run tools:codegen and commit the result"
    )
