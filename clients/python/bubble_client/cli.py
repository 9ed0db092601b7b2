"""``bubble-processing``: the processing service from a terminal.

    bubble-processing create --owner u1 --title "Wool scarf" front.jpg items/2024/back.jpg
    bubble-processing process ITEM_ID --wait
    bubble-processing batch ID1 ID2 ID3 --concurrency 10
    bubble-processing batch --owner u1 --status FAILED --wait   # the items a selector selects
    bubble-processing watch --batch BATCH_ID       # live progress bar
    bubble-processing status --item ITEM_ID --json

Local files are uploaded; other image arguments are URIs under the server's MEDIA_ROOT.
``--target``/``--token`` default to BUBBLE_PROCESSING_TARGET / BUBBLE_PROCESSING_TOKEN.
Watching (``watch``, ``--wait``) outlasts a restart of the service: it reconnects, says so on
stderr, and goes on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import betterproto2

from bubble_client import messages as m
from bubble_client.client import DEFAULT_TARGET, ProcessingClient
from bubble_client.errors import ProcessingServiceError

BAR_WIDTH = 30


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bubble-processing", description="Talk to the Bubble item processing service."
    )
    parser.add_argument(
        "--target", default=os.environ.get("BUBBLE_PROCESSING_TARGET", DEFAULT_TARGET)
    )
    parser.add_argument("--token", default=os.environ.get("BUBBLE_PROCESSING_TOKEN"))
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create an item with images")
    create.add_argument("--owner", required=True)
    create.add_argument("--title", default="")
    create.add_argument("--description", default="")
    create.add_argument("--item-id")
    create.add_argument("images", nargs="+", help="local files (uploaded) or MEDIA_ROOT URIs")

    get = commands.add_parser("get", help="show an item")
    get.add_argument("item_id")

    listing = commands.add_parser("list", help="list items")
    listing.add_argument("--owner", default="")
    listing.add_argument("--status", action="append", default=[], choices=_names(m.ItemStatus))
    listing.add_argument("--limit", type=int, default=50)

    process = commands.add_parser("process", help="start processing an item")
    process.add_argument("item_id")
    process.add_argument("--countdown", type=float, help="seconds to wait before starting")
    process.add_argument("--force", action="store_true", help="reprocess a processed item")
    process.add_argument("--wait", action="store_true", help="watch until the run ends")

    batch = commands.add_parser(
        "batch", help="start processing many items: listed, or selected with --owner/--status/..."
    )
    batch.add_argument("item_ids", nargs="*")
    batch.add_argument("--owner", default="", help="select the items of this owner")
    batch.add_argument(
        "--status",
        action="append",
        default=[],
        choices=_names(m.ItemStatus),
        help="select items with this status (repeatable)",
    )
    batch.add_argument(
        "--analyzed-before",
        default="",
        metavar="VERSION",
        help="select items analysed by an analyser version older than VERSION (e.g. 1.3.0)",
    )
    batch.add_argument("--concurrency", type=int, default=0)
    batch.add_argument("--force", action="store_true")
    batch.add_argument("--wait", action="store_true", help="watch until the batch ends")

    for name, help_text in (
        ("status", "show a run's status"),
        ("watch", "follow a run until it ends"),
        ("cancel", "cancel a run"),
    ):
        command = commands.add_parser(name, help=help_text)
        target = command.add_mutually_exclusive_group(required=True)
        target.add_argument("--item", dest="item_id")
        target.add_argument("--batch", dest="batch_id")
        target.add_argument("--workflow", dest="workflow_id")
    return parser


def _names(enum: type[betterproto2.Enum]) -> list[str]:
    return [member.name for member in enum if member.value != 0]


def _selector(args: argparse.Namespace) -> m.ItemSelector | None:
    """The batch's selector from --owner, --status and --analyzed-before; None when unset."""
    if not (args.owner or args.status or args.analyzed_before):
        return None
    return m.ItemSelector(
        owner_id=args.owner,
        statuses=[m.ItemStatus[name] for name in args.status],
        analyzed_before_version=args.analyzed_before,
    )


def _image(argument: str) -> Path | str:
    path = Path(argument)
    return path if path.is_file() else argument


class _Output:
    """Prints messages as JSON or as short text, to one stream."""

    def __init__(self, as_json: bool, stream: TextIO) -> None:
        self.as_json = as_json
        self.stream = stream

    def message(self, message: betterproto2.Message, text: str) -> None:
        if self.as_json:
            print(json.dumps(message.to_dict()), file=self.stream)
        else:
            print(text, file=self.stream)


