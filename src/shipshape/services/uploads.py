"""Blob uploads: start, stream chunks while hashing, verify the digest, commit; mounts between repositories.

The running hash of an upload stays in the process that received its chunks (hashlib cannot serialise a
SHA-256 state). A process that gets a chunk without that state, or with a stale one, rebuilds it by reading
back the bytes stored so far: always correct, fast in the usual one-request push.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from shipshape.domain.digests import Digest, Hasher, new_hasher
from shipshape.domain.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    PolicyRefused,
    RangeInvalid,
)
from shipshape.domain.records import UploadSession
from shipshape.ports import BlobIndex, BlobStore, Clock, UploadIndex

MayPull = Callable[[str], Awaitable[bool]]


class BlobAdmission(Protocol):
    """The storage quota, as uploads and mounts meet it (`shipshape.services.quotas`)."""

    async def admit_blob(self, repository: str, digest: str, size: int) -> None: ...


@dataclass(slots=True)
class _HashState:
    algorithm: str
    hasher: Hasher
    offset: int


@dataclass(frozen=True, slots=True)
class ChunkRange:
    """The byte range a PATCH claims to carry (`Content-Range: start-end`, inclusive)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class UploadService:
    def __init__(
        self,
        blobs: BlobStore,
        index: BlobIndex,
        uploads: UploadIndex,
        clock: Clock,
        quota: BlobAdmission | None = None,
    ) -> None:
        self._quota = quota
        self._blobs = blobs
        self._index = index
        self._uploads = uploads
        self._clock = clock
        self._states: dict[str, _HashState] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, repository: str) -> UploadSession:
        now = self._clock.now()
        session = UploadSession(id=uuid.uuid4().hex, repository=repository, created_at=now, updated_at=now)
        # The session's row first: garbage collection deletes upload files no session knows, and must never see
        # this one's file before its row.
        await self._uploads.create_upload(session)
        try:
            await self._blobs.start_upload(session.id)
        except BaseException:
            await self._uploads.delete_upload(session.id)
            raise
        return session

    async def mount(self, repository: str, digest: Digest, source: str | None, may_pull: MayPull) -> bool:
        """Link an already stored blob into `repository`; False when no readable source has it."""
        if source is not None:
            candidates = [source] if source != repository else []
        else:
            candidates = await self._index.repositories_with_blob(str(digest))
        for candidate in candidates:
            if not await may_pull(candidate):
                continue
            size = await self._index.linked_blob_size(candidate, str(digest))
            if size is None:
                continue
            if self._quota is not None:
                try:
                    await self._quota.admit_blob(repository, str(digest), size)
                except PolicyRefused:
                    return False  # the client uploads it instead, and is refused with the quota's message
            try:
                await self._index.link_stored_blob(repository, str(digest))
            except BlobUnknown:
                return False  # garbage collection took it meanwhile: the client uploads it instead
            return True
        return False

    async def size(self, repository: str, upload_id: str) -> int:
        """Bytes received so far (the upload status)."""
        await self._session(repository, upload_id)
        return await self._stored_size(upload_id)

    async def append(
        self, repository: str, upload_id: str, body: AsyncIterable[bytes], claimed: ChunkRange | None
    ) -> int:
        """Append one chunk; returns the upload's new size."""
        await self._session(repository, upload_id)
        async with self._lock(upload_id):
            size = await self._stored_size(upload_id)
            if claimed is not None and claimed.start != size:
                raise RangeInvalid(
                    f"chunk starts at byte {claimed.start} but the upload holds {size} bytes:"
                    f" send the chunk that starts at {size}"
                )
            size = await self._receive(upload_id, body, size, "sha256")
            await self._uploads.touch_upload(upload_id, self._clock.now())
            return size

    async def finish(self, repository: str, upload_id: str, digest: Digest, body: AsyncIterable[bytes] | None) -> int:
        """Take the last chunk (if any), verify `digest`, and publish the blob; returns its size."""
        await self._session(repository, upload_id)
        async with self._lock(upload_id):
            size = await self._stored_size(upload_id)
            if body is not None:
                size = await self._receive(upload_id, body, size, digest.algorithm)
            state = await self._state(upload_id, size, digest.algorithm)
            actual = Digest(digest.algorithm, state.hasher.hexdigest())
            if actual != digest:
                await self._discard(upload_id)
                raise DigestInvalid(
                    f"uploaded content has digest {actual}, not {digest}: the upload was cancelled, push again"
                )
            if self._quota is not None:
                try:
                    await self._quota.admit_blob(repository, str(digest), size)
                except PolicyRefused:
                    await self._discard(upload_id)  # nothing is stored
                    raise
            await self._blobs.seal_upload(upload_id)

            async def commit() -> None:
                await self._blobs.commit_upload(upload_id, digest)

            await self._index.link_blob(repository, str(digest), size, commit)
            await self._discard(upload_id)  # what is left of it when the blob was stored already
            return size

    async def upload_whole(self, repository: str, digest: Digest, body: AsyncIterable[bytes]) -> int:
        """A monolithic upload (POST with `?digest=`)."""
        session = await self.start(repository)
        try:
            return await self.finish(repository, session.id, digest, body)
        except BaseException:
            await self._discard(session.id)
            raise

    async def cancel(self, repository: str, upload_id: str) -> None:
        await self._session(repository, upload_id)
        await self._discard(upload_id)

    async def purge_idle(self, max_idle: timedelta) -> int:
        """Delete upload sessions nobody touched for `max_idle`; returns how many."""
        stale = await self._uploads.uploads_idle_since(self._clock.now() - max_idle)
        for session in stale:
            await self._discard(session.id)
        return len(stale)

    async def _session(self, repository: str, upload_id: str) -> UploadSession:
        session = await self._uploads.get_upload(repository, upload_id) if _is_upload_id(upload_id) else None
        if session is None:
            raise BlobUploadUnknown(f"upload {upload_id} is unknown in {repository}: start a new upload")
        return session

    async def _stored_size(self, upload_id: str) -> int:
        try:
            return await self._blobs.upload_size(upload_id)
        except FileNotFoundError:
            raise BlobUploadUnknown(f"upload {upload_id} has no data any more: start a new upload") from None

    async def _receive(self, upload_id: str, body: AsyncIterable[bytes], size: int, algorithm: str) -> int:
        state = await self._state(upload_id, size, algorithm)
        writer = await self._blobs.append_to_upload(upload_id, size)
        try:
            async for chunk in body:
                state.hasher.update(chunk)
                await writer.write(chunk)
                state.offset += len(chunk)
        except BaseException:
            # The state and the stored bytes may now disagree: rebuild from the bytes next time.
            self._states.pop(upload_id, None)
            raise
        finally:
            await writer.close()
        return state.offset

    async def _state(self, upload_id: str, size: int, algorithm: str) -> _HashState:
        state = self._states.get(upload_id)
        if state is None or state.offset != size or state.algorithm != algorithm:
            hasher = new_hasher(algorithm)
            offset = 0
            async for chunk in self._blobs.read_upload(upload_id):
                hasher.update(chunk)
                offset += len(chunk)
            state = self._states[upload_id] = _HashState(algorithm, hasher, offset)
        return state

    async def _discard(self, upload_id: str) -> None:
        await self._blobs.cancel_upload(upload_id)
        await self._uploads.delete_upload(upload_id)
        self._forget(upload_id)

    def _forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)
        self._locks.pop(upload_id, None)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())


def parse_content_range(header: str | None, content_length: int | None) -> ChunkRange | None:
    """Parse a PATCH's `Content-Range: start-end` and check it against `Content-Length`."""
    if header is None:
        return None
    text = header.strip().removeprefix("bytes").strip().lstrip("=").strip()
    start_text, dash, end_text = text.partition("-")
    if not dash or not start_text.isdigit() or not end_text.isdigit() or int(end_text) < int(start_text):
        raise RangeInvalid(f"invalid Content-Range {header!r}: expected <start>-<end>, e.g. 0-1023")
    claimed = ChunkRange(int(start_text), int(end_text))
    if content_length is not None and content_length != claimed.length:
        raise BlobUploadInvalid(
            f"Content-Range {header!r} covers {claimed.length} bytes but Content-Length is {content_length}"
        )
    return claimed


def _is_upload_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
