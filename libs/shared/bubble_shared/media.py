"""Where image files live: URIs checked against MEDIA_ROOT, and uploaded bytes stored under it.

Clients name image files by URI, and the worker opens whatever a URI resolves to. Resolving is
therefore a security boundary: a URI must never reach a file outside MEDIA_ROOT, whether through
"..", an absolute path, a symlink that points out, or a scheme that fetches from elsewhere. Both
the service (at item creation) and the worker (before opening a file) call ``resolve_media_path``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import urllib.parse
from pathlib import Path

# Uploaded bytes go here, relative to MEDIA_ROOT, under the first two hex digits of their hash.
UPLOADS_DIR = "uploads"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_EXTENSION = re.compile(r"[a-z0-9]{1,16}")
_EXPECTED = "a path relative to the media root (e.g. 'items/2024/05/a.jpg') or a file:// URI"


class MediaPathError(ValueError):
    """An image URI that does not name a file inside the media root; the message says why."""


def _shown(uri: str) -> str:
    """The URI for a message, cut short: a hostile URI must not flood logs or gRPC trailers."""
    return repr(uri if len(uri) <= 120 else uri[:120] + "...")


def resolve_media_path(media_root: Path, uri: str) -> Path:
    """The absolute, symlink-free path of the file ``uri`` names inside ``media_root``.

    Accepted: a relative path with "/" separators, or a ``file://`` URI (percent-encoded) of an
    absolute path. Both must resolve, after following symlinks, to something strictly inside
    ``media_root`` (itself resolved); the file need not exist yet. Anything else raises
    MediaPathError: empty URIs, NUL bytes, backslashes, absolute paths without ``file://``, other
    schemes (http, s3, ...), and paths that end up outside the root.

    Returning the resolved path (not the joined one) matters: opening it cannot follow a symlink
    that was checked to stay inside to somewhere else.
    """
    if not uri:
        raise MediaPathError(f"the image URI is empty: give {_EXPECTED}")
    if "\x00" in uri:
        raise MediaPathError(f"the image URI {_shown(uri)} contains a NUL byte")
    if "\\" in uri:
        raise MediaPathError(
            f"the image URI {_shown(uri)} contains a backslash: separate folders with '/'"
        )
    scheme = _SCHEME.match(uri)
    if scheme is not None:
        candidate = _file_uri_path(uri, scheme.group()[:-1].lower())
    elif uri.startswith("/"):
        raise MediaPathError(f"the image URI {_shown(uri)} is an absolute path: give {_EXPECTED}")
    else:
        candidate = media_root / uri
    try:
        root = media_root.resolve()
        resolved = candidate.resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise MediaPathError(f"the image URI {_shown(uri)} cannot be resolved: {error}") from None
    if resolved == root:
        raise MediaPathError(
            f"the image URI {_shown(uri)} names the media root itself, not a file in it"
        )
    if not resolved.is_relative_to(root):
        # The message reaches clients (errors, the item's last error): no server paths in it.
        raise MediaPathError(
            f"the image URI {_shown(uri)} points outside the media root: only files inside "
            "the media root can be used"
        )
    return resolved


def store_upload(media_root: Path, content: bytes, *, extension: str) -> str:
    """Stores uploaded bytes under the media root and returns their URI (relative path).

    The path is derived from the content, ``uploads/<sha256[:2]>/<sha256>.<extension>``, so
    storing the same bytes again (a retried request, the same photo on two items) writes nothing
    new and returns the same URI. The file appears atomically (written to a temporary file, then
    renamed), so a reader never sees half an image. ``extension`` is letters and digits, with or
    without the dot ("jpg", ".png"), or empty for none.
    """
    suffix = extension.lower().removeprefix(".")
    if suffix and not _EXTENSION.fullmatch(suffix):
        raise MediaPathError(
            f"invalid file extension {extension!r}: use up to 16 letters and digits, e.g. 'jpg'"
        )
    digest = hashlib.sha256(content).hexdigest()
    uri = f"{UPLOADS_DIR}/{digest[:2]}/{digest}" + (f".{suffix}" if suffix else "")
    # Also refuses to write when uploads/ is a symlink that leads out of the media root.
    target = resolve_media_path(media_root, uri)
    if target.is_file() and target.stat().st_size == len(content):
        return uri
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(target, content)
    return uri


def _file_uri_path(uri: str, scheme: str) -> Path:
    if scheme != "file":
        raise MediaPathError(
            f"the image URI {_shown(uri)} uses the scheme {scheme!r}, which is not supported: give "
            f"{_EXPECTED}; images must be stored under the media root first"
        )
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise MediaPathError(
            f"the file URI {_shown(uri)} names the host {parts.netloc!r}: only local files "
            "can be used "
            "(file:///absolute/path)"
        )
    if parts.query or parts.fragment:
        raise MediaPathError(
            f"the file URI {_shown(uri)} has a query or fragment: percent-encode '?' and '#' "
            "in names"
        )
    try:
        path = urllib.parse.unquote(parts.path, errors="strict")
    except UnicodeDecodeError:
        raise MediaPathError(
            f"the file URI {_shown(uri)} percent-encodes bytes that are not UTF-8"
        ) from None
    if "\x00" in path or "\\" in path:
        raise MediaPathError(f"the file URI {_shown(uri)} encodes a NUL byte or a backslash")
    if not path.startswith("/"):
        raise MediaPathError(
            f"the file URI {_shown(uri)} does not hold an absolute path: write file:///absolute/path"
        )
    return Path(path)


def _write_atomically(target: Path, content: bytes) -> None:
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: never write through a file (or symlink) someone else placed at that name.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