def _describe_item(item: m.Item) -> str:
    lines = [f"item {item.item_id}  {item.status.name}  {item.title!r}  owner {item.owner_id}"]
    for image in item.images:
        lines.append(f"  image {image.image_id}  {image.uri}")
    if item.suggestions is not None and item.suggestions.title:
        lines.append(f"  suggested title: {item.suggestions.title}")
        lines.append(f"  tags: {', '.join(item.suggestions.tags)}")
        for warning in item.suggestions.quality_warnings:
            lines.append(f"  warning: {warning.kind.name}  {warning.message}")
    if item.last_error is not None and item.last_error.code:
        lines.append(f"  last error: {item.last_error.code}  {item.last_error.message}")
    return "\n".join(lines)


def _describe_status(status: m.ItemRunStatus | m.BatchRunStatus) -> str:
    if isinstance(status, m.BatchRunStatus):
        return f"batch {status.batch_id}  {status.state.name}  {_bar(status.progress)}"
    text = f"item {status.item_id}  {status.state.name}  stage {status.stage.name}"
    if status.error is not None and status.error.code:
        text += f"  error {status.error.code}: {status.error.message}"
    if status.result is not None and status.result.title:
        text += f"  suggested title {status.result.title!r}"
    return text


def _bar(progress: m.BatchProgress | None) -> str:
    if progress is None or progress.total == 0:
        return "[no items]"
    done = progress.succeeded + progress.failed + progress.cancelled + progress.skipped
    filled = BAR_WIDTH * done // progress.total
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{progress.total}"
        f"  ok {progress.succeeded}  failed {progress.failed}  running {progress.running}"
    )


def _watch(client: ProcessingClient, out: _Output, target: dict[str, str]) -> int:
    """Prints each update until the run ends (reconnecting as the client does); 0 if it
    succeeded."""
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
            print(f"\r{_describe_status(last)}\033[K", end="", file=out.stream, flush=True)
        else:
            out.message(update, _describe_status(last))
    if live:
        print(file=out.stream)
    return 0 if last is not None and last.state == m.RunState.SUCCEEDED else 1


def run(argv: Sequence[str] | None = None, stream: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    out = _Output(args.json, stream)
    with ProcessingClient(args.target, token=args.token, timeout=args.timeout) as client:
        try:
            return _run_command(client, args, out)
        except ProcessingServiceError as err:
            print(f"bubble-processing: {err}", file=sys.stderr)
            for violation in err.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
            return 1


def _run_command(client: ProcessingClient, args: argparse.Namespace, out: _Output) -> int:
    target = {
        key: getattr(args, key)
        for key in ("item_id", "batch_id", "workflow_id")
        if getattr(args, key, None) and args.command in ("status", "watch", "cancel")
    }
    if args.command == "create":
        item = client.create_item(
            owner_id=args.owner,
            title=args.title,
            description=args.description,
            item_id=args.item_id,
            images=[_image(image) for image in args.images],
        )
        out.message(item, _describe_item(item))
    elif args.command == "get":
        item = client.get_item(args.item_id)
        out.message(item, _describe_item(item))
    elif args.command == "list":
        statuses = [m.ItemStatus[name] for name in args.status]
        for index, item in enumerate(client.list_items(owner_id=args.owner, statuses=statuses)):
            if index >= args.limit:
                break
            out.message(item, f"{item.item_id}  {item.status.name}  {item.title!r}")
    elif args.command == "process":
        delay = timedelta(seconds=args.countdown) if args.countdown else None
        started = client.start_item_processing(args.item_id, start_delay=delay, force=args.force)
        note = " (already running)" if started.already_running else ""
        out.message(started, f"started {started.workflow_id}{note}")
        if args.wait:
            return _watch(client, out, {"workflow_id": started.workflow_id})
    elif args.command == "batch":
        batch = client.start_batch_processing(
            args.item_ids,
            selector=_selector(args),
            max_concurrency=args.concurrency,
            force=args.force,
        )
        out.message(batch, f"started batch {batch.batch_id} ({batch.accepted_item_count} items)")
        if args.wait:
            return _watch(client, out, {"workflow_id": batch.workflow_id})
    elif args.command == "status":
        response = client.get_status(**target)
        status = response.item_run or response.batch_run
        assert status is not None
        out.message(response, _describe_status(status))
    elif args.command == "watch":
        return _watch(client, out, target)
    elif args.command == "cancel":
        cancelled = client.cancel_processing(**target)
        verb = "cancel requested" if cancelled.cancel_requested else "already ended"
        out.message(cancelled, f"{cancelled.workflow_id}: {verb} ({cancelled.state.name})")
    return 0


def main() -> None:
    # The client logs each reconnection of a watch: a person should know why it paused.
    logging.basicConfig(format="bubble-processing: %(message)s")
    logging.getLogger("bubble_client").setLevel(logging.INFO)
    sys.exit(run())


if __name__ == "__main__":
    main()
