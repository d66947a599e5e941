"""The filesystem blob store: committed blobs are immutable files, published by an atomic rename."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from shipshape.domain.digests import Digest
from shipshape.ports import LocalFile, StoredBytes

READ_CHUNK = 1024 * 1024


class FileUploadWriter:
    """Appends to an upload file. Writes go to the page cache; `commit_upload` makes them durable."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    async def write(self, data: bytes) -> None:
        self._file.write(data)

    async def close(self) -> None:
        self._file.close()


class FilesystemBlobStore:
    """Blobs and uploads under one root directory.

    Layout (the upload and blob directories share a filesystem so that commit is a rename)::

        ROOT/
          blobs/
            sha256/
              9f/
                9f86d081884c7d65…        the blob's bytes, named by its digest
          uploads/
            3f2a9c1e…                    bytes received so far for one upload session
    """

    def __init__(self, root: Path) -> None:
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._blobs.mkdir(parents=True, exist_ok=True)

    async def open(self) -> None:
        """Nothing to connect to: the directories exist."""

    async def close(self) -> None:
        """Nothing to release: files are opened per request."""

    def blob_path(self, digest: Digest) -> Path:
        return self._blobs / digest.algorithm / digest.hex[:2] / digest.hex

    def _upload_path(self, upload_id: str) -> Path:
        return self._uploads / upload_id

    async def start_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).touch(exist_ok=False)

    async def append_to_upload(self, upload_id: str, size: int | None = None) -> FileUploadWriter:
        path = self._upload_path(upload_id)
        if not path.exists():
            raise FileNotFoundError(f"upload {upload_id} not found")
        return FileUploadWriter(path.open("ab"))

    async def upload_size(self, upload_id: str) -> int:
        return self._upload_path(upload_id).stat().st_size

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        with self._upload_path(upload_id).open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
                yield chunk

    async def seal_upload(self, upload_id: str) -> None:
        await asyncio.to_thread(_fsync_file, self._upload_path(upload_id))

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        await asyncio.to_thread(self._commit, self._upload_path(upload_id), self.blob_path(digest))

    @staticmethod
    def _commit(source: Path, target: Path) -> None:
        if target.exists():
            return  # identical content is stored once: the bytes are already there, durable
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_directory(target.parent)

    async def cancel_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).unlink(missing_ok=True)

    async def stat(self, digest: Digest) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    async def open_blob(self, digest: Digest) -> LocalFile:
        path = self.blob_path(digest)
        return LocalFile(path=path, size=path.stat().st_size)

    async def delete_blob(self, digest: Digest) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    async def list_blobs(self) -> AsyncIterator[list[StoredBytes]]:
        for algorithm in await asyncio.to_thread(_subdirectories, self._blobs):
            for prefix in await asyncio.to_thread(_subdirectories, algorithm):
                found = await asyncio.to_thread(_files, prefix)
                yield [StoredBytes(f"{algorithm.name}:{name}", size, modified) for name, size, modified in found]

    async def list_uploads(self) -> AsyncIterator[list[StoredBytes]]:
        found = await asyncio.to_thread(_files, self._uploads)
        yield [StoredBytes(name, size, modified) for name, size, modified in found]


def _subdirectories(directory: Path) -> list[Path]:
    with os.scandir(directory) as entries:
        return sorted(Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False))


def _files(directory: Path) -> list[tuple[str, int, datetime]]:
    """(name, size, modification time) of the regular files in `directory`; files that vanish meanwhile are skipped."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    status = entry.stat(follow_symlinks=False)
                    found.append((entry.name, status.st_size, datetime.fromtimestamp(status.st_mtime, UTC)))
            except FileNotFoundError:
                continue
    return found


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as file:
        os.fsync(file.fileno())


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
