"""Manifests: push by tag and digest, pull byte for byte with negotiation, delete, and validation errors."""

from __future__ import annotations

import asyncio
import json

from multidict import CIMultiDict

from shipshape.domain import media_types as mt
from tests.http.conftest import Registry, digest_of, error_code


async def test_pull_returns_the_pushed_bytes_with_headers(registry: Registry) -> None:
    digest, payload = await registry.push_image("team/app", "v1")
    for reference in ("v1", digest):
        response = await registry.client.get(f"/v2/team/app/manifests/{reference}", headers={"Accept": mt.OCI_MANIFEST})
        assert response.status == 200
        assert await response.read() == payload
        assert response.headers["Content-Type"] == mt.OCI_MANIFEST
        assert response.headers["Docker-Content-Digest"] == digest


async def test_head_manifest_has_length_and_digest_but_no_body(registry: Registry) -> None:
    digest, payload = await registry.push_image("app", "v1")
    response = await registry.client.head("/v2/app/manifests/v1")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(payload))
    assert response.headers["Docker-Content-Digest"] == digest
    assert await response.read() == b""


async def test_put_answers_location_and_digest(registry: Registry) -> None:
    await registry.push_blob("app", b"{}")
    payload = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(b"{}"),
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    response = await registry.client.put(
        "/v2/app/manifests/v1", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert response.status == 201
    assert response.headers["Location"] == f"/v2/app/manifests/{digest_of(payload)}"
    assert response.headers["Docker-Content-Digest"] == digest_of(payload)


async def test_put_by_digest_must_match_the_body(registry: Registry) -> None:
    digest, payload = await registry.push_image("app", "v1")
    same = await registry.client.put(
        f"/v2/app/manifests/{digest}", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert same.status == 201
    wrong = await registry.client.put(
        f"/v2/app/manifests/{digest_of(b'x')}", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert wrong.status == 400 and await error_code(wrong) == "DIGEST_INVALID"


async def test_manifest_with_unknown_blob_is_manifest_blob_unknown_and_not_stored(registry: Registry) -> None:
    payload = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(b"missing"),
                "size": 7,
            },
            "layers": [],
        }
    ).encode()
    response = await registry.client.put(
        "/v2/app/manifests/v1", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert response.status == 400 and await error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert (await registry.client.get("/v2/app/manifests/v1")).status == 404


async def test_blob_of_another_repository_does_not_satisfy_a_manifest(registry: Registry) -> None:
    config = await registry.push_blob("other", b"{}")
    payload = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [],
        }
    ).encode()
    response = await registry.client.put(
        "/v2/app/manifests/v1", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert await error_code(response) == "MANIFEST_BLOB_UNKNOWN"


async def test_index_requires_its_children_and_keeps_them(registry: Registry) -> None:
    child_digest, child = await registry.push_image("app", "amd64")
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": child_digest,
                "size": len(child),
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    payload = json.dumps(index).encode()
    ok = await registry.client.put("/v2/app/manifests/multi", data=payload, headers={"Content-Type": mt.OCI_INDEX})
    assert ok.status == 201
    missing = {**index, "manifests": [{**index["manifests"][0], "digest": digest_of(b"no such manifest")}]}  # type: ignore[dict-item]
    refused = await registry.client.put(
        "/v2/app/manifests/broken", data=json.dumps(missing).encode(), headers={"Content-Type": mt.OCI_INDEX}
    )
    assert refused.status == 400 and await error_code(refused) == "MANIFEST_UNKNOWN"
    listed = await registry.client.delete(f"/v2/app/manifests/{child_digest}")
    assert listed.status == 409 and await error_code(listed) == "DENIED"


async def test_index_served_as_default_platform_image_to_a_client_that_does_not_accept_indexes(
    registry: Registry,
) -> None:
    child_digest, child = await registry.push_image("app", "amd64")
    index = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": child_digest,
                "size": len(child),
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    await registry.client.put(
        "/v2/app/manifests/multi",
        data=json.dumps(index).encode(),
        headers={"Content-Type": mt.DOCKER_MANIFEST_LIST},
    )
    as_index = await registry.client.get("/v2/app/manifests/multi", headers={"Accept": mt.DOCKER_MANIFEST_LIST})
    assert as_index.headers["Content-Type"] == mt.DOCKER_MANIFEST_LIST
    as_image = await registry.client.get("/v2/app/manifests/multi", headers={"Accept": mt.OCI_MANIFEST})
    assert as_image.headers["Docker-Content-Digest"] == child_digest
    refused = await registry.client.get("/v2/app/manifests/multi", headers={"Accept": mt.DOCKER_MANIFEST})
    assert refused.status == 404 and await error_code(refused) == "MANIFEST_UNKNOWN"


async def test_malformed_manifests_are_manifest_invalid(registry: Registry) -> None:
    client = registry.client
    for payload, content_type in [
        (b"{nope", mt.OCI_MANIFEST),
        (json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}).encode(), mt.OCI_MANIFEST),
        (
            json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode(),
            mt.OCI_MANIFEST,
        ),
    ]:
        response = await client.put("/v2/app/manifests/v1", data=payload, headers={"Content-Type": content_type})
        assert response.status == 400 and await error_code(response) == "MANIFEST_INVALID", payload
    assert (await client.get("/v2/app/manifests/v1")).status == 404


