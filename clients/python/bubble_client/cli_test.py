"""What ``bubble-processing`` parses and prints, with a stand-in for the service.

The stand-in replaces ProcessingClient where the CLI looks it up, so each test drives ``run``
exactly as a person's command line does; tests/e2e has the CLI against the real system.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import pytest

from bubble_client import cli
from bubble_client import messages as m
from bubble_client.cli_args import parse
from bubble_client.errors import ResourceExhaustedError


class FakeClient:
    """Answers with what the test put in ``replies``; records what the CLI asked."""

    replies: dict[str, Any] = {}  # noqa: RUF012 (a test sets it before each run)
    calls: list[tuple[str, Any]] = []  # noqa: RUF012

    def __init__(self, target: str, *, token: str | None, timeout: float | None) -> None:
        self.calls.append(("connect", (target, token, timeout)))

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass

    def get_item(self, item_id: str) -> m.Item:
        self.calls.append(("get_item", item_id))
        item: m.Item = self.replies["item"]
        return item

    def create_item(self, **kwargs: Any) -> m.Item:
        self.calls.append(("create_item", kwargs))
        if "refusal" in self.replies:
            raise self.replies["refusal"]
        return m.Item(item_id="new", owner_id=kwargs["owner_id"])

    def get_status(self, **target: str) -> m.GetStatusResponse:
        self.calls.append(("get_status", target))
        status: m.GetStatusResponse = self.replies["status"]
        return status

    def watch_status(self, **target: str | None) -> Iterator[m.WatchStatusResponse]:
        self.calls.append(("watch_status", target))
        yield from self.replies["updates"]


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    monkeypatch.setattr(cli, "ProcessingClient", FakeClient)
    FakeClient.replies = {}
    FakeClient.calls = []
    return FakeClient


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.run(list(argv), stream=out)
    return code, out.getvalue()


def test_global_options_go_after_the_command_too(fake: type[FakeClient]) -> None:
    fake.replies["status"] = m.GetStatusResponse(
        item_run=m.ItemRunStatus(item_id="i1", state=m.RunState.SUCCEEDED)
    )

    code, out = _run(
        "status", "--item", "i1", "--json", "--target", "h:1", "--token", "t", "--timeout", "5"
    )

    assert code == 0
    assert json.loads(out)["itemRun"]["itemId"] == "i1"
    assert fake.calls[0] == ("connect", ("h:1", "t", 5.0))


def test_an_image_that_is_not_a_local_file_is_an_error_and_creates_nothing(
    fake: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "photo.jpg"

    with pytest.raises(SystemExit) as exited:
        _run("create", "--owner", "u1", str(missing))

    assert exited.value.code == 2
    assert f"no such file: {missing}" in capsys.readouterr().err
    assert [name for name, _ in fake.calls if name == "create_item"] == []


def test_files_and_uris_keep_their_command_line_order(
    fake: type[FakeClient], tmp_path: Path
) -> None:
    front, back = tmp_path / "front.jpg", tmp_path / "back.jpg"
    front.write_bytes(b"front")
    back.write_bytes(b"back")

    code, _ = _run(
        "create", "--owner", "u1", "--uri", "items/a.jpg", str(front), str(back), "--uri", "b.jpg"
    )

    assert code == 0
    created = dict(fake.calls)["create_item"]
    assert created["images"] == ["items/a.jpg", front, back, "b.jpg"]


def test_get_shows_the_vision_models_suggestions_and_where_they_came_from(
    fake: type[FakeClient],
) -> None:
    model = m.SuggestionSource.VISION_MODEL
    fake.replies["item"] = m.Item(
        item_id="i1",
        owner_id="u1",
        status=m.ItemStatus.PROCESSED,
        suggestions=m.ItemSuggestions(
            title="Nike Air Max 90",
            category="Shoes > Sneakers",
            description="Classic sneakers.",
            attributes={"brand": "Nike"},
            sources=m.SuggestionSources(title=model, category=model, model="llava"),
            suggestion_warnings=["the vision model's tags were dropped: a tag is unusable"],
        ),
    )

    code, out = _run("get", "i1")

    assert code == 0
    assert "suggested title: Nike Air Max 90  (vision model)" in out
    assert "category: Shoes > Sneakers  (vision model)" in out
    assert "description: Classic sneakers.\n" in out
    assert "attribute: brand = Nike" in out
    assert "suggestion warning: the vision model's tags were dropped: a tag is unusable" in out


def test_get_shows_each_suggestion_that_has_a_value(fake: type[FakeClient]) -> None:
    fake.replies["item"] = m.Item(
        item_id="i1",
        owner_id="u1",
        status=m.ItemStatus.PROCESSED,
        images=[m.ItemImage(image_id="img1", uri="items/a.jpg")],
        suggestions=m.ItemSuggestions(
            title="",
            tags=["scarf", "wool"],
            colors=["navy", "beige"],
            quality_warnings=[
                m.QualityWarning(
                    kind=m.QualityWarningKind.BLURRY, image_id="img1", message="looks blurry"
                )
            ],
            primary_image_id="img1",
            primary_thumbnails=[m.Thumbnail(uri="thumbnails/a_256.webp", width=256, height=192)],
        ),
    )

    code, out = _run("get", "i1")

    assert code == 0
    assert "suggested title" not in out
    assert "tags: scarf, wool" in out
    assert "colours: navy, beige" in out
    assert "cover image: img1  items/a.jpg" in out
    assert "thumbnail: thumbnails/a_256.webp  256x192" in out
    assert "warning: BLURRY  image img1  looks blurry" in out


def _batch_update(
    state: m.RunState, failed_ids: tuple[str, ...] = (), **progress: int
) -> m.WatchStatusResponse:
    return m.WatchStatusResponse(
        sequence=1,
        terminal=True,
        batch_run=m.BatchRunStatus(
            batch_id="b1",
            state=state,
            progress=m.BatchProgress(**progress),
            failed_item_ids=list(failed_ids),
        ),
    )


def test_a_batch_with_failed_items_exits_3_and_lists_them(fake: type[FakeClient]) -> None:
    fake.replies["updates"] = [
        _batch_update(m.RunState.SUCCEEDED, ("i2", "i3"), total=3, succeeded=1, failed=2)
    ]

    code, out = _run("watch", "--batch", "b1")

    assert code == 3
    assert out.splitlines()[-2:] == ["failed item i2", "failed item i3"]
    assert f"[{'#' * 10}{'!' * 20}] 3/3  ok 1  skipped 0  failed 2" in out


def test_an_all_skipped_batch_shows_skipped_not_succeeded(fake: type[FakeClient]) -> None:
    fake.replies["updates"] = [_batch_update(m.RunState.SUCCEEDED, total=2, skipped=2)]

    code, out = _run("watch", "--batch", "b1")

    assert code == 0
    assert f"[{'=' * 30}] 2/2  ok 0  skipped 2  failed 0  cancelled 0" in out


def test_a_cancelled_batch_shows_its_cancelled_items_and_exits_1(fake: type[FakeClient]) -> None:
    fake.replies["updates"] = [
        _batch_update(m.RunState.CANCELLED, total=4, succeeded=1, cancelled=2, pending=1)
    ]

    code, out = _run("watch", "--batch", "b1")

    assert code == 1
    assert "CANCELLED" in out
    assert f"[{'#' * 7}{'x' * 15}{'.' * 8}] 3/4  ok 1  skipped 0  failed 0  cancelled 2" in out


def test_an_image_the_service_refuses_as_too_large_exits_2(
    fake: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "huge.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    message = "the upload is 209715200 bytes; at most 20971520 bytes (20 MiB) are accepted"
    fake.replies["refusal"] = ResourceExhaustedError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, message, reason="UPLOAD_TOO_LARGE"
    )

    code, out = _run("create", "--owner", "u1", str(photo))

    assert code == 2
    assert out == ""
    assert f"RESOURCE_EXHAUSTED: {message}" in capsys.readouterr().err


def test_the_next_page_option_works_for_a_token_that_starts_with_a_dash() -> None:
    # Page tokens are URL-safe base64: about one in 32 starts with "-". Passed on its own after
    # --page-token, argparse refused it ("expected one argument"); CI met one.
    token = "-Vx0aGUgbmV4dCBwYWdl"

    args = parse(["list", "--owner", "o", cli.next_page_option(token)])

    assert args.page_token == token
