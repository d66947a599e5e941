"""The BlobStore contract, run against every driver: the filesystem, and S3 on a real SeaweedFS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shipshape.domain.digests import Digest
from shipshape.ports import BlobStore, LocalFile, OpenBlob
from shipshape.storage.filesystem import FilesystemBlobStore

from ..s3_support import s3_store_on_new_bucket


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
async def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path)
    else:
        async with s3_store_on_new_bucket() as store:
            yield store


async def content(opened: OpenBlob, start: int = 0, end: int | None = None) -> bytes:
    if isinstance(opened, LocalFile):
        return opened.path.read_bytes()[start:end]
    return b"".join([chunk async for chunk in opened.read(start, end)])


async def upload(store: BlobStore, upload_id: str, *chunks: bytes) -> None:
    await store.start_upload(upload_id)
    writer = await store.append_to_upload(upload_id)
    for chunk in chunks:
        await writer.write(chunk)
    await writer.close()


async def read_all(store: BlobStore, upload_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read_upload(upload_id)])


async def test_appends_accumulate_across_writers(blob_store: BlobStore) -> None:
    await upload(blob_store, "u1", b"abc", b"def")
    writer = await blob_store.append_to_upload("u1")
    await writer.write(b"ghi")
    await writer.close()
    assert await blob_store.upload_size("u1") == 9
    assert await read_all(blob_store, "u1") == b"abcdefghi"


async def test_blob_is_invisible_until_committed(blob_store: BlobStore) -> None:
    digest = Digest.of(b"payload")
    await upload(blob_store, "u1", b"payload")
    assert await blob_store.stat(digest) is None
    await blob_store.commit_upload("u1", digest)
    assert await blob_store.stat(digest) == 7
    located = await blob_store.open_blob(digest)
    assert located.size == 7 and await content(located) == b"payload"
    assert await content(located, 2, 5) == b"ylo"
    with pytest.raises(FileNotFoundError):
        await blob_store.upload_size("u1")


async def test_committing_an_existing_blob_keeps_one_copy(blob_store: BlobStore) -> None:
    digest = Digest.of(b"same")
    await upload(blob_store, "u1", b"same")
    await upload(blob_store, "u2", b"same")
    await blob_store.seal_upload("u1")
    await blob_store.seal_upload("u2")
    await asyncio.gather(blob_store.commit_upload("u1", digest), blob_store.commit_upload("u2", digest))
    assert await blob_store.stat(digest) == 4
    assert await content(await blob_store.open_blob(digest)) == b"same"
    # The upload that found the blob stored is left for its caller to cancel.
    await blob_store.cancel_upload("u1")
    await blob_store.cancel_upload("u2")
    with pytest.raises(FileNotFoundError):
        await blob_store.upload_size("u2")


async def test_listing_finds_every_blob_and_upload(blob_store: BlobStore) -> None:
    digests = [Digest.of(data) for data in (b"one", b"two")]
    for number, digest in enumerate(digests):
        await upload(blob_store, f"b{number}", b"one" if number == 0 else b"two")
        await blob_store.commit_upload(f"b{number}", digest)
    await upload(blob_store, "pending", b"half")

    blobs = [found async for batch in blob_store.list_blobs() for found in batch]
    uploads = [found async for batch in blob_store.list_uploads() for found in batch]

    assert sorted(found.name for found in blobs) == sorted(str(digest) for digest in digests)
    assert all(found.size == 3 for found in blobs)
    assert [(found.name, found.size) for found in uploads] == [("pending", 4)]
    await blob_store.delete_blob(digests[0])
    assert [found.name async for batch in blob_store.list_blobs() for found in batch] == [str(digests[1])]


async def test_cancel_and_delete_are_idempotent(blob_store: BlobStore) -> None:
    digest = Digest.of(b"gone")
    await upload(blob_store, "u1", b"gone")
    await blob_store.cancel_upload("u1")
    await blob_store.cancel_upload("u1")
    with pytest.raises(FileNotFoundError):
        await blob_store.append_to_upload("u1")
    await upload(blob_store, "u2", b"gone")
    await blob_store.commit_upload("u2", digest)
    await blob_store.delete_blob(digest)
    await blob_store.delete_blob(digest)
    assert await blob_store.stat(digest) is None
    with pytest.raises(FileNotFoundError):
        await blob_store.open_blob(digest)


async def test_missing_upload_raises_file_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        await blob_store.upload_size("nope")


async def test_large_appends_in_many_writers_make_one_blob(blob_store: BlobStore) -> None:
    """Appends larger than an S3 part, and small ones after them, read back and commit as one blob."""
    big = bytes(range(256)) * (4096 * 25 + 7)  # ~25 MiB: three parts
    small = [b"tail-1", b"tail-2"]
    await upload(blob_store, "u1", *[big[i : i + 1_000_000] for i in range(0, len(big), 1_000_000)])
    for chunk in small:
        writer = await blob_store.append_to_upload("u1")
        await writer.write(chunk)
        await writer.close()
    whole = big + b"".join(small)
    assert await blob_store.upload_size("u1") == len(whole)
    assert await read_all(blob_store, "u1") == whole
    digest = Digest.of(whole)
    await blob_store.seal_upload("u1")
    await blob_store.commit_upload("u1", digest)
    opened = await blob_store.open_blob(digest)
    assert opened.size == len(whole)
    assert await content(opened, len(big) - 3) == whole[len(big) - 3 :]
    assert Digest.of(await content(opened)) == digest


async def test_an_empty_append_adds_nothing(blob_store: BlobStore) -> None:
    await upload(blob_store, "u1")
    await upload(blob_store, "u2", b"")
    assert await blob_store.upload_size("u1") == await blob_store.upload_size("u2") == 0
    digest = Digest.of(b"")
    await blob_store.commit_upload("u1", digest)
    assert await blob_store.stat(digest) == 0
