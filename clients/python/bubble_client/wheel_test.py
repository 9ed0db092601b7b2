"""The client wheel installs on its own: its package, generated code, CLI and no server deps."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

FORBIDDEN_REQUIREMENTS = (
    "temporalio",
    "grpcio-tools",
    "sqlalchemy",
    "pillow",
    "betterproto2-compiler",
)


def _wheel() -> Path:
    [wheel] = Path.cwd().rglob("bubble_processing_client-*.whl")
    return wheel


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return [
        line.split(":", 1)[1].strip().lower() for line in lines if line.startswith("Requires-Dist:")
    ]


def test_wheel_requires_only_client_libraries() -> None:
    requirements = _requirements(_wheel())

    assert any(r.startswith("grpcio") for r in requirements)
    assert any(r.startswith("betterproto2") for r in requirements)
    assert any(r.startswith("googleapis-common-protos") for r in requirements)
    for forbidden in FORBIDDEN_REQUIREMENTS:
        assert not any(r.startswith(forbidden) for r in requirements), requirements


def test_wheel_installs_into_a_fresh_venv_and_imports(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--no-deps", "--no-index", str(_wheel())],
        check=True,
        env=env,
    )
    # The wheel's dependencies come from this test's environment (site-packages only, never the
    # repository's sources), so the import below can only find bubble_client in the wheel.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if "site-packages" in p)
    probe = (
        "import bubble_client, bubble_client.messages as m, bubble_client.tasks;"
        "print(bubble_client.__file__);"
        "print(bytes(m.StartItemProcessingRequest(item_id='a')).hex())"
    )

    done = subprocess.run(
        [venv / "bin" / "python", "-c", probe],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    help_text = subprocess.run(
        [venv / "bin" / "bubble-processing", "--help"],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout

    module_file, encoded = done.stdout.split()
    assert Path(module_file).is_relative_to(venv)
    assert encoded == "0a0161"
    assert "watch" in help_text
    assert (Path(module_file).parent / "py.typed").is_file()
