"""docker-compose.yml, checked without a Docker engine (there is none on this machine).

It must be valid against the Compose specification, name only environment variables the code's
settings read, and publish the ports those settings listen on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from bubble_tools.repo import find_repo_root

from bubble_service.dashboard.settings import DashboardSettings
from bubble_service.settings import ServiceSettings
from bubble_shared.binaries import find_binary
from bubble_shared.log_format import read_logging_settings
from bubble_shared.settings import EnvReader
from bubble_worker.settings import WorkerSettings

ROOT = find_repo_root(Path(__file__).parent)
COMPOSE = ROOT / "docker-compose.yml"
# PEX files the images run, and the pex_binary targets that build them.
PEX_TARGETS = {
    "dist/services.worker/worker.pex": ("services/worker/BUILD", "worker"),
    "dist/services.processing/service.pex": ("services/processing/BUILD", "service"),
    "dist/services.processing/dashboard.pex": ("services/processing/BUILD", "dashboard"),
    "dist/libs.shared.bubble_shared.store/migrate.pex": (
        "libs/shared/bubble_shared/store/BUILD",
        "migrate",
    ),
    "dist/tools/codec-server.pex": ("tools/BUILD", "codec-server"),
}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _our_services() -> dict[str, dict[str, Any]]:
    """The services built from this repository (the others are upstream images)."""
    return {name: spec for name, spec in _compose()["services"].items() if "build" in spec}


def _variables_the_code_reads() -> set[str]:
    WorkerSettings.from_env({})
    ServiceSettings.from_env({})
    DashboardSettings.from_env({})
    read_logging_settings({})
    return set(EnvReader.known_variables)


def test_is_valid_against_the_compose_specification() -> None:
    checker = find_binary("check-jsonschema", package="check-jsonschema")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_names_only_variables_the_settings_read() -> None:
    known = _variables_the_code_reads()
    for name, spec in _our_services().items():
        unknown = set(spec.get("environment", {})) - known
        assert not unknown, f"{name} sets variables no settings read: {sorted(unknown)}"


@pytest.mark.parametrize(
    ("service", "variable"), [("processing", "GRPC_PORT"), ("dashboard", "DASHBOARD_PORT")]
)
def test_publishes_the_port_the_service_listens_on(service: str, variable: str) -> None:
    spec = _our_services()[service]
    published = {int(mapping.split(":")[-1]) for mapping in spec["ports"]}

    assert int(spec["environment"][variable]) in published


def test_metrics_ports_are_exposed() -> None:
    for name, spec in _our_services().items():
        port = spec.get("environment", {}).get("METRICS_PORT")
        if port is not None:
            assert port in spec.get("expose", []), name


def test_codec_server_listens_where_the_ui_is_told_to_look() -> None:
    services = _compose()["services"]
    command = services["codec-server"]["command"]
    port = command[command.index("--port") + 1]
    ui_endpoint = services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"]

    assert ui_endpoint.endswith(f":{port}")
    assert any(mapping.endswith(f":{port}") for mapping in services["codec-server"]["ports"])


def test_dashboard_links_runs_to_the_published_temporal_ui() -> None:
    services = _compose()["services"]
    ui_url = services["dashboard"]["environment"]["TEMPORAL_UI_URL"]
    published = {mapping.split(":")[0] for mapping in services["temporal-ui"]["ports"]}

    assert any(ui_url.endswith(f":{port}") for port in published), ui_url


def test_images_run_pex_files_that_pants_builds() -> None:
    for name, spec in _our_services().items():
        pex = spec["build"]["args"]["PEX"]
        assert pex in PEX_TARGETS, f"{name} runs {pex}, which no pex_binary target builds"
        build_file, target = PEX_TARGETS[pex]
        declared = re.findall(r'pex_binary\(\s*name="([^"]+)"', (ROOT / build_file).read_text())
        assert target in declared, f"{build_file} has no pex_binary {target!r}"
