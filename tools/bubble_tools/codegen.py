"""Regenerates the Python client's protobuf code (clients/python) with betterproto2 via buf.

    ./pants run tools:codegen

The client is committed so that it installs without a code generator; the test
``clients/python/bubble_client/generated_code_test.py`` calls :func:`generate_client` into a
temporary folder and fails when the committed copy is stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bubble_shared.binaries import find_binary, search_path
from bubble_tools.repo import find_repo_root

CLIENT_GENERATED_DIR = Path("clients/python/bubble_client/_generated")
"""Where buf.gen.yaml writes, relative to the repository root."""


def generate_client(repo_root: Path, output_root: Path) -> Path:
    """Runs ``buf generate`` from ``repo_root``, writing below ``output_root``.

    Returns the folder the generated package landed in. Raises ``CalledProcessError`` with buf's
    output when generation fails.
    """
    buf = find_binary("buf", package="buf-bin")
    env = dict(os.environ)
    # buf finds protoc-gen-python_betterproto2 on PATH, and the plugin formats with ruff from PATH.
    env["PATH"] = search_path()
    env.setdefault("BUF_CACHE_DIR", str(Path(tempfile.gettempdir()) / "bubble-buf-cache"))
    subprocess.run(
        [str(buf), "generate", "--template", "buf.gen.yaml", "--output", str(output_root)],
        cwd=repo_root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return output_root / CLIENT_GENERATED_DIR


def main() -> int:
    repo_root = find_repo_root()
    try:
        generated = generate_client(repo_root, repo_root)
    except subprocess.CalledProcessError as err:
        sys.stderr.write(err.stdout + err.stderr)
        return err.returncode or 1
    print(f"regenerated {generated.relative_to(repo_root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
