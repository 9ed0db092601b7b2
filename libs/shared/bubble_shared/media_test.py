"""Media paths: only files inside the media root, however the URI tries to get out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bubble_shared.media import MediaPathError, resolve_media_path, store_upload


@pytest.fixture()
def media_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "items" / "2024").mkdir(parents=True)
    (root / "items" / "2024" / "a.jpg").write_bytes(b"jpeg")
    return root


def file_uri(path: Path) -> str:
    return "file://" + quote(str(path))


# Accepted --------------------------------------------------------------------------------------


def test_relative_paths_resolve_inside_the_root(media_root: Path) -> None:
    resolved = resolve_media_path(media_root, "items/2024/a.jpg")

    assert resolved == (media_root / "items" / "2024" / "a.jpg").resolve()
    assert resolved.is_absolute()


def test_files_need_not_exist_yet(media_root: Path) -> None:
    resolved = resolve_media_path(media_root, "items/2025/not-uploaded-yet.jpg")

    assert resolved == media_root.resolve() / "items" / "2025" / "not-uploaded-yet.jpg"


def test_dot_dot_that_stays_inside_is_fine(media_root: Path) -> None:
    assert resolve_media_path(media_root, "items/../items/2024/./a.jpg") == resolve_media_path(
        media_root, "items/2024/a.jpg"
    )


def test_file_uris_inside_the_root(media_root: Path) -> None:
    path = media_root / "items" / "2024" / "a.jpg"

    assert resolve_media_path(media_root, file_uri(path)) == path.resolve()
    assert resolve_media_path(media_root, "file://localhost" + quote(str(path))) == path.resolve()


def test_file_uris_are_percent_decoded(media_root: Path) -> None:
    path = media_root / "with space#and%.jpg"

    assert resolve_media_path(media_root, file_uri(path)) == path.resolve()


def test_symlinks_that_stay_inside_resolve_to_their_target(media_root: Path) -> None:
    (media_root / "latest").symlink_to(media_root / "items" / "2024")

    resolved = resolve_media_path(media_root, "latest/a.jpg")

    assert resolved == (media_root / "items" / "2024" / "a.jpg").resolve()


def test_a_media_root_reached_through_a_symlink_works(media_root: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(media_root)

    assert resolve_media_path(alias, "items/2024/a.jpg") == resolve_media_path(
        media_root, "items/2024/a.jpg"
    )
    assert resolve_media_path(alias, file_uri(media_root / "items/2024/a.jpg")).is_file()


# Refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "empty"),
        ("items/a\x00.jpg", "NUL"),
        ("items\\2024\\a.jpg", "backslash"),
        ("/etc/passwd", "absolute path"),
        ("http://example.com/a.jpg", "scheme 'http'"),
        ("https://example.com/a.jpg", "scheme 'https'"),
        ("s3://bucket/a.jpg", "scheme 's3'"),
        ("data:image/png;base64,AAAA", "scheme 'data'"),
        ("file://example.com/srv/a.jpg", "host"),
        ("file:relative/a.jpg", "absolute path"),
        ("file:///srv/a.jpg?download=1", "query"),
        ("file:///srv/a%00.jpg", "NUL"),
        ("file:///srv/%ff.jpg", "not UTF-8"),
        ("..", "outside the media root"),
        ("../secret.jpg", "outside the media root"),
        ("items/../../secret.jpg", "outside the media root"),
        (".", "media root itself"),
        ("items/..", "media root itself"),
    ],
)
def test_refused(media_root: Path, uri: str, reason: str) -> None:
    with pytest.raises(MediaPathError, match=reason):
        resolve_media_path(media_root, uri)


def test_file_uris_outside_the_root_are_refused(media_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"secret")

    with pytest.raises(MediaPathError, match="outside the media root"):
        resolve_media_path(media_root, file_uri(outside))
    with pytest.raises(MediaPathError, match="outside the media root"):
        resolve_media_path(media_root, file_uri(media_root / ".." / "secret.jpg"))
    with pytest.raises(MediaPathError, match="outside the media root"):
        resolve_media_path(media_root, "file:///etc/passwd")


def test_a_sibling_with_the_root_as_prefix_is_outside(media_root: Path, tmp_path: Path) -> None:
    sibling = tmp_path / "media-other" / "a.jpg"

    with pytest.raises(MediaPathError, match="outside the media root"):
        resolve_media_path(media_root, file_uri(sibling))


def test_symlinks_that_lead_out_are_refused(media_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    (media_root / "escape").symlink_to(outside)
    (media_root / "items" / "leak.jpg").symlink_to(outside / "secret.jpg")
    (media_root / "passwd.jpg").symlink_to("/etc/passwd")

    for uri in ["escape/secret.jpg", "items/leak.jpg", "passwd.jpg"]:
        with pytest.raises(MediaPathError, match="outside the media root"):
            resolve_media_path(media_root, uri)
    with pytest.raises(MediaPathError, match="outside the media root"):
        resolve_media_path(media_root, file_uri(media_root / "escape" / "secret.jpg"))


def test_symlink_loops_are_refused_cleanly(media_root: Path) -> None:
    (media_root / "loop").symlink_to(media_root / "loop")

    with pytest.raises(MediaPathError):
        resolve_media_path(media_root, "loop/a.jpg")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uri=st.text(max_size=60) | st.text(alphabet="./a:\\%\x00f", max_size=20))
def test_any_uri_is_refused_or_inside_the_root(media_root: Path, uri: str) -> None:
    try:
        resolved = resolve_media_path(media_root, uri)
    except MediaPathError:
        return
    root = media_root.resolve()
    assert resolved != root
    assert resolved.is_relative_to(root)


# Uploads ---------------------------------------------------------------------------------------


def test_store_upload_writes_content_addressed_files(media_root: Path) -> None:
    content = b"\x89PNG fake image"
    digest = hashlib.sha256(content).hexdigest()

    uri = store_upload(media_root, content, extension="png")

    assert uri == f"uploads/{digest[:2]}/{digest}.png"
    assert resolve_media_path(media_root, uri).read_bytes() == content


def test_store_upload_is_idempotent(media_root: Path) -> None:
    first = store_upload(media_root, b"same bytes", extension=".JPG")
    path = resolve_media_path(media_root, first)
    written = path.stat().st_mtime_ns

    second = store_upload(media_root, b"same bytes", extension="jpg")

    assert second == first
    assert first.endswith(".jpg")
    assert path.stat().st_mtime_ns == written
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files left


def test_store_upload_without_extension(media_root: Path) -> None:
    digest = hashlib.sha256(b"x").hexdigest()

    assert store_upload(media_root, b"x", extension="") == f"uploads/{digest[:2]}/{digest}"


def test_store_upload_repairs_a_file_of_the_wrong_size(media_root: Path) -> None:
    uri = store_upload(media_root, b"complete", extension="jpg")
    path = resolve_media_path(media_root, uri)
    path.write_bytes(b"compl")

    assert store_upload(media_root, b"complete", extension="jpg") == uri
    assert path.read_bytes() == b"complete"


@pytest.mark.parametrize("extension", ["../jpg", "j/pg", "jpg.exe.", "x" * 17, "jp g"])
def test_store_upload_refuses_odd_extensions(media_root: Path, extension: str) -> None:
    with pytest.raises(MediaPathError, match="extension"):
        store_upload(media_root, b"x", extension=extension)


def test_store_upload_refuses_an_uploads_folder_that_leads_out(
    media_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (media_root / "uploads").symlink_to(outside)

    with pytest.raises(MediaPathError, match="outside the media root"):
        store_upload(media_root, b"x", extension="jpg")
    assert list(outside.iterdir()) == []


def test_store_upload_leaves_no_temporary_file_when_writing_fails(
    media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)

    with pytest.raises(OSError, match="disk full"):
        store_upload(media_root, b"x", extension="jpg")
    assert [path for path in (media_root / "uploads").rglob("*") if path.is_file()] == []
