"""``bubble-processing``: the processing service from a terminal.

    bubble-processing create --owner u1 --title "Wool scarf" front.jpg --uri items/2024/back.jpg
    bubble-processing process ITEM_ID --wait
    bubble-processing batch ID1 ID2 ID3 --concurrency 10
    bubble-processing batch --owner u1 --status FAILED --wait   # the items a selector selects
    bubble-processing watch --batch BATCH_ID       # live progress bar
    bubble-processing status --item ITEM_ID --json
    bubble-processing list --owner u1 --all

Image arguments are local files (uploaded; a missing one is an error); ``--uri`` names a file
already under the server's MEDIA_ROOT. The global options (``--target``, ``--token``,
``--timeout``, ``--json``) go before or after the command; ``--target``/``--token`` default to
BUBBLE_PROCESSING_TARGET / BUBBLE_PROCESSING_TOKEN. Watching (``watch``, ``--wait``) outlasts a
restart of the service: it reconnects, says so on stderr, and goes on. ``cli_args`` has the
options, ``cli_display`` the text output.

Image files over 1 MiB are uploaded by UploadImage before the item is created (up to the
server's cap, 20 MiB by default). Exit codes: 0 done (a watched run succeeded); 1 a call failed,
or the watched run failed, timed out or was cancelled; 2 bad arguments (the service's
INVALID_ARGUMENT, or an image over its cap, included); 3 a watched batch ended with failed or
cancelled items.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TextIO

from bubble_client import cli_args
from bubble_client import messages as m
from bubble_client.cli_display import (
    Output,
    describe_item,
    describe_status,
    failed_items,
)
from bubble_client.client import ProcessingClient
from bubble_client.errors import InvalidArgumentError, ProcessingServiceError

EXIT_FAILED = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_ITEMS_FAILED = 3
MAX_PAGE_SIZE = 1000  # the server's cap on ListItems pages


def _selector(args: argparse.Namespace) -> m.ItemSelector | None:
    """The batch's selector from --owner, --status and --analyzed-before; None when unset."""
    if not (args.owner or args.status or args.analyzed_before):
        return None
    return m.ItemSelector(
        owner_id=args.owner,
        statuses=[m.ItemStatus[name] for name in args.status],
        analyzed_before_version=args.analyzed_before,
    )


def _watch(client: ProcessingClient, out: Output, target: dict[str, str]) -> int:
    """Prints each update until the run ends (reconnecting as the client does), then the
    failed items of a batch; returns the exit code the final status deserves."""
    live = out.stream.isatty() and not out.as_json
    last: m.ItemRunStatus | m.BatchRunStatus | None = None
    updates = client.watch_status(
        item_id=target.get("item_id"),
        batch_id=target.get("batch_id"),
        workflow_id=target.get("workflow_id"),
    )
    for update in updates:
        last = update.item_run or update.batch_run
        assert last is not None
        if live:
            print(f"\r{describe_status(last)}\033[K", end="", file=out.stream, flush=True)
        else:
            out.message(update, describe_status(last))
    if live:
        print(file=out.stream)
    if isinstance(last, m.BatchRunStatus) and not out.as_json:
        for line in failed_items(last):
            print(line, file=out.stream)
    return _exit_code(last)


def _exit_code(last: m.ItemRunStatus | m.BatchRunStatus | None) -> int:
    if last is None or last.state != m.RunState.SUCCEEDED:
        return EXIT_FAILED
    progress = last.progress if isinstance(last, m.BatchRunStatus) else None
    if progress is not None and (progress.failed or progress.cancelled):
        return EXIT_ITEMS_FAILED
    return 0