async def test_manifest_over_4_mib_is_refused_with_413(registry: Registry) -> None:
    response = await registry.client.put(
        "/v2/app/manifests/v1", data=b" " * (4 * 1024 * 1024 + 1), headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert response.status == 413 and await error_code(response) == "MANIFEST_INVALID"


async def test_invalid_tag_and_digest_references_name_no_manifest(registry: Registry) -> None:
    # distribution-spec v1.1.1 end-3: a GET or HEAD fails only with 404 (the conformance suite asks for
    # `.INVALID_MANIFEST_NAME`); a PUT of such a reference is refused as invalid (see test_odd_requests).
    bad_tag = await registry.client.get("/v2/app/manifests/-bad")
    assert bad_tag.status == 404 and await error_code(bad_tag) == "MANIFEST_UNKNOWN"
    bad_digest = await registry.client.get("/v2/app/manifests/sha256:zz")
    assert bad_digest.status == 404 and await error_code(bad_digest) == "MANIFEST_UNKNOWN"
    unknown = await registry.client.get("/v2/app/manifests/v9")
    assert unknown.status == 404 and await error_code(unknown) == "MANIFEST_UNKNOWN"


async def test_tag_moves_to_the_new_manifest(registry: Registry) -> None:
    await registry.push_image("app", "v1", layer=b"first")
    second, _ = await registry.push_image("app", "v1", layer=b"second")
    response = await registry.client.head("/v2/app/manifests/v1")
    assert response.headers["Docker-Content-Digest"] == second


async def test_delete_tag_keeps_the_manifest_and_other_tags(registry: Registry) -> None:
    digest, payload = await registry.push_image("app", "v1")
    await registry.client.put("/v2/app/manifests/also", data=payload, headers={"Content-Type": mt.OCI_MANIFEST})
    assert (await registry.client.delete("/v2/app/manifests/v1")).status == 202
    assert (await registry.client.get("/v2/app/manifests/v1")).status == 404
    assert (await registry.client.get("/v2/app/manifests/also")).status == 200
    assert (await registry.client.get(f"/v2/app/manifests/{digest}")).status == 200


async def test_delete_manifest_by_digest_removes_its_tags(registry: Registry) -> None:
    digest, _ = await registry.push_image("app", "v1")
    assert (await registry.client.delete(f"/v2/app/manifests/{digest}")).status == 202
    assert (await registry.client.get("/v2/app/manifests/v1")).status == 404
    assert (await registry.client.get(f"/v2/app/manifests/{digest}")).status == 404
    again = await registry.client.delete(f"/v2/app/manifests/{digest}")
    assert again.status == 404 and await error_code(again) == "MANIFEST_UNKNOWN"


async def test_subject_is_answered_with_oci_subject(registry: Registry) -> None:
    subject_digest, subject = await registry.push_image("app", "v1")
    subject_descriptor = {"mediaType": mt.OCI_MANIFEST, "digest": subject_digest, "size": len(subject)}
    await registry.push_blob("app", b"{}")
    signature = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": mt.OCI_EMPTY_CONFIG, "digest": digest_of(b"{}"), "size": 2},
        "layers": [],
        "subject": subject_descriptor,
    }
    payload = json.dumps(signature).encode()
    response = await registry.client.put(
        f"/v2/app/manifests/{digest_of(payload)}", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
    )
    assert response.status == 201
    assert response.headers["OCI-Subject"] == subject_digest


async def test_accept_given_as_several_header_lines_is_honoured(registry: Registry) -> None:
    child_digest, child = await registry.push_image("app", "amd64")
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": child_digest,
                "size": len(child),
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    payload = json.dumps(index).encode()
    await registry.client.put("/v2/app/manifests/multi", data=payload, headers={"Content-Type": mt.OCI_INDEX})
    headers = CIMultiDict([("Accept", mt.OCI_MANIFEST), ("Accept", mt.OCI_INDEX)])
    response = await registry.client.get("/v2/app/manifests/multi", headers=headers)
    assert response.headers["Docker-Content-Digest"] == digest_of(payload)


async def test_two_clients_pushing_the_same_manifest_at_once_both_succeed(registry: Registry) -> None:
    digest, payload = await registry.push_image("app", "v1")
    headers = {"Content-Type": mt.OCI_MANIFEST}
    first, second = await asyncio.gather(
        registry.client.put("/v2/app/manifests/v2", data=payload, headers=headers),
        registry.client.put("/v2/app/manifests/v2", data=payload, headers=headers),
    )
    assert (first.status, second.status) == (201, 201)
    tags = await (await registry.client.get("/v2/app/tags/list")).json()
    assert tags["tags"] == ["v1", "v2"]
    assert (await registry.client.head("/v2/app/manifests/v2")).headers["Docker-Content-Digest"] == digest
