"""Worker Deployment Versioning: the workflow workers run as one version of a named deployment,
so a deploy never hands a run to code that cannot replay it.

With WORKER_DEPLOYMENT_NAME set (the dev stack and compose set ``bubble-worker``) the item and
batch workers poll as version ``WORKER_BUILD_ID`` of that deployment; the build ID defaults to a
hash of the workflow code (``code_build_id``), so it changes with every change that could matter
to a replay. Temporal then routes each workflow task by the behaviour its run carries:

- item runs are PINNED: a run lasts seconds to minutes, and finishing on the version that started
  it needs no replay compatibility at all;
- batch runs are PINNED too, but each continue-as-new starts the next run on the deployment's
  current version (AUTO_UPGRADE for that first task only), and a batch whose version is no longer
  current continues as new at its next tick: it moves to new code where its history starts
  afresh, never mid-history.

Activity-only workers (analysis, vision model) stay unversioned: their activities carry no
history, and any worker of the queue may run them.

A version gets no tasks until it is the deployment's current version. The first version of a
deployment makes itself current (``make_current_if_none``); a later one is made current by the
operator, after it polls beside the old one (the README's rolling deploy).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from bubble_shared.settings import EnvReader

REGISTRATION_TIMEOUT_SECONDS = 60.0
"""How long a new version may take to be seen polling (measured: 0.7-1.7 s on the dev server)."""
_WORKFLOW_CODE = Path(__file__).parent / "workflows"
_LOOK_AGAIN = (
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.RESOURCE_EXHAUSTED,
)
log = logging.getLogger("bubble_worker")
T = TypeVar("T")


def code_build_id() -> str:
    """A hash of the workflow code (every .py file under ``workflows/``, tests excluded): equal
    builds of the same code share it, and any change to what a replay runs changes it."""
    digest = hashlib.sha256()
    for path in sorted(_WORKFLOW_CODE.rglob("*.py")):
        if path.name.endswith("_test.py"):
            continue
        digest.update(path.relative_to(_WORKFLOW_CODE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "code-" + digest.hexdigest()[:12]


@dataclass(frozen=True)
class DeploymentSettings:
    deployment_name: str = ""
    """WORKER_DEPLOYMENT_NAME; empty: the workers poll unversioned (tests, old deployments)."""
    build_id: str = ""
    """WORKER_BUILD_ID; empty: ``code_build_id()``."""

    @property
    def enabled(self) -> bool:
        return bool(self.deployment_name)

    @property
    def version(self) -> WorkerDeploymentVersion:
        return WorkerDeploymentVersion(self.deployment_name, self.build_id or code_build_id())

    @classmethod
    def read(cls, env: EnvReader) -> DeploymentSettings:
        name = env.text("WORKER_DEPLOYMENT_NAME", "")
        build_id = env.text("WORKER_BUILD_ID", "")
        if "." in name or len(name) > 200:
            # The server names a version "<deployment>.<build ID>".
            env.problems.append(
                f"WORKER_DEPLOYMENT_NAME={name!r} must be at most 200 characters, without '.'"
            )
        if len(build_id) > 200:
            env.problems.append("WORKER_BUILD_ID must be at most 200 characters")
        if build_id and not name:
            env.problems.append("WORKER_BUILD_ID needs WORKER_DEPLOYMENT_NAME (the deployment)")
        return cls(deployment_name=name, build_id=build_id)


def deployment_config(settings: DeploymentSettings) -> WorkerDeploymentConfig | None:
    """The workflow workers' version (PINNED by default, see the module); None: unversioned."""
    if not settings.enabled:
        return None
    return WorkerDeploymentConfig(
        version=settings.version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


async def make_current_if_none(client: Client, settings: DeploymentSettings) -> bool:
    """Makes this version the deployment's current one if the deployment has none yet (its first
    start); True if it did. A deployment with a current version is left to the operator."""
    return await while_registering(lambda: _make_current_unless_set(client, settings.version))


async def while_registering(
    attempt: Callable[[], Awaitable[T]], *, timeout_seconds: float = REGISTRATION_TIMEOUT_SECONDS
) -> T:
    """``attempt``'s result, calling it again while the server answers "not yet" about a version
    (any other error, or the timeout, raises)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            return await attempt()
        except RPCError as err:
            # NOT_FOUND: the version is not seen polling yet. FAILED_PRECONDITION: it does not
            # poll all its queues yet, or another worker changed the deployment meanwhile (a
            # conflict token mismatch). RESOURCE_EXHAUSTED: the server limits the calls on one
            # deployment. In each case: look again, a little later.
            if err.status not in _LOOK_AGAIN or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _make_current_unless_set(client: Client, version: WorkerDeploymentVersion) -> bool:
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(
            namespace=client.namespace, deployment_name=version.deployment_name
        ),
        retry=True,
    )
    if described.worker_deployment_info.routing_config.current_deployment_version.build_id:
        return False  # a version is current already (maybe this one)
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=version.deployment_name,
            build_id=version.build_id,
            conflict_token=described.conflict_token,
            identity=f"{client.identity} (first version)",
        ),
        retry=True,
    )
    log.info("made %s the current version of its deployment", version)
    return True