def _create(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    item = client.create_item(
        owner_id=args.owner,
        title=args.title,
        description=args.description,
        item_id=args.item_id,
        images=args.images,
    )
    out.message(item, describe_item(item))
    return 0


def _get(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    item = client.get_item(args.item_id)
    out.message(item, describe_item(item))
    return 0


def _list(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    """Pages until --limit items or the end; when it stops early, says how to go on."""
    token, left = args.page_token, None if args.all else args.limit
    while True:
        page = client.list_items_page(
            owner_id=args.owner,
            statuses=[m.ItemStatus[name] for name in args.status],
            page_size=MAX_PAGE_SIZE if left is None else min(left, MAX_PAGE_SIZE),
            page_token=token,
        )
        for item in page.items:
            out.message(item, f"{item.item_id}  {item.status.name}  {item.title!r}")
        token = page.next_page_token
        left = None if left is None else left - len(page.items)
        if not token or (left is not None and left <= 0):
            break
    if token:
        print(
            f"bubble-processing: more items: {next_page_option(token)} (or --all)", file=sys.stderr
        )
    return 0


def next_page_option(token: str) -> str:
    """The option that lists the next page. Joined with "=": a page token is URL-safe base64 and
    may start with "-", which argparse takes for an option when it stands on its own."""
    return f"--page-token={token}"


def _process(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    delay = timedelta(seconds=args.countdown) if args.countdown else None
    started = client.start_item_processing(args.item_id, start_delay=delay, force=args.force)
    note = " (already running)" if started.already_running else ""
    out.message(started, f"started {started.workflow_id}{note}")
    return _watch(client, out, {"workflow_id": started.workflow_id}) if args.wait else 0


def _batch(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    batch = client.start_batch_processing(
        args.item_ids,
        selector=_selector(args),
        max_concurrency=args.concurrency,
        force=args.force,
    )
    out.message(batch, f"started batch {batch.batch_id} ({batch.accepted_item_count} items)")
    return _watch(client, out, {"workflow_id": batch.workflow_id}) if args.wait else 0


def _status(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    response = client.get_status(**_run_target(args))
    status = response.item_run or response.batch_run
    assert status is not None
    lines = [describe_status(status)]
    if isinstance(status, m.BatchRunStatus):
        lines += failed_items(status)
    out.message(response, "\n".join(lines))
    return 0


def _watch_command(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    return _watch(client, out, _run_target(args))


def _cancel(client: ProcessingClient, args: argparse.Namespace, out: Output) -> int:
    cancelled = client.cancel_processing(**_run_target(args))
    verb = "cancel requested" if cancelled.cancel_requested else "already ended"
    out.message(cancelled, f"{cancelled.workflow_id}: {verb} ({cancelled.state.name})")
    return 0


def _run_target(args: argparse.Namespace) -> dict[str, str]:
    """The one run --item, --batch or --workflow names."""
    return {
        key: getattr(args, key)
        for key in ("item_id", "batch_id", "workflow_id")
        if getattr(args, key, None)
    }


Command = Callable[[ProcessingClient, argparse.Namespace, Output], int]
COMMANDS: dict[str, Command] = {
    "create": _create,
    "get": _get,
    "list": _list,
    "process": _process,
    "batch": _batch,
    "status": _status,
    "watch": _watch_command,
    "cancel": _cancel,
}


def run(argv: Sequence[str] | None = None, stream: TextIO = sys.stdout) -> int:
    """Runs one command; returns the exit code (bad arguments exit 2 through argparse)."""
    args = cli_args.parse(argv)
    out = Output(args.json, stream)
    with ProcessingClient(args.target, token=args.token, timeout=args.timeout) as client:
        try:
            return COMMANDS[args.command](client, args, out)
        except ProcessingServiceError as err:
            print(f"bubble-processing: {err}", file=sys.stderr)
            for violation in err.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
            return EXIT_BAD_ARGUMENTS if _refused_arguments(err) else EXIT_FAILED


def _refused_arguments(err: ProcessingServiceError) -> bool:
    """The service refused what the command line gave (an invalid field, a file too large):
    exit 2, as for arguments argparse refuses."""
    return isinstance(err, InvalidArgumentError) or err.reason == "UPLOAD_TOO_LARGE"


def main() -> None:
    # The client logs each reconnection of a watch: a person should know why it paused.
    logging.basicConfig(format="bubble-processing: %(message)s")
    logging.getLogger("bubble_client").setLevel(logging.INFO)
    sys.exit(run())


if __name__ == "__main__":
    main()
