"""The registry on an S3 blob store (a real SeaweedFS): pushes, ranged pulls, redirects, refused uploads, and GC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from shipshape.app import build_app
from shipshape.config import Settings
from shipshape.domain.digests import Digest
from shipshape.metadata import open_metadata_store
from shipshape.metadata.lifecycle_store import SqlLifecycleStore
from shipshape.metadata.migrate import migrate
from shipshape.services.garbage import GarbageCollector
from shipshape.storage import BlobStoreUnavailable
from shipshape.storage.s3 import PART_SIZE, S3BlobStore, S3Location

from ..s3_support import multipart_uploads, object_keys, s3_bucket_url, s3_endpoint
from .conftest import Registry, digest_of
from .manage_support import FakeClock

pytestmark = pytest.mark.s3
_ = s3_bucket_url  # a fixture


def s3_settings(tmp_path: Path, bucket: tuple[str, str], **extra: object) -> Settings:
    url, endpoint = bucket
    settings = Settings(
        data_dir=tmp_path / "data", auth=False, blob_store=url, s3_endpoint_url=endpoint, s3_region="us-east-1",
        **extra,
    )  # fmt: skip
    settings.data_dir.mkdir(exist_ok=True)
    migrate(settings.metadata_url)
    return settings


@pytest.fixture
async def store(s3_bucket_url: tuple[str, str]) -> AsyncIterator[S3BlobStore]:
    """A second view of the server's bucket, to look at what it holds."""
    url, endpoint = s3_bucket_url
    opened = S3BlobStore(S3Location.parse(url, endpoint, "us-east-1"))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def registry(tmp_path: Path, s3_bucket_url: tuple[str, str], clock: FakeClock) -> AsyncIterator[Registry]:
    settings = s3_settings(tmp_path, s3_bucket_url)
    client = TestClient(TestServer(build_app(settings, clock)))
    await client.start_server()
    try:
        yield Registry(client, settings.data_dir)
    finally:
        await client.close()


async def chunked_push(registry: Registry, name: str, chunks: list[bytes]) -> str:
    started = await registry.client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status == 202
    location, offset = started.headers["Location"], 0
    for chunk in chunks:
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Type": "application/octet-stream"}
        patched = await registry.client.patch(location, data=chunk, headers=headers)
        assert patched.status == 202, await patched.text()
        location, offset = patched.headers["Location"], offset + len(chunk)
    digest = digest_of(b"".join(chunks))
    finished = await registry.client.put(f"{location}{'&' if '?' in location else '?'}digest={digest}")
    assert finished.status == 201, await finished.text()
    return digest


async def test_chunked_push_is_stored_as_one_object_and_pulled_whole_or_in_ranges(
    registry: Registry, store: S3BlobStore
) -> None:
    chunks = [bytes([n]) * (PART_SIZE + 5) for n in (1, 2)] + [b"the end"]
    data = b"".join(chunks)
    digest = await chunked_push(registry, "team/app", chunks)

    assert await object_keys(store) == [store.blob_key(Digest.parse(digest))]
    assert await multipart_uploads(store) == []
    whole = await registry.client.get(f"/v2/team/app/blobs/{digest}")
    assert whole.status == 200 and whole.headers["Docker-Content-Digest"] == digest
    assert await whole.read() == data
    ranged = await registry.client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert ranged.status == 206 and ranged.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert await ranged.read() == data[10:20]
    suffix = await registry.client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=-7"})
    assert suffix.status == 206 and await suffix.read() == b"the end"
    outside = await registry.client.get(f"/v2/team/app/blobs/{digest}", headers={"Range": f"bytes={len(data)}-"})
    assert outside.status == 416 and outside.headers["Content-Range"] == f"bytes */{len(data)}"
    head = await registry.client.head(f"/v2/team/app/blobs/{digest}")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))


async def test_a_digest_mismatch_leaves_no_object_and_no_multipart_upload(
    registry: Registry, store: S3BlobStore
) -> None:
    data = b"z" * (PART_SIZE * 2 + 1)  # streamed as a multipart upload
    wrong = digest_of(b"something else")
    response = await registry.client.post(f"/v2/team/app/blobs/uploads/?digest={wrong}", data=data)
    assert response.status == 400
    assert (await response.json())["errors"][0]["code"] == "DIGEST_INVALID"
    assert await object_keys(store) == []
    assert await multipart_uploads(store) == []


async def test_an_image_pushed_and_pulled_through_s3(registry: Registry) -> None:
    _, payload = await registry.push_image("team/app", "v1", layer=b"layer bytes")
    pulled = await registry.client.get("/v2/team/app/manifests/v1")
    assert pulled.status == 200 and await pulled.read() == payload
    layer = await registry.client.get(f"/v2/team/app/blobs/{digest_of(b'layer bytes')}")
    assert await layer.read() == b"layer bytes"


async def test_redirect_answers_307_to_a_presigned_url(tmp_path: Path, s3_bucket_url: tuple[str, str]) -> None:
    settings = s3_settings(tmp_path, s3_bucket_url, s3_redirect=True)
    async with TestClient(TestServer(build_app(settings))) as client:
        registry = Registry(client, settings.data_dir)
        digest = await registry.push_blob("team/app", b"redirected bytes")
        response = await client.get(f"/v2/team/app/blobs/{digest}", allow_redirects=False)
        assert response.status == 307 and response.headers["Docker-Content-Digest"] == digest
        async with aiohttp.ClientSession() as session, session.get(response.headers["Location"]) as fetched:
            assert fetched.status == 200 and await fetched.read() == b"redirected bytes"


async def test_garbage_collection_deletes_unreferenced_blobs_from_the_bucket(
    registry: Registry, store: S3BlobStore, clock: FakeClock, tmp_path: Path
) -> None:
    await registry.push_image("team/app", "v1", layer=b"kept layer")
    dropped = await registry.push_blob("team/app", b"nobody references me")
    clock.advance(timedelta(hours=2))
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'data' / 'metadata.db'}", clock=clock)
    try:
        collector = GarbageCollector(SqlLifecycleStore(metadata), store, clock, timedelta(hours=1))
        report = await collector.collect()
    finally:
        await metadata.close()

    assert report.blobs_deleted == 1 and report.bytes_freed == len(b"nobody references me")
    keys = await object_keys(store)
    assert len(keys) == 2 and not any(key.endswith(dropped.partition(":")[2]) for key in keys)
    layer = await registry.client.get(f"/v2/team/app/blobs/{digest_of(b'kept layer')}")
    assert layer.status == 200 and await layer.read() == b"kept layer"


async def test_a_bucket_that_cannot_be_used_stops_the_start_with_what_to_check(tmp_path: Path) -> None:
    endpoint = s3_endpoint()
    settings = s3_settings(tmp_path, ("s3://no-such-bucket-here/registry", endpoint))
    client = TestClient(TestServer(build_app(settings)))
    with pytest.raises(BlobStoreUnavailable, match=r"bucket no-such-bucket-here .* create it, or check the endpoint"):
        await client.start_server()
    await client.close()
