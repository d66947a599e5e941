"""A real S3 store for the tests: the SeaweedFS `SHIPSHAPE_TEST_S3_URL` names (scripts/test starts one), a new
bucket per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from shipshape.storage.s3 import S3BlobStore, S3Location

S3_URL_VARIABLE = "SHIPSHAPE_TEST_S3_URL"
REGION = "us-east-1"


def s3_endpoint() -> str:
    """The endpoint URL; fails under CI and skips elsewhere when there is none."""
    url = os.environ.get(S3_URL_VARIABLE)
    if not url:
        reason = (
            f"{S3_URL_VARIABLE} is not set: start SeaweedFS with"
            f" `export {S3_URL_VARIABLE}=$(scripts/test-seaweedfs start /tmp/shipshape-s3 8333)`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # SeaweedFS without identities takes any key; botocore wants one to sign with. Server processes inherit them.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "shipshape-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "shipshape-test")
    return url


def new_location(endpoint: str, prefix: str = "registry") -> S3Location:
    return S3Location(f"shipshape-{uuid.uuid4().hex[:16]}", prefix, endpoint, REGION)


async def create_bucket(store: S3BlobStore) -> None:
    client = await store.client()
    await client.create_bucket(Bucket=store.bucket)


async def object_keys(store: S3BlobStore) -> list[str]:
    client = await store.client()
    keys = []
    async for page in client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


async def multipart_uploads(store: S3BlobStore) -> list[str]:
    client = await store.client()
    found = await client.list_multipart_uploads(Bucket=store.bucket)
    return sorted(upload["Key"] for upload in found.get("Uploads", []))


async def drop_bucket(store: S3BlobStore) -> None:
    client = await store.client()
    for key in await object_keys(store):
        await client.delete_object(Bucket=store.bucket, Key=key)
    await client.delete_bucket(Bucket=store.bucket)


@contextlib.asynccontextmanager
async def s3_store_on_new_bucket() -> AsyncIterator[S3BlobStore]:
    """An S3 blob store on a new, empty bucket, removed afterwards."""
    store = S3BlobStore(new_location(s3_endpoint()))
    await create_bucket(store)
    try:
        yield store
    finally:
        await drop_bucket(store)
        await store.close()


@contextlib.asynccontextmanager
async def s3_settings_on_new_bucket() -> AsyncIterator[dict[str, str | None]]:
    """The `Settings` fields of an application on a new, empty bucket, removed afterwards."""
    async with s3_store_on_new_bucket() as store:
        location = store.location
        yield {
            "blob_store": f"s3://{location.bucket}/{location.prefix}",
            "s3_endpoint_url": location.endpoint_url,
            "s3_region": location.region,
        }


@pytest.fixture
async def s3_store() -> AsyncIterator[S3BlobStore]:
    async with s3_store_on_new_bucket() as store:
        yield store


def _run_on(location: S3Location, action: Callable[[S3BlobStore], Awaitable[None]]) -> None:
    """Run `action` on a store of its own, in an event loop of its own (for synchronous fixtures)."""

    async def run() -> None:
        store = S3BlobStore(location)
        try:
            await action(store)
        finally:
            await store.close()

    asyncio.run(run())


@contextlib.contextmanager
def new_bucket() -> Iterator[tuple[str, str]]:
    """(`s3://BUCKET/PREFIX`, endpoint) of a new bucket, for server processes; removed afterwards."""
    location = new_location(s3_endpoint())
    _run_on(location, create_bucket)
    try:
        yield f"s3://{location.bucket}/{location.prefix}", location.endpoint_url or ""
    finally:
        _run_on(location, drop_bucket)


@pytest.fixture
def s3_bucket_url() -> Iterator[tuple[str, str]]:
    with new_bucket() as bucket:
        yield bucket
