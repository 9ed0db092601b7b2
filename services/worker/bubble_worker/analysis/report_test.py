from __future__ import annotations

from bubble_worker.analysis.errors import ImageRejectedError
from bubble_worker.analysis.report import ImageProblem, image_label, summarize


def problem(number: int, label: str, reason: str = "is empty (0 bytes)") -> ImageProblem:
    rejection = ImageRejectedError(code="IMAGE_CORRUPT", image_id=f"id-{number}", reason=reason)
    return ImageProblem(number=number, label=label, rejection=rejection)


def test_one_bad_image_is_named_by_its_place_among_all_and_its_name() -> None:
    assert summarize([problem(2, "back.jpg")], total=3) == (
        "image 2 of 3 'back.jpg' is empty (0 bytes)"
    )


def test_several_bad_images_are_listed_in_item_order() -> None:
    found = [problem(4, "x.png", "is a folder, not an image file"), problem(2, "back.jpg")]

    assert summarize(found, total=5) == (
        "2 of 5 images cannot be used: image 2 'back.jpg' is empty (0 bytes); "
        "image 4 'x.png' is a folder, not an image file"
    )


def test_what_does_not_fit_is_counted() -> None:
    found = [problem(n, f"photo-{n:02}.jpg") for n in range(1, 21)]

    text = summarize(found, total=20, limit=160)

    assert len(text) <= 160
    assert text.startswith("20 of 20 images cannot be used: image 1 'photo-01.jpg' is empty")
    shown = text.count(" is empty (0 bytes)")
    assert 1 < shown < 20
    assert text.endswith(f"; and {20 - shown} more")


def test_long_and_odd_names_are_cut_and_escaped() -> None:
    name = "a\nb" + "x" * 300 + ".jpg"

    text = summarize([problem(1, name)], total=1)

    assert "\n" not in text
    assert text.startswith("image 1 of 1 'a\\nbxxx")
    assert "x…x" in text  # cut in the middle: both ends stay
    assert text.endswith("xx.jpg' is empty (0 bytes)")
    assert len(text) < 100


def test_an_image_without_a_filename_is_named_by_its_uri() -> None:
    assert image_label("", "uploads/ab/abcdef.png") == "abcdef.png"
    assert image_label("front.jpg", "uploads/ab/abcdef.png") == "front.jpg"
