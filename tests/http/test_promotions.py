"""Promotion by digest through `/api/v1/promotions`: same digest in the target, no bytes uploaded, referrers and
index children along, the target's policies and promotion sources enforced, nothing left behind when refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shipshape.domain import media_types as mt
from tests.http.manage_support import Answer, ManageApi, basic, running_api
from tests.http.policy_support import COSIGN_SIGNATURE, push, put_manifest, sign


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        for name, environment in (("acme-dev", "development"), ("acme-stage", "staging"), ("acme-prod", "production")):
            await api.registry(name, environment=environment)
        yield api


async def pipeline(api: ManageApi) -> tuple[str, str]:
    """A ci credential that pushes to staging and production (and pulls from both)."""
    return await api.credential("pipeline", "acme-dev", "acme-stage", "acme-prod", kind="ci")


async def promote(api: ManageApi, source: str, target: str, login: tuple[str, str] | None = None) -> Answer:
    return await api.post("/promotions", {"source": source, "target": target}, as_=login)


async def manifest(api: ManageApi, reference: str, login: tuple[str, str]) -> tuple[int, str | None]:
    """GET `repository:tag` or `repository@digest`: the status and the digest served."""
    repository, separator, ref = reference.partition("@")
    if not separator:
        repository, _, ref = reference.rpartition(":")
    response = await api.client.get(f"/v2/{repository}/manifests/{ref}", headers=basic(*login))
    return response.status, response.headers.get("Docker-Content-Digest")


async def test_promotion_gives_the_same_digest_without_uploading_a_byte(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web/api", "v1.4.2", login)
    uploads_before = await _uploads(api)
    answer = await promote(api, "acme-stage/web/api:v1.4.2", "acme-prod/web/api", login)
    assert answer.status == 201, answer.body
    assert answer.body == {
        "source": f"acme-stage/web/api@{pushed.digest}",
        "target": "acme-prod/web/api:v1.4.2",
        "digest": pushed.digest,
        "tag": "v1.4.2",
        "manifests": 1,
        "blobs": 2,
    }
    assert await manifest(api, "acme-prod/web/api:v1.4.2", login) == (200, pushed.digest)
    assert await _uploads(api) == uploads_before  # no blob upload happened
    served = await api.client.get(f"/v2/acme-prod/web/api/manifests/{pushed.digest}", headers=basic(*login))
    layer = json.loads(await served.read())["layers"][0]["digest"]
    blob = await api.client.get(f"/v2/acme-prod/web/api/blobs/{layer}", headers=basic(*login))
    assert blob.status == 200 and await blob.read() == b"one"


async def test_signatures_come_along_and_the_referrers_api_lists_them(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web", "v1.0.0", login)
    signature = await sign(api, "acme-stage/web", pushed.digest, login)
    assert (await promote(api, f"acme-stage/web@{pushed.digest}", "acme-prod/web:v1.0.0", login)).status == 201
    response = await api.client.get(f"/v2/acme-prod/web/referrers/{pushed.digest}", headers=basic(*login))
    listed = (await response.json())["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in listed] == [(signature.digest, COSIGN_SIGNATURE)]


async def test_an_index_is_promoted_with_all_its_images(api: ManageApi) -> None:
    login = await pipeline(api)
    amd = await push(api, "acme-stage/web", "sha-amd", login, content="amd64")
    arm = await push(api, "acme-stage/web", "sha-arm", login, content="arm64")
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": d, "size": 1, "platform": {"os": "linux", "architecture": a}}
            for d, a in ((amd.digest, "amd64"), (arm.digest, "arm64"))
        ],
    }
    pushed = await put_manifest(api, "acme-stage/web", "v2.0.0", index, login)
    assert pushed.status == 201
    answer = await promote(api, "acme-stage/web:v2.0.0", "acme-prod/web", login)
    assert answer.status == 201 and answer.body["manifests"] == 3
    for digest in (pushed.digest, amd.digest, arm.digest):
        assert await manifest(api, f"acme-prod/web@{digest}", login) == (200, digest)


async def test_a_tag_production_refuses_is_refused_and_leaves_nothing(api: ManageApi) -> None:
    login = await pipeline(api)
    await push(api, "acme-dev/web", "nightly", login)
    await api.call("PATCH", "/registries/acme-prod/policy", {"promotion_sources": ["env:development"]})
    answer = await promote(api, "acme-dev/web:nightly", "acme-prod/web", login)
    assert answer.status == 403 and answer.body["error"]["rule"] == "allowed_tags"
    assert await _repository_is_empty(api, "acme-prod/web", login)


async def test_promotion_from_a_registry_that_is_not_a_source_is_refused(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-dev/web", "v1.0.0", login)
    answer = await promote(api, "acme-dev/web:v1.0.0", "acme-prod/web", login)
    assert answer.status == 403
    assert answer.body["error"]["rule"] == "promotion_sources"
    assert answer.message == (
        "production registry acme-prod does not accept promotions from development registry acme-dev"
        " (promotion_sources: env:staging): promote from an allowed source (the account's staging registries),"
        " or add acme-dev to promotion_sources"
    )
    assert await manifest(api, f"acme-prod/web@{pushed.digest}", login) == (404, None)


async def test_promotion_cannot_move_an_immutable_tag(api: ManageApi) -> None:
    login = await pipeline(api)
    await push(api, "acme-stage/web", "v1.0.0", login, content="one")
    await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web", login)
    other = await push(api, "acme-stage/web", "v1.0.1", login, content="two")
    answer = await promote(api, "acme-stage/web:v1.0.1", "acme-prod/web:v1.0.0", login)
    assert answer.status == 403 and answer.body["error"]["rule"] == "tag_mutability"
    assert await manifest(api, f"acme-prod/web@{other.digest}", login) == (404, None)  # rolled back whole
    again = await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web", login)
    assert again.status == 201  # promoting the same image again is idempotent


async def test_promotion_needs_pull_on_the_source_and_push_on_the_target(api: ManageApi) -> None:
    login = await pipeline(api)
    await push(api, "acme-stage/web", "v1.0.0", login)
    pull_only = await api.credential("deploy", "acme-stage", "acme-prod", kind="pull")
    assert (await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web", pull_only)).status == 403
    viewer = await api.member("vic", "viewer")
    assert (await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web", viewer)).status == 403
    admin_promotes = await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web")
    assert admin_promotes.status == 201  # a member may promote where members may not push


async def test_malformed_and_unknown_references_are_clear_errors(api: ManageApi) -> None:
    login = await pipeline(api)
    assert (await promote(api, "acme-stage/web", "acme-prod/web", login)).status == 400
    assert (await promote(api, "acme-stage/web:v9.9.9", "acme-prod/web", login)).status == 404
    assert (await promote(api, "acme-stage/WEB:v1", "acme-prod/web", login)).status == 422
    digest_target = await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web@sha256:" + "a" * 64, login)
    assert digest_target.status == 400


async def test_promotions_are_audited_under_the_target(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web", "v1.0.0", login)
    await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web", login)
    event = next(e for e in await api.audit(registry="acme-prod") if e["action"] == "image.promote")
    assert event["result"] == "success" and event["actor"] == "acme-dev+pipeline"
    assert event["target"] == "acme-prod/web:v1.0.0"
    assert event["detail"]["source"] == f"acme-stage/web@{pushed.digest}"


async def test_refused_and_failed_promotions_are_audited(api: ManageApi) -> None:
    login = await pipeline(api)
    pull_only = await api.credential("deploy", "acme-stage", "acme-prod", kind="pull")
    await push(api, "acme-stage/web", "v1.0.0", login)
    await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web", pull_only)
    await promote(api, "acme-stage/web:v9.9.9", "acme-prod/web", login)
    events = [e for e in await api.audit() if e["action"] == "image.promote"]
    assert [(e["actor"], e["result"], e["detail"]["error"]) for e in events] == [
        ("acme-dev+pipeline", "failure", "ManifestUnknown"),
        ("acme-stage+deploy", "denied", "Denied"),
    ]


async def _uploads(api: ManageApi) -> tuple[float, float]:
    """Blob uploads completed and request body bytes received, from the registry's own metrics."""
    metrics = await (await api.client.get("/metrics")).text()
    values = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#"))
    return float(values["shipshape_blob_uploads_total"]), float(values["shipshape_http_request_bytes_total"])


