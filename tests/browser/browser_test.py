"""In a real browser, Debian's chromium driven by Playwright (never a downloaded browser), against
the dev stack with its demo items: the dashboard lists items with their thumbnails and follows a
batch live; the Temporal UI shows a run's payloads as JSON, decoded by the codec server.

Screenshots are written to extra-output/browser/, which Pants copies to dist/ after the run.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright
from stack.running import PORT_NAMES, StackProcess, children, started_stack

from bubble_client import ProcessingClient
from bubble_shared.testing.ports import free_ports

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("extra-output/browser")
UI_TIMEOUT_MS = 60_000
BATCH_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    state = tmp_path_factory.mktemp("stack") / "state"
    with started_stack(state, ports, "--demo") as running:
        running.wait_until_ready()
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: ./pants installs Debian's chromium as root"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def _dashboard(stack: StackProcess) -> str:
    return f"http://127.0.0.1:{stack.ports['dashboard']}"


def _demo_items(stack: StackProcess) -> dict[str, str]:
    """The demo's items, title -> item ID, from what the stack printed."""
    found = re.findall(r"^(.+) \(([0-9a-f]{32})\): [A-Z]+$", stack.text, re.MULTILINE)
    assert len(found) == 4, stack.text
    return dict(found)


def _screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_the_dashboard_lists_items_with_their_thumbnails(stack: StackProcess, page: Page) -> None:
    page.goto(_dashboard(stack) + "/")

    rows = page.locator("table.items tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("tr", has_text="Broken upload")).to_contain_text("IMAGE_CORRUPT")
    expect(page.locator("tr", has_text="Wool scarf")).to_contain_text("Wool scarf in")
    covers = page.locator("td.cover img")
    expect(covers).to_have_count(3)
    for cover in covers.all():
        cover.scroll_into_view_if_needed()
        expect(cover).to_have_js_property("complete", True)
        assert cover.evaluate("image => image.naturalWidth") >= 128
    _screenshot(page, "dashboard-items.png")

    page.select_option("select[name=status]", "FAILED")
    page.click("button:has-text('Filter')")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Broken upload")


def test_a_batch_page_follows_the_batch_live(stack: StackProcess, page: Page) -> None:
    items = _demo_items(stack)
    processed = [items[title] for title in ("Wool scarf", "Leather jacket", "Ceramic vase")]
    worker = _worker_pid(stack)
    os.kill(worker, signal.SIGSTOP)  # the batch cannot move until the page is open
    try:
        with ProcessingClient(stack.grpc, timeout=30) as client:
            batch = client.start_batch_processing(processed, force=True, max_concurrency=1)
        page.goto(f"{_dashboard(stack)}/batches/{batch.batch_id}")
        expect(page.locator('[data-field="finished"]')).to_have_text("0")
        expect(page.locator('[data-field="live"]')).to_have_text("Updating live.")
        page.evaluate("window.loadedOnce = true")
    finally:
        os.kill(worker, signal.SIGCONT)

    expect(page.locator('[data-field="finished"]')).to_have_text("3", timeout=BATCH_TIMEOUT_MS)
    expect(page.locator('[data-field="succeeded"]')).to_have_text("3")
    expect(page.locator('[data-field="state"]')).to_have_text("succeeded")
    expect(page.locator('[data-field="live"]')).to_have_text("Final.")
    assert page.evaluate("window.loadedOnce") is True  # updated in place, never reloaded
    assert page.evaluate("document.querySelector('progress').value") == 3
    expect(page.locator("table.members tbody tr", has_text="succeeded")).to_have_count(3)
    _screenshot(page, "dashboard-batch.png")


def test_the_temporal_ui_shows_a_run_decoded_by_the_codec_server(
    stack: StackProcess, page: Page
) -> None:
    item_id = _demo_items(stack)["Wool scarf"]
    page.goto(f"{_dashboard(stack)}/items/{item_id}")
    run_page = page.locator("a.run-link").last.get_attribute("href")
    assert run_page is not None
    assert run_page.endswith("/history"), run_page
    codec = f"http://127.0.0.1:{stack.ports['codec']}/decode"
    decoded: list[Response] = []
    page.on(
        "response",
        lambda response: decoded.append(response) if response.url.startswith(codec) else None,
    )

    page.goto(run_page)

    body = page.locator("body")
    expect(body).to_contain_text(f'"itemId": "{item_id}"', timeout=UI_TIMEOUT_MS)
    expect(body).to_contain_text('"state": "RUN_STATE_SUCCEEDED"')
    # The browser asked the codec server: the payloads are binary protobuf, not JSON, in Temporal.
    answered = [response.status for response in decoded if response.request.method == "POST"]
    assert answered, "the browser never asked the codec server"
    assert set(answered) == {200}, answered
    _screenshot(page, "temporal-ui-run.png")


def _worker_pid(stack: StackProcess) -> int:
    for pid in children(stack.process.pid):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"bubble_worker.main" in command:
            return pid
    raise AssertionError("the stack runs no worker")
