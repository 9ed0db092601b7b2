"""An upload being received: a temporary file under MEDIA_ROOT, hashed as it grows, then moved
to its content-addressed place or removed, so nothing of a refused upload stays behind.

The final path is the one inline images get (``bubble_shared.media.store_upload``):
``uploads/<sha256[:2]>/<sha256>.<extension>``, so an uploaded photo and the same photo sent inline
are one file. Every method blocks on disk I/O: call them in a thread, except ``discard``, which
only closes and unlinks and must also run while a cancelled RPC unwinds.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from bubble_shared.media import UPLOADS_DIR, resolve_media_path

# Unfinished uploads, inside the media root (so the final rename stays on one file system).
PARTIAL_DIR = f"{UPLOADS_DIR}/.partial"
# Enough of the file's start to sniff every format images.py knows.
HEAD_BYTES = 64


def upload_uri(sha256: str, extension: str) -> str:
    return f"{UPLOADS_DIR}/{sha256[:2]}/{sha256}.{extension}"


class IncomingFile:
    def __init__(self, media_root: Path) -> None:
        self._media_root = media_root
        self._hash = hashlib.sha256()
        self._path: Path | None = None
        self._file: BinaryIO | None = None
        self.size = 0
        self.head = b""
        """The first HEAD_BYTES bytes (fewer while fewer have arrived)."""

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def open(self) -> None:
        # Resolved like any URI: refuses an uploads/ that is a symlink out of the media root.
        path = resolve_media_path(self._media_root, f"{PARTIAL_DIR}/{secrets.token_hex(16)}.part")
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never write through a file (or symlink) someone else placed at that name.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._path = path
        self._file = os.fdopen(descriptor, "wb")

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "open() first"
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]

    def keep(self, uri: str) -> None:
        """Moves the complete file to ``uri`` (atomically: readers never see half an image);
        when that file exists already (the same bytes, uploaded before), drops this copy."""
        assert self._file is not None, "open() first"
        assert self._path is not None, "open() first"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        target = resolve_media_path(self._media_root, uri)
        if target.is_file() and target.stat().st_size == self.size:
            self.discard()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, target)
        self._path = None

    def discard(self) -> None:
        """Removes the temporary file, if any is left; safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