async def _repository_is_empty(api: ManageApi, repository: str, login: tuple[str, str]) -> bool:
    response = await api.client.get(f"/v2/{repository}/tags/list", headers=basic(*login))
    return response.status == 404 or not (await response.json()).get("tags")


async def test_an_image_no_ci_credential_built_cannot_be_promoted_into_production(api: ManageApi) -> None:
    # A developer pushes to development and promotes on through staging: production must still refuse it.
    developer = await api.member("dana", "developer")
    await push(api, "acme-dev/web", "v9.9.9", developer)
    await api.call("PATCH", "/registries/acme-stage/policy", {"manifest_creators": "any"})
    assert (await promote(api, "acme-dev/web:v9.9.9", "acme-stage/web")).status == 201
    answer = await promote(api, "acme-stage/web:v9.9.9", "acme-prod/web")
    assert answer.status == 403 and answer.body["error"]["rule"] == "manifest_creators"
    assert "was not pushed by a ci credential" in answer.message


async def test_a_ci_built_image_stays_ci_built_through_promotions(api: ManageApi) -> None:
    login = await pipeline(api)
    await push(api, "acme-dev/web", "v1.0.0", login)
    assert (await promote(api, "acme-dev/web:v1.0.0", "acme-stage/web")).status == 201  # by admin, a member
    assert (await promote(api, "acme-stage/web:v1.0.0", "acme-prod/web")).status == 201
