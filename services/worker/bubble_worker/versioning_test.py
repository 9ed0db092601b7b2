"""The worker's deployment version: read from the environment, its build ID from the code."""

from __future__ import annotations

import pytest

from bubble_shared.settings import EnvReader, SettingsError
from bubble_worker.settings import WorkerSettings
from bubble_worker.versioning import DeploymentSettings, code_build_id, deployment_config


def test_unset_means_unversioned() -> None:
    settings = WorkerSettings.from_env({}).deployment

    assert not settings.enabled
    assert deployment_config(settings) is None


def test_the_build_id_defaults_to_a_hash_of_the_workflow_code() -> None:
    settings = WorkerSettings.from_env({"WORKER_DEPLOYMENT_NAME": "bubble-worker"}).deployment
    config = deployment_config(settings)

    assert config is not None
    assert config.use_worker_versioning
    assert config.version.deployment_name == "bubble-worker"
    assert config.version.build_id == code_build_id()
    assert code_build_id().startswith("code-")
    assert len(code_build_id()) == len("code-") + 12


def test_a_set_build_id_is_kept() -> None:
    env = {"WORKER_DEPLOYMENT_NAME": "bubble-worker", "WORKER_BUILD_ID": "2026-12-04.1"}

    settings = WorkerSettings.from_env(env).deployment

    assert settings.version.build_id == "2026-12-04.1"


def test_bad_values_are_named() -> None:
    env = EnvReader({"WORKER_BUILD_ID": "v1"})
    DeploymentSettings.read(env)
    assert env.problems == ["WORKER_BUILD_ID needs WORKER_DEPLOYMENT_NAME (the deployment)"]
    with pytest.raises(SettingsError, match="WORKER_DEPLOYMENT_NAME='a.b' must be"):
        WorkerSettings.from_env({"WORKER_DEPLOYMENT_NAME": "a.b"})
