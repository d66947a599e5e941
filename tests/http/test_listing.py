"""`/v2/`, tag lists, the catalog and the referrers API."""

from __future__ import annotations

import json

from shipshape.domain import media_types as mt
from tests.http.conftest import Registry, digest_of, error_code


async def test_base_answers_with_api_version(registry: Registry) -> None:
    response = await registry.client.get("/v2/")
    assert response.status == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_tags_are_sorted_and_paginated_with_link(registry: Registry) -> None:
    for tag in ("v3", "v1", "v2", "a"):
        await registry.push_image("app", tag)
    everything = await registry.client.get("/v2/app/tags/list")
    assert (await everything.json()) == {"name": "app", "tags": ["a", "v1", "v2", "v3"]}
    assert "Link" not in everything.headers
    first = await registry.client.get("/v2/app/tags/list?n=2")
    assert (await first.json())["tags"] == ["a", "v1"]
    assert first.headers["Link"] == '</v2/app/tags/list?last=v1&n=2>; rel="next"'
    rest = await registry.client.get("/v2/app/tags/list?n=2&last=v1")
    assert (await rest.json())["tags"] == ["v2", "v3"]


async def test_tags_of_unknown_repository_is_name_unknown(registry: Registry) -> None:
    response = await registry.client.get("/v2/nothing/tags/list")
    assert response.status == 404 and await error_code(response) == "NAME_UNKNOWN"


async def test_bad_pagination_number_is_refused(registry: Registry) -> None:
    await registry.push_image("app", "v1")
    for n in ("-1", "abc", "1.5"):
        response = await registry.client.get(f"/v2/app/tags/list?n={n}")
        assert response.status == 400 and await error_code(response) == "PAGINATION_NUMBER_INVALID"


async def test_catalog_is_sorted_and_paginated(registry: Registry) -> None:
    for name in ("b/two", "a", "c", "b/one"):
        await registry.push_image(name, "v1")
    page = await registry.client.get("/v2/_catalog?n=3")
    assert (await page.json())["repositories"] == ["a", "b/one", "b/two"]
    assert page.headers["Link"] == '</v2/_catalog?last=b%2Ftwo&n=3>; rel="next"'
    rest = await registry.client.get("/v2/_catalog?n=3&last=b/two")
    assert (await rest.json())["repositories"] == ["c"]


async def test_referrers_lists_and_filters_by_artifact_type(registry: Registry) -> None:
    subject_digest, subject = await registry.push_image("app", "v1")
    await registry.push_blob("app", b"{}")
    descriptor = {"mediaType": mt.OCI_MANIFEST, "digest": subject_digest, "size": len(subject)}
    pushed = {}
    for artifact_type in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        document = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": mt.OCI_EMPTY_CONFIG, "digest": digest_of(b"{}"), "size": 2},
            "layers": [],
            "subject": descriptor,
            "annotations": {"org.example": "yes"},
        }
        payload = json.dumps(document).encode()
        await registry.client.put(
            f"/v2/app/manifests/{digest_of(payload)}", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
        )
        pushed[artifact_type] = digest_of(payload)
    listed = await registry.client.get(f"/v2/app/referrers/{subject_digest}")
    assert listed.headers["Content-Type"] == mt.OCI_INDEX
    index = await listed.json()
    assert {d["artifactType"]: d["digest"] for d in index["manifests"]} == pushed
    assert index["manifests"][0]["annotations"] == {"org.example": "yes"}
    filtered = await registry.client.get(f"/v2/app/referrers/{subject_digest}?artifactType=application/vnd.example.sig")
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in (await filtered.json())["manifests"]] == [pushed["application/vnd.example.sig"]]


async def test_referrers_of_unknown_manifest_is_an_empty_index(registry: Registry) -> None:
    response = await registry.client.get(f"/v2/app/referrers/{digest_of(b'none')}")
    assert response.status == 200
    assert (await response.json())["manifests"] == []
    bad = await registry.client.get("/v2/app/referrers/sha256:bad")
    assert bad.status == 400 and await error_code(bad) == "DIGEST_INVALID"


async def test_metrics_count_requests_by_route_and_status(registry: Registry) -> None:
    await registry.push_image("app", "v1")
    await registry.client.get("/v2/app/manifests/v1")
    await registry.client.get("/v2/app/manifests/nope")
    text = await (await registry.client.get("/metrics")).text()
    assert 'shipshape_http_requests_total{method="GET",route="manifest_get",status="200"} 1.0' in text
    assert 'shipshape_http_requests_total{method="GET",route="manifest_get",status="404"} 1.0' in text
    assert "shipshape_blob_uploads_total 2.0" in text
    assert "shipshape_manifest_pulls_total 1.0" in text


async def test_healthz(registry: Registry) -> None:
    assert (await registry.client.get("/healthz")).status == 200


async def test_unknown_v2_paths_and_methods_answer_in_oci_error_format(registry: Registry) -> None:
    unknown = await registry.client.get("/v2/app/nothing-here")
    assert unknown.status == 404 and await error_code(unknown) == "UNSUPPORTED"
    wrong_method = await registry.client.post("/v2/app/tags/list")
    assert wrong_method.status == 405 and await error_code(wrong_method) == "UNSUPPORTED"


async def test_unicode_digits_in_n_are_refused_not_crashing(registry: Registry) -> None:
    response = await registry.client.get("/v2/_catalog?n=%C2%B2")
    assert response.status == 400 and await error_code(response) == "PAGINATION_NUMBER_INVALID"
