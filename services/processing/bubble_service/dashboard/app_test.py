"""The dashboard's pages, thumbnails and live progress over a real database and media folder."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

from bubble.processing.v1 import analysis_pb2, run_pb2
from bubble_service.dashboard.conftest import UI, Site, make_site
from bubble_shared.store import NewBatch


def _suggestions(**fields: object) -> analysis_pb2.ItemSuggestions:
    return analysis_pb2.ItemSuggestions(**fields)  # type: ignore[arg-type]


def test_items_show_status_owner_title_cover_suggestions_warnings_and_error(site: Site) -> None:
    site.item(
        "scarf",
        thumbnail_uri=site.thumbnail_file("ab/scarf_128.webp"),
        suggestions=_suggestions(
            title="Wool scarf in red",
            category="Accessories",
            tags=["scarf", "wool"],
            quality_warnings=[
                analysis_pb2.QualityWarning(
                    kind=analysis_pb2.QUALITY_WARNING_KIND_BLURRY, message="image 2 is blurry"
                )
            ],
        ),
    )
    site.item(
        "lamp",
        owner_id="owner-b",
        title="Desk <lamp>",
        error=run_pb2.ProcessingError(code="IMAGE_UNREADABLE", message="image 1 is not an image"),
    )

    page = site.client.get("/")

    assert page.status_code == 200
    html = page.text
    for shown in (
        "Wool scarf in red",
        "Accessories",
        "scarf, wool",
        "blurry: image 2 is blurry",
        "IMAGE_UNREADABLE",
        "image 1 is not an image",
        "owner-b",
        "processed",
        "failed",
    ):
        assert shown in html, shown
    assert "Desk &lt;lamp&gt;" in html  # an owner's text is escaped, never markup
    assert "/items/scarf/images/" in html
    assert "/thumbnail?width=128" in html
    assert f'href="{UI}/namespaces/default/workflows/item-processing%2Fscarf"' in html
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_items_are_filtered_by_status_and_owner_and_paged(site: Site) -> None:
    for number in range(3):
        site.item(f"pending-{number}")
    site.item("done", owner_id="owner-b", suggestions=_suggestions(title="Done"))

    processed = site.client.get("/", params={"status": "PROCESSED"}).text
    assert "done" in processed
    assert "pending-0" not in processed
    owner_b = site.client.get("/", params={"owner": "owner-b"}).text
    assert "done" in owner_b
    assert "pending-1" not in owner_b

    first = site.client.get("/", params={"owner": "owner-a"}).text  # page size 2
    next_link = re.search(r'href="(/\?[^"]+)" rel="next"', first)
    assert next_link is not None
    second = site.client.get(next_link.group(1).replace("&amp;", "&")).text
    shown = [f"pending-{n}" for n in range(3) if f"<code>pending-{n}</code>" in first + second]
    assert shown == ["pending-0", "pending-1", "pending-2"]

    unknown = site.client.get("/", params={"status": "DONE"})
    assert unknown.status_code == 400
    assert "There is no item status" in unknown.text
    stale = site.client.get("/", params={"status": "FAILED", "page": "not-a-token"})
    assert stale.status_code == 400
    assert "start from the first page" in stale.text


def test_an_item_page_lists_its_runs_with_links_to_the_temporal_ui(site: Site) -> None:
    site.item("scarf", suggestions=_suggestions(title="Wool scarf in red"))

    page = site.client.get("/items/scarf")

    assert page.status_code == 200
    run_link = re.search(r'href="([^"]+/history)"', page.text)
    assert run_link is not None
    assert run_link.group(1).startswith(
        f"{UI}/namespaces/default/workflows/item-processing%2Fscarf/"
    )
    # The write of the suggestions leaves the run running: its last step (notify) comes next.
    assert "<td>running</td>" in page.text
    assert site.client.get("/items/nothing-here").status_code == 404


def test_thumbnails_are_served_with_the_type_their_bytes_show(site: Site) -> None:
    site.item(
        "scarf",
        thumbnail_uri=site.thumbnail_file("ab/scarf_128.png"),  # WebP bytes, misnamed
        suggestions=_suggestions(title="Wool scarf"),
    )
    image_id = site.items.get_item("scarf").images[0].image_id

    served = site.client.get(f"/items/scarf/images/{image_id}/thumbnail")

    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.content[8:12] == b"WEBP"
    assert site.client.get(f"/items/scarf/images/{image_id}-x/thumbnail").status_code == 404


def test_thumbnails_outside_the_media_root_or_not_images_are_never_served(site: Site) -> None:
    secret = site.media_root.parent / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"top secret")
    (site.media_root / "thumbnails").mkdir()
    (site.media_root / "thumbnails" / "link.png").symlink_to(secret)
    (site.media_root / "thumbnails" / "page.webp").write_text("<script>alert(1)</script>")
    for item_id, uri in (
        ("climbs-out", "../secret.png"),
        ("absolute", str(secret)),
        ("symlink-out", "thumbnails/link.png"),
        ("html", "thumbnails/page.webp"),
        ("missing", "thumbnails/none.webp"),
    ):
        site.item(item_id, thumbnail_uri=uri, suggestions=_suggestions(title=item_id))
        image_id = site.items.get_item(item_id).images[0].image_id
        answer = site.client.get(f"/items/{item_id}/images/{image_id}/thumbnail")
        assert answer.status_code == 404, item_id
        assert b"secret" not in answer.content
        assert b"script" not in answer.content


def test_a_batch_page_shows_its_counters_and_streams_them_until_it_ends(site: Site) -> None:
    for number in range(3):
        site.item(f"member-{number}")
    site.batches.create(
        NewBatch(
            batch_id="batch-1",
            workflow_id="item-batch-processing/batch-1",
            max_concurrency=2,
            item_ids=[f"member-{n}" for n in range(3)],
        )
    )
    page = site.client.get("/batches/batch-1")
    assert page.status_code == 200
    assert 'data-field="total">3<' in page.text
    assert "member-2" in page.text
    assert f"{UI}/namespaces/default/workflows/item-batch-processing%2Fbatch-1" in page.text
    assert "batch-1" in site.client.get("/batches").text

    events: list[tuple[str, dict[str, object]]] = []
    first_seen = threading.Event()
    with site.client.stream("GET", "/batches/batch-1/progress") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = "message"
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
                if not first_seen.is_set():
                    first_seen.set()
                    site.batches.finish(
                        "batch-1", state=run_pb2.RUN_STATE_CANCELLED, time=datetime.now(UTC)
                    )
                kind = "message"

    assert events[0][0] == "message"
    assert events[0][1]["total"] == 3
    assert events[-2][1]["state"] == "CANCELLED"
    assert events[-1] == ("end", {})
    assert site.client.get("/batches/no-such-batch").status_code == 404
    assert site.client.get("/batches/no-such-batch/progress").status_code == 404


def test_an_unreachable_database_is_a_clear_503(tmp_path: Path) -> None:
    # Nothing listens on port 1: every query fails to connect.
    unreachable = "postgresql://bubble@127.0.0.1:1/bubble?connect_timeout=2"
    for site in make_site(unreachable, tmp_path):
        page = site.client.get("/")

        assert page.status_code == 503
        assert "The item database cannot be reached right now" in page.text
