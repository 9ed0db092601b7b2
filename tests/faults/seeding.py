"""Items for a fault test, each with an image of its own, written straight into the database.

Every image is a different generated photo, so no item is answered from the analysis cache
(keyed by the file's sha256): each one needs a real analysis in the worker's process pool,
which is what a fault should hit. Seeding goes around the service so the batch, not item
creation, is what runs when the fault comes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from bubble_shared.store import ItemStore, NewImage, create_engine
from bubble_worker.analysis.synthetic import photo_like

IMAGE_SIZE = (640, 480)


def seed_items(
    database_url: str,
    media_root: Path,
    *,
    count: int,
    owner_id: str,
    first_seed: int = 10_000,
    image_size: tuple[int, int] = IMAGE_SIZE,
) -> list[str]:
    """Creates ``count`` PENDING items with one distinct JPEG each; their IDs, oldest first.
    Images of seeds from ``first_seed`` on: a second batch in one test needs other seeds, or
    the analysis cache answers it."""
    folder = media_root / "items"
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url)
    store = ItemStore(engine)
    item_ids = []
    try:
        for index in range(count):
            name = f"{owner_id}-{index:03d}.jpg"
            path = folder / name
            photo_like(image_size, seed=first_seed + index).save(path, "JPEG", quality=85)
            item = store.create_item(
                item_id=f"{owner_id}-{index:03d}-{uuid.uuid4().hex[:6]}",
                owner_id=owner_id,
                title=f"Fault item {index}",
                description="",
                images=[
                    NewImage(
                        uri=f"items/{name}",
                        filename=name,
                        content_type="image/jpeg",
                        size_bytes=path.stat().st_size,
                    )
                ],
            )
            item_ids.append(item.item_id)
    finally:
        engine.dispose()
    return item_ids
