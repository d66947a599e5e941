"""Blob uploads: monolithic, chunked, streamed, resumed, mounted, cancelled; and every refusal."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.http.conftest import Registry, digest_of, error_code


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


async def test_monolithic_post_stores_blob_and_answers_location(registry: Registry) -> None:
    data = b"hello world"
    response = await registry.client.post(f"/v2/a/b/blobs/uploads/?digest={digest_of(data)}", data=data)
    assert response.status == 201
    assert response.headers["Location"] == f"/v2/a/b/blobs/{digest_of(data)}"
    assert response.headers["Docker-Content-Digest"] == digest_of(data)
    got = await registry.client.get(f"/v2/a/b/blobs/{digest_of(data)}")
    assert got.status == 200 and await got.read() == data


async def test_post_patch_put_flow_with_headers(registry: Registry) -> None:
    client = registry.client
    start = await client.post("/v2/app/blobs/uploads/")
    assert start.status == 202
    location = start.headers["Location"]
    upload_id = start.headers["Docker-Upload-UUID"]
    assert location == f"/v2/app/blobs/uploads/{upload_id}"
    assert start.headers["Range"] == "0-0"
    first = await client.patch(location, data=b"abcd", headers={"Content-Range": "0-3"})
    assert first.status == 202 and first.headers["Range"] == "0-3"
    second = await client.patch(first.headers["Location"], data=b"efgh", headers={"Content-Range": "4-7"})
    assert second.headers["Range"] == "0-7"
    status = await client.get(location)
    assert status.status == 204 and status.headers["Range"] == "0-7"
    assert status.headers["Docker-Upload-UUID"] == upload_id
    done = await client.put(f"{location}?digest={digest_of(b'abcdefghij')}", data=b"ij")
    assert done.status == 201
    head = await client.head(f"/v2/app/blobs/{digest_of(b'abcdefghij')}")
    assert head.status == 200 and head.headers["Content-Length"] == "10"


async def test_streamed_patch_without_content_range(registry: Registry) -> None:
    client = registry.client
    location = (await client.post("/v2/app/blobs/uploads/")).headers["Location"]

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(4):
            yield b"x" * 100_000

    patched = await client.patch(location, data=body())
    assert patched.headers["Range"] == "0-399999"
    done = await client.put(f"{location}?digest={digest_of(b'x' * 400_000)}")
    assert done.status == 201


async def test_out_of_order_chunk_is_refused_with_416_and_changes_nothing(registry: Registry) -> None:
    client = registry.client
    location = (await client.post("/v2/app/blobs/uploads/")).headers["Location"]
    await client.patch(location, data=b"abcd", headers={"Content-Range": "0-3"})
    gap = await client.patch(location, data=b"zz", headers={"Content-Range": "6-7"})
    assert gap.status == 416
    assert await error_code(gap) == "BLOB_UPLOAD_INVALID"
    overlap = await client.patch(location, data=b"zz", headers={"Content-Range": "2-3"})
    assert overlap.status == 416
    assert (await client.get(location)).headers["Range"] == "0-3"


async def test_malformed_content_range_is_refused(registry: Registry) -> None:
    client = registry.client
    location = (await client.post("/v2/app/blobs/uploads/")).headers["Location"]
    bad = await client.patch(location, data=b"abcd", headers={"Content-Range": "banana"})
    assert bad.status == 416
    mismatch = await client.patch(location, data=b"abcd", headers={"Content-Range": "0-9"})
    assert mismatch.status == 400 and await error_code(mismatch) == "BLOB_UPLOAD_INVALID"
    assert (await client.get(location)).headers["Range"] == "0-0"


async def test_digest_mismatch_is_refused_and_nothing_is_stored(registry: Registry) -> None:
    wrong = digest_of(b"other")
    response = await registry.client.post(f"/v2/app/blobs/uploads/?digest={wrong}", data=b"content")
    assert response.status == 400 and await error_code(response) == "DIGEST_INVALID"
    assert (await registry.client.head(f"/v2/app/blobs/{wrong}")).status == 404
    assert blob_files(registry.data_dir) == []
    assert list((registry.data_dir / "uploads").iterdir()) == []


async def test_finish_without_digest_or_with_bad_digest_is_refused(registry: Registry) -> None:
    client = registry.client
    location = (await client.post("/v2/app/blobs/uploads/")).headers["Location"]
    missing = await client.put(location, data=b"x")
    assert missing.status == 400 and await error_code(missing) == "DIGEST_INVALID"
    malformed = await client.put(f"{location}?digest=sha256:xyz", data=b"x")
    assert malformed.status == 400 and await error_code(malformed) == "DIGEST_INVALID"
    unsupported = await client.put(f"{location}?digest=md5:{'a' * 32}", data=b"x")
    assert await error_code(unsupported) == "DIGEST_INVALID"


async def test_sha512_digest_is_accepted(registry: Registry) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = (await registry.client.post("/v2/app/blobs/uploads/")).headers["Location"]
    await registry.client.patch(location, data=data)
    done = await registry.client.put(f"{location}?digest={digest}")
    assert done.status == 201
    assert (await registry.client.head(f"/v2/app/blobs/{digest}")).status == 200


async def test_unknown_upload_is_blob_upload_unknown(registry: Registry) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await registry.client.request(method, "/v2/app/blobs/uploads/" + "0" * 32)
        assert response.status == 404 and await error_code(response) == "BLOB_UPLOAD_UNKNOWN", method
    traversal = await registry.client.get("/v2/app/blobs/uploads/..%2F..%2Fmetadata.db")
    assert traversal.status == 404


async def test_upload_is_bound_to_its_repository(registry: Registry) -> None:
    upload_id = (await registry.client.post("/v2/one/blobs/uploads/")).headers["Docker-Upload-UUID"]
    other = await registry.client.get(f"/v2/two/blobs/uploads/{upload_id}")
    assert other.status == 404


async def test_cancelled_upload_is_gone(registry: Registry) -> None:
    location = (await registry.client.post("/v2/app/blobs/uploads/")).headers["Location"]
    await registry.client.patch(location, data=b"abc")
    assert (await registry.client.delete(location)).status == 204
    assert (await registry.client.get(location)).status == 404
    assert list((registry.data_dir / "uploads").iterdir()) == []


async def test_identical_blobs_are_stored_once(registry: Registry) -> None:
    await registry.push_blob("one", b"same bytes")
    await registry.push_blob("two", b"same bytes")
    assert len(blob_files(registry.data_dir)) == 1


async def test_mount_from_repository_links_without_upload(registry: Registry) -> None:
    digest = await registry.push_blob("source", b"mounted")
    response = await registry.client.post(f"/v2/target/blobs/uploads/?mount={digest}&from=source")
    assert response.status == 201
    assert response.headers["Location"] == f"/v2/target/blobs/{digest}"
    assert (await registry.client.head(f"/v2/target/blobs/{digest}")).status == 200


async def test_mount_of_missing_blob_falls_back_to_upload_session(registry: Registry) -> None:
    digest = digest_of(b"nowhere")
    response = await registry.client.post(f"/v2/target/blobs/uploads/?mount={digest}&from=source")
    assert response.status == 202
    assert "Docker-Upload-UUID" in response.headers
    assert (await registry.client.head(f"/v2/target/blobs/{digest}")).status == 404


async def test_mount_without_from_finds_the_blob_in_any_repository(registry: Registry) -> None:
    digest = await registry.push_blob("somewhere/else", b"auto mount")
    response = await registry.client.post(f"/v2/target/blobs/uploads/?mount={digest}")
    assert response.status == 201


async def test_invalid_repository_name_is_name_invalid(registry: Registry) -> None:
    response = await registry.client.post("/v2/Bad_Name/blobs/uploads/")
    assert response.status == 400 and await error_code(response) == "NAME_INVALID"
