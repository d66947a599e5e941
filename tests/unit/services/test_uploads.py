"""UploadService on a real SQLite file and a real directory: resumable hashing across processes, purge, races."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipshape.domain.digests import Digest
from shipshape.domain.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid
from shipshape.metadata import SqlMetadataStore, open_metadata_store
from shipshape.metadata.migrate import migrate
from shipshape.services.uploads import ChunkRange, UploadService
from shipshape.storage.filesystem import FilesystemBlobStore


@dataclass
class FakeClock:
    moment: datetime = field(default_factory=lambda: datetime(2026, 1, 15, tzinfo=UTC))

    def now(self) -> datetime:
        return self.moment


@dataclass
class Node:
    """One registry process: its own UploadService (and so its own hash states) over shared storage."""

    uploads: UploadService
    metadata: SqlMetadataStore
    blobs: FilesystemBlobStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def nodes(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Node, Node]]:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    migrate(url)
    made = []
    for _ in range(2):
        metadata = open_metadata_store(url)
        blobs = FilesystemBlobStore(tmp_path)
        made.append(Node(UploadService(blobs, metadata, metadata, clock), metadata, blobs))
    yield made[0], made[1]
    for node in made:
        await node.metadata.close()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def sha256(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def upload_files(root: Path) -> Iterable[Path]:
    return (root / "uploads").iterdir()


async def test_chunks_received_by_another_process_rebuild_the_hash(nodes: tuple[Node, Node]) -> None:
    first, second = nodes
    session = await first.uploads.start("app")
    await first.uploads.append("app", session.id, chunks(b"hello "), ChunkRange(0, 5))
    await second.uploads.append("app", session.id, chunks(b"big "), ChunkRange(6, 9))
    size = await second.uploads.finish("app", session.id, sha256(b"hello big world"), chunks(b"world"))
    assert size == 15
    assert await first.metadata.linked_blob_size("app", str(sha256(b"hello big world"))) == 15


async def test_stale_hash_state_is_rebuilt_not_trusted(nodes: tuple[Node, Node]) -> None:
    first, second = nodes
    session = await first.uploads.start("app")
    await first.uploads.append("app", session.id, chunks(b"abc"), None)
    await second.uploads.append("app", session.id, chunks(b"def"), None)  # first's state now lags behind
    await first.uploads.finish("app", session.id, sha256(b"abcdef"), None)
    assert await first.blobs.stat(sha256(b"abcdef")) == 6


async def test_wrong_digest_cancels_upload_and_stores_nothing(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    first, _ = nodes
    session = await first.uploads.start("app")
    with pytest.raises(DigestInvalid):
        await first.uploads.finish("app", session.id, sha256(b"something else"), chunks(b"data"))
    assert await first.blobs.stat(sha256(b"data")) is None
    assert list(upload_files(tmp_path)) == []
    with pytest.raises(BlobUploadUnknown):
        await first.uploads.size("app", session.id)


async def test_chunk_must_start_where_the_upload_ends(nodes: tuple[Node, Node]) -> None:
    first, _ = nodes
    session = await first.uploads.start("app")
    await first.uploads.append("app", session.id, chunks(b"abcd"), ChunkRange(0, 3))
    with pytest.raises(RangeInvalid):
        await first.uploads.append("app", session.id, chunks(b"xx"), ChunkRange(2, 3))
    assert await first.uploads.size("app", session.id) == 4


async def test_abandoned_uploads_are_purged_after_the_idle_age(
    nodes: tuple[Node, Node], clock: FakeClock, tmp_path: Path
) -> None:
    first, _ = nodes
    stale = await first.uploads.start("app")
    await first.uploads.append("app", stale.id, chunks(b"old bytes"), None)
    clock.moment += timedelta(hours=23)
    fresh = await first.uploads.start("app")
    clock.moment += timedelta(hours=2)
    assert await first.uploads.purge_idle(timedelta(hours=24)) == 1
    with pytest.raises(BlobUploadUnknown):
        await first.uploads.size("app", stale.id)
    assert await first.uploads.size("app", fresh.id) == 0
    assert [p.name for p in upload_files(tmp_path)] == [fresh.id]


async def test_two_clients_pushing_the_same_blob_at_once_both_succeed(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    first, second = nodes
    data = b"x" * 3_000_000
    sizes = await asyncio.gather(
        first.uploads.upload_whole("one", sha256(data), chunks(data[:1000], data[1000:])),
        second.uploads.upload_whole("two", sha256(data), chunks(data)),
    )
    assert sizes == [len(data), len(data)]
    stored = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == data
    assert await first.metadata.linked_blob_size("two", str(sha256(data))) == len(data)
