"""Waiting until a worker takes tasks: a worker process that has started is not yet polling.

The stack used to say ``ready`` once the gRPC port answered, while the worker could still be
connecting: an item started then sat QUEUED with nobody polling its queue. The Temporal server
records who polls each task queue, and DescribeTaskQueue lists the pollers it saw lately, so the
stack waits until every queue its worker runs has one. A restarted dev server has forgotten its
pollers, so the worker of an earlier start never counts.

This speaks plain gRPC to the frontend (temporalio's generated stub, not its client): the Rust
runtime behind ``temporalio.client`` would start threads in the stack's process, and without
it the process exits as cleanly as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
)
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from bubble_shared.settings import TemporalSettings

# A queue is polled when a worker polls it for workflow tasks or for activity tasks (the
# analysis queue only runs activities).
_POLLED_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
_RPC_TIMEOUT_SECONDS = 2.0


class NotPolledError(RuntimeError):
    """Some queue had no poller when the wait ran out."""


def worker_task_queues(settings: TemporalSettings) -> tuple[str, ...]:
    """The queues a worker polls with ``WORKER_QUEUES=all``, named by the settings it reads."""
    return (settings.task_queue, settings.batch_task_queue, settings.analysis_task_queue)


def unpolled_queues(
    stub: WorkflowServiceStub, namespace: str, queues: Iterable[str], identity_prefix: str = ""
) -> list[str]:
    """The queues of ``queues`` no poller has been seen on (none whose identity starts with
    ``identity_prefix``, when given: a restarted worker's own, not its predecessor's, which the
    server still lists for a while)."""
    return [queue for queue in queues if not _polled(stub, namespace, queue, identity_prefix)]


def _polled(stub: WorkflowServiceStub, namespace: str, queue: str, identity_prefix: str) -> bool:
    for queue_type in _POLLED_TYPES:
        described = stub.DescribeTaskQueue(
            DescribeTaskQueueRequest(
                namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=queue_type
            ),
            timeout=_RPC_TIMEOUT_SECONDS,
        )
        if any(poller.identity.startswith(identity_prefix) for poller in described.pollers):
            return True
    return False


def wait_until_polled(
    address: str,
    namespace: str,
    queues: Sequence[str],
    *,
    timeout_seconds: float,
    check_alive: Callable[[], None] = lambda: None,
    interval_seconds: float = 0.2,
    identity_prefix: str = "",
) -> None:
    """Returns once every queue has a poller; NotPolledError naming the rest after the timeout.

    ``check_alive`` raises if a process the wait depends on has died (no point waiting then).
    """
    deadline = time.monotonic() + timeout_seconds
    waiting, failure = list(queues), ""
    with grpc.insecure_channel(address) as channel:
        stub = WorkflowServiceStub(channel)
        while True:
            check_alive()
            try:
                waiting = unpolled_queues(stub, namespace, waiting, identity_prefix)
                failure = ""
            except grpc.RpcError as error:  # the server is still starting: ask again
                failure = _answer(error)
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise NotPolledError(
                    f"no worker polled task queue {', '.join(waiting)} within "
                    f"{timeout_seconds:g}s{failure}"
                )
            time.sleep(interval_seconds)


def current_build_id(stub: WorkflowServiceStub, namespace: str, deployment_name: str) -> str:
    """The build ID of the deployment's current version; "" while it has none (or no
    deployment of that name has polled yet)."""
    try:
        described = stub.DescribeWorkerDeployment(
            DescribeWorkerDeploymentRequest(namespace=namespace, deployment_name=deployment_name),
            timeout=_RPC_TIMEOUT_SECONDS,
        )
    except grpc.RpcError as error:
        # NOT_FOUND: no version has polled yet. RESOURCE_EXHAUSTED: the server limits the calls
        # on one deployment (the worker's own are among them): ask again later.
        if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED):
            return ""
        raise
    routing = described.worker_deployment_info.routing_config
    return str(routing.current_deployment_version.build_id)


def wait_until_current(
    address: str,
    namespace: str,
    deployment_name: str,
    build_id: str,
    *,
    timeout_seconds: float,
    check_alive: Callable[[], None] = lambda: None,
) -> None:
    """Returns once ``build_id`` is the deployment's current version (a versioned worker takes
    no task before); NotPolledError after the timeout, naming the version that is current."""
    deadline = time.monotonic() + timeout_seconds
    current = ""
    with grpc.insecure_channel(address) as channel:
        stub = WorkflowServiceStub(channel)
        while True:
            check_alive()
            current = current_build_id(stub, namespace, deployment_name)
            if current == build_id:
                return
            if time.monotonic() >= deadline:
                raise NotPolledError(
                    f"version {build_id!r} of worker deployment {deployment_name!r} did not "
                    f"become current within {timeout_seconds:g}s (current: {current or 'none'})"
                )
            time.sleep(0.5)


def _answer(error: grpc.RpcError) -> str:
    """What Temporal last answered, for the timeout's message."""
    call: Any = error  # a grpc.Call as well: code(), details()
    return f" (Temporal answered {call.code().name}: {call.details()})"
