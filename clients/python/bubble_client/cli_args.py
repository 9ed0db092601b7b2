"""The command line of ``bubble-processing``: its commands and options, nothing they do.

Global options (``--target``, ``--token``, ``--timeout``, ``--json``) are accepted before and
after the command, as people type them both ways. Image arguments of ``create`` are local files,
checked here, and ``--uri`` names files on the server; both land in one ``images`` list in
command-line order.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import betterproto2

from bubble_client import messages as m
from bubble_client.client import DEFAULT_TARGET


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, checked, including what argparse cannot say alone (exit 2 if wrong)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "create" and not args.images:
        parser.error("create: give an image: a local FILE, or --uri for one on the server")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bubble-processing", description="Talk to the Bubble item processing service."
    )
    _add_global_options(parser, with_defaults=True)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        _add_global_options(sub, with_defaults=False)
        return sub

    _add_create(command("create", "create an item with images"))
    command("get", "show an item").add_argument("item_id")
    _add_list(command("list", "list items, newest first"))
    _add_process(command("process", "start processing an item"))
    _add_batch(command("batch", "start processing many items: listed, or --owner/--status/..."))
    for name, help_text in (
        ("status", "show a run's status"),
        ("watch", "follow a run until it ends"),
        ("cancel", "cancel a run"),
    ):
        target = command(name, help_text).add_mutually_exclusive_group(required=True)
        target.add_argument("--item", dest="item_id")
        target.add_argument("--batch", dest="batch_id")
        target.add_argument("--workflow", dest="workflow_id")
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, with_defaults: bool) -> None:
    """The options every command takes, before or after its name; given after it, they win
    (a subcommand's copy has no default, so it only sets what was typed)."""

    def default(value: Any) -> Any:
        return value if with_defaults else argparse.SUPPRESS

    target = os.environ.get("BUBBLE_PROCESSING_TARGET", DEFAULT_TARGET)
    parser.add_argument("--target", default=default(target), help="host:port of the service")
    parser.add_argument("--token", default=default(os.environ.get("BUBBLE_PROCESSING_TOKEN")))
    parser.add_argument("--timeout", type=float, default=default(30.0), help="seconds per call")
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON, not text"
    )


class _AddImages(argparse.Action):
    """Appends files and ``--uri`` values to one ``images`` list, in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        added = list(values) if isinstance(values, list) else [values]
        namespace.images = [*(getattr(namespace, "images", None) or []), *added]


def _local_file(argument: str) -> Path:
    """A positional image must exist here: sending a typo as a server URI fails only later."""
    path = Path(argument)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"no such file: {argument} (name a file under the server's MEDIA_ROOT with --uri)"
        )
    return path


def _add_create(create: argparse.ArgumentParser) -> None:
    create.add_argument("--owner", required=True)
    create.add_argument("--title", default="")
    create.add_argument("--description", default="")
    create.add_argument("--item-id")
    create.add_argument(
        "files",
        nargs="*",
        type=_local_file,
        action=_AddImages,
        metavar="FILE",
        help="a local image file, uploaded",
    )
    create.add_argument(
        "--uri",
        dest="images",
        action=_AddImages,
        metavar="URI",
        help="an image already under the server's MEDIA_ROOT, e.g. items/a.jpg (repeatable)",
    )


def _add_list(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("--owner", default="")
    listing.add_argument("--status", action="append", default=[], choices=_names(m.ItemStatus))
    listing.add_argument("--page-token", default="", help="go on where a previous list stopped")
    size = listing.add_mutually_exclusive_group()
    size.add_argument("--limit", type=_positive, default=50, help="at most this many (50)")
    size.add_argument("--all", action="store_true", help="every matching item, page by page")


def _add_process(process: argparse.ArgumentParser) -> None:
    process.add_argument("item_id")
    process.add_argument("--countdown", type=float, help="seconds to wait before starting")
    process.add_argument("--force", action="store_true", help="reprocess a processed item")
    process.add_argument("--wait", action="store_true", help="watch until the run ends")


def _add_batch(batch: argparse.ArgumentParser) -> None:
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


def _positive(argument: str) -> int:
    value = int(argument)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _names(enum: type[betterproto2.Enum]) -> list[str]:
    return [member.name for member in enum if member.value != 0]
