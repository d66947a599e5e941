"""What only the S3 store has: multipart uploads a crash leaves behind, and presigned redirects."""

from __future__ import annotations

import aiohttp
import pytest

from shipshape.domain.digests import Digest
from shipshape.storage.s3 import PART_SIZE, S3BlobStore, S3UploadWriter

from ..s3_support import multipart_uploads, object_keys

pytestmark = pytest.mark.s3


async def test_an_append_cut_short_by_a_crash_is_found_and_aborted(s3_store: S3BlobStore) -> None:
    await s3_store.start_upload("u1")
    writer = await s3_store.append_to_upload("u1")
    await writer.write(b"x" * (PART_SIZE + 1))  # one part sent; the process dies before `close`
    assert len(await multipart_uploads(s3_store)) == 1
    assert await s3_store.upload_size("u1") == 0  # what was never completed is not part of the upload

    found = [upload.name async for batch in s3_store.list_uploads() for upload in batch]
    assert found == ["u1"]
    await s3_store.cancel_upload("u1")

    assert await multipart_uploads(s3_store) == []
    assert await object_keys(s3_store) == []


async def test_a_crash_after_the_marker_leaves_a_listed_upload(s3_store: S3BlobStore) -> None:
    """A multipart upload with no marker (its session's object already gone) is still listed, so GC finds it."""
    client = await s3_store.client()
    key = "registry/uploads/orphan/00000000000000000000"
    await client.create_multipart_upload(Bucket=s3_store.bucket, Key=key)
    found = [upload.name async for batch in s3_store.list_uploads() for upload in batch]
    assert found == ["orphan"]
    await s3_store.cancel_upload("orphan")
    assert await multipart_uploads(s3_store) == []


async def test_writer_sends_parts_and_completes_one_object(s3_store: S3BlobStore) -> None:
    client = await s3_store.client()
    writer = S3UploadWriter(client, s3_store.bucket, "registry/plain")
    data = bytes(range(256)) * (PART_SIZE // 256 * 2 + 3)
    for start in range(0, len(data), 3_000_000):
        await writer.write(data[start : start + 3_000_000])
    await writer.close()
    head = await client.head_object(Bucket=s3_store.bucket, Key="registry/plain")
    assert head["ContentLength"] == len(data)
    assert await multipart_uploads(s3_store) == []


async def test_redirect_url_serves_the_blob(s3_store: S3BlobStore) -> None:
    await s3_store.start_upload("u1")
    writer = await s3_store.append_to_upload("u1")
    await writer.write(b"presigned")
    await writer.close()
    digest = Digest.of(b"presigned")
    await s3_store.commit_upload("u1", digest)

    redirecting = S3BlobStore(s3_store.location, redirect=True)
    try:
        opened = await redirecting.open_blob(digest)
    finally:
        await redirecting.close()
    assert opened.redirect_url is not None and "Signature" in opened.redirect_url
    async with aiohttp.ClientSession() as session, session.get(opened.redirect_url) as response:
        assert response.status == 200
        assert await response.read() == b"presigned"
    assert await object_keys(s3_store) == [s3_store.blob_key(digest)]
