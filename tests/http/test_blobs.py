"""Blob reads (HEAD, GET, ranges) and deletes."""

from __future__ import annotations

from tests.http.conftest import Registry, digest_of, error_code


async def test_head_and_get_blob(registry: Registry) -> None:
    digest = await registry.push_blob("app", b"0123456789")
    head = await registry.client.head(f"/v2/app/blobs/{digest}")
    assert head.status == 200
    assert head.headers["Content-Length"] == "10"
    assert head.headers["Docker-Content-Digest"] == digest
    assert await head.read() == b""
    get = await registry.client.get(f"/v2/app/blobs/{digest}")
    assert get.headers["Docker-Content-Digest"] == digest
    assert await get.read() == b"0123456789"


async def test_range_request_gets_206_and_unsatisfiable_range_416(registry: Registry) -> None:
    digest = await registry.push_blob("app", b"0123456789")
    partial = await registry.client.get(f"/v2/app/blobs/{digest}", headers={"Range": "bytes=2-5"})
    assert partial.status == 206
    assert await partial.read() == b"2345"
    assert partial.headers["Content-Range"] == "bytes 2-5/10"
    beyond = await registry.client.get(f"/v2/app/blobs/{digest}", headers={"Range": "bytes=50-60"})
    assert beyond.status == 416


async def test_blob_of_another_repository_is_unknown(registry: Registry) -> None:
    digest = await registry.push_blob("one", b"private")
    response = await registry.client.get(f"/v2/two/blobs/{digest}")
    assert response.status == 404 and await error_code(response) == "BLOB_UNKNOWN"
    assert (await registry.client.head(f"/v2/two/blobs/{digest}")).status == 404


async def test_malformed_digest_names_no_blob(registry: Registry) -> None:
    # distribution-spec v1.1.1 end-2: a GET or HEAD of a blob fails only with 404; a DELETE may say 400.
    response = await registry.client.get("/v2/app/blobs/sha256:1234")
    assert response.status == 404 and await error_code(response) == "BLOB_UNKNOWN"
    assert (await registry.client.head("/v2/app/blobs/sha256:1234")).status == 404
    deleted = await registry.client.delete("/v2/app/blobs/sha256:1234")
    assert deleted.status == 400 and await error_code(deleted) == "DIGEST_INVALID"


async def test_delete_blob_unlinks_it_from_the_repository_only(registry: Registry) -> None:
    digest = await registry.push_blob("one", b"shared")
    await registry.push_blob("two", b"shared")
    deleted = await registry.client.delete(f"/v2/one/blobs/{digest}")
    assert deleted.status == 202
    assert (await registry.client.head(f"/v2/one/blobs/{digest}")).status == 404
    assert (await registry.client.head(f"/v2/two/blobs/{digest}")).status == 200
    again = await registry.client.delete(f"/v2/one/blobs/{digest}")
    assert again.status == 404 and await error_code(again) == "BLOB_UNKNOWN"


async def test_blob_referenced_by_a_manifest_cannot_be_deleted(registry: Registry) -> None:
    await registry.push_image("app", "v1", layer=b"in use")
    response = await registry.client.delete(f"/v2/app/blobs/{digest_of(b'in use')}")
    assert response.status == 409 and await error_code(response) == "DENIED"
    assert (await registry.client.head(f"/v2/app/blobs/{digest_of(b'in use')}")).status == 200
