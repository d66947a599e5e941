"""`GET /api/v1/images?reference=…`: an image's provenance (push or promotion, by whom, from where), traceability
annotations and config labels, sizes, index children and referrers, for anyone who may pull its repository."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from shipshape.domain import media_types as mt
from tests.http.manage_support import Answer, ManageApi, running_api
from tests.http.policy_support import COSIGN_SIGNATURE, Pushed, push, put_manifest, sign, upload

CONFIG = b'{"architecture":"amd64","os":"linux"}'  # what `push` uploads as the config: 37 bytes
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
SOURCE = "https://example.com/repo"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        for name, environment in (("acme-dev", "development"), ("acme-stage", "staging"), ("acme-prod", "production")):
            await api.registry(name, environment=environment)
        yield api


async def pipeline(api: ManageApi) -> tuple[str, str]:
    """A ci credential (`acme-dev+pipeline`) that pushes and pulls in all three registries."""
    return await api.credential("pipeline", "acme-dev", "acme-stage", "acme-prod", kind="ci")


async def show(api: ManageApi, reference: str, login: tuple[str, str] | None = None) -> Answer:
    return await api.get("/images?" + urlencode({"reference": reference}), as_=login)


async def push_with_config(
    api: ManageApi, repository: str, tag: str, config: bytes, login: tuple[str, str], **extra: Any
) -> Pushed:
    """Push a one-layer image with this config blob."""
    config_digest = await upload(api, repository, config, login)
    layer = await upload(api, repository, b"labelled layer", login)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": LAYER, "digest": layer, "size": len(b"labelled layer")}],
        **extra,
    }
    pushed = await put_manifest(api, repository, tag, manifest, login)
    assert pushed.status == 201, pushed.body
    return pushed


async def test_an_image_pushed_by_ci_shows_the_credential_the_revision_and_its_sizes(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web/api", "v1.4.2", login, content="twelve bytes")
    answer = await show(api, "acme-stage/web/api:v1.4.2", login)
    assert answer.status == 200, answer.body
    image = answer.body
    assert image["repository"] == "acme-stage/web/api" and image["digest"] == pushed.digest
    assert image["media_type"] == mt.OCI_MANIFEST and image["artifact_type"] == OCI_CONFIG
    assert image["tags"] == ["v1.4.2"]
    assert image["created_at"].startswith("2026-03-01T12:00:00")
    assert image["provenance"] == {
        "via": "push",
        "by": "acme-dev+pipeline",
        "credential": "acme-dev+pipeline",
        "promoted_from": None,
        "built_by_ci": True,
    }
    assert image["annotations"] == {"org.opencontainers.image.revision": "3f2a9c1"}
    assert image["traceability"] == {"revision": "3f2a9c1", "source": None, "version": None, "created": None}
    assert image["config"]["size"] == len(CONFIG) and image["config"]["media_type"] == OCI_CONFIG
    assert [(layer["media_type"], layer["size"]) for layer in image["layers"]] == [(LAYER, 12)]
    assert image["size"] == len(CONFIG) + 12
    assert image["manifests"] == [] and image["referrers"] == []
    by_digest = await show(api, f"acme-stage/web/api@{pushed.digest}", login)
    assert by_digest.body == image


async def test_a_promoted_image_shows_where_it_came_from_and_who_promoted_it(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web/api", "v1.4.2", login)
    api.clock.advance(timedelta(hours=1))
    promoted = await api.post("/promotions", {"source": "acme-stage/web/api:v1.4.2", "target": "acme-prod/web/api"})
    assert promoted.status == 201, promoted.body
    image = (await show(api, "acme-prod/web/api:v1.4.2", login)).body
    assert image["digest"] == pushed.digest and image["tags"] == ["v1.4.2"]
    assert image["provenance"] == {
        "via": "promotion",
        "by": "admin",
        "credential": None,
        "promoted_from": f"acme-stage/web/api@{pushed.digest}",
        "built_by_ci": True,  # the ci credential pushed it to staging; admin promoted it
    }
    assert image["created_at"].startswith("2026-03-01T13:00:00")  # when it arrived in production
    source = (await show(api, f"acme-stage/web/api@{pushed.digest}", login)).body
    assert source["provenance"]["via"] == "push" and source["created_at"].startswith("2026-03-01T12:00:00")


async def test_an_index_shows_its_images_with_platforms_and_sizes(api: ManageApi) -> None:
    login = await pipeline(api)
    amd = await push(api, "acme-stage/multi", "sha-amd", login, content="amd64")
    arm = await push(api, "acme-stage/multi", "sha-arm", login, content="arm64")
    platforms = ({"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"})
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": pushed.digest, "size": 1, "platform": platform}
            for pushed, platform in ((amd, platforms[0]), (arm, platforms[1]))
        ],
    }
    pushed = await put_manifest(api, "acme-stage/multi", "v2.0.0", index, login)
    assert pushed.status == 201, pushed.body
    image = (await show(api, "acme-stage/multi:v2.0.0", login)).body
    assert image["media_type"] == mt.OCI_INDEX and image["config"] is None and image["layers"] == []
    child = len(CONFIG) + 5
    assert image["manifests"] == [
        {
            "digest": amd.digest,
            "media_type": mt.OCI_MANIFEST,
            "platform": {"os": "linux", "architecture": "amd64", "variant": None},
            "size": child,
        },
        {
            "digest": arm.digest,
            "media_type": mt.OCI_MANIFEST,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            "size": child,
        },
    ]
    assert image["size"] == len(CONFIG) + 5 + 5  # the shared config counts once


async def test_config_labels_are_shown_and_fill_in_traceability(api: ManageApi) -> None:
    login = await pipeline(api)
    labels = {"org.opencontainers.image.source": SOURCE, "org.opencontainers.image.revision": "from-label"}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}).encode()
    await push_with_config(
        api, "acme-stage/labelled", "v1.0.0", config, login,
        annotations={"org.opencontainers.image.revision": "from-annotation"},
    )  # fmt: skip
    image = (await show(api, "acme-stage/labelled:v1.0.0", login)).body
    assert image["labels"] == labels
    # The manifest's annotation wins over the label; the label fills in what the annotations lack.
    assert image["traceability"]["revision"] == "from-annotation" and image["traceability"]["source"] == SOURCE
    assert image["size"] == len(config) + len(b"labelled layer")


async def test_a_config_that_is_not_json_shows_no_labels(api: ManageApi) -> None:
    login = await pipeline(api)
    await push_with_config(api, "acme-stage/odd", "v1.0.0", b"{not json", login)
    answer = await show(api, "acme-stage/odd:v1.0.0", login)
    assert answer.status == 200 and answer.body["labels"] == {}


async def test_referrers_are_listed_with_their_artifact_type(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web", "v1.0.0", login)
    signature = await sign(api, "acme-stage/web", pushed.digest, login)
    image = (await show(api, "acme-stage/web:v1.0.0", login)).body
    assert image["referrers"] == [{"digest": signature.digest, "artifact_type": COSIGN_SIGNATURE}]


async def test_pull_credentials_of_the_registry_may_look_and_those_of_another_may_not(api: ManageApi) -> None:
    login = await pipeline(api)
    await push(api, "acme-stage/web", "v1.0.0", login)
    reader = await api.credential("reader", "acme-stage", kind="pull")
    assert (await show(api, "acme-stage/web:v1.0.0", reader)).status == 200
    await api.registry("other-dev")
    outsider = await api.credential("outsider", "other-dev", kind="pull")
    denied = await show(api, "acme-stage/web:v1.0.0", outsider)
    assert denied.status == 403 and denied.code == "DENIED"
    assert "may not pull acme-stage/web" in denied.message


async def test_unknown_repositories_tags_and_digests_are_404_with_a_clear_message(api: ManageApi) -> None:
    login = await pipeline(api)
    pushed = await push(api, "acme-stage/web", "v1.0.0", login)
    tag = await show(api, "acme-stage/web:v9.9.9", login)
    assert tag.status == 404 and tag.code == "NOT_FOUND"
    assert tag.message == "acme-stage/web has no tag v9.9.9: check the tag, or name the image by digest"
    digest = "sha256:" + "a" * 64
    unknown_digest = await show(api, f"acme-stage/web@{digest}", login)
    assert unknown_digest.status == 404 and digest in unknown_digest.message
    repository = await show(api, f"acme-stage/nothing@{pushed.digest}", login)
    assert repository.status == 404 and "repository acme-stage/nothing does not exist" in repository.message


async def test_malformed_references_are_refused(api: ManageApi) -> None:
    assert (await show(api, "acme-stage/web")).status == 400  # no tag or digest
    assert (await show(api, "acme-stage/WEB:v1")).status == 422
    assert (await show(api, "acme-stage/web@sha256:abc")).status == 400
    missing = await api.get("/images")
    assert missing.status == 422 and "reference" in missing.message


async def test_showing_an_image_needs_a_login(api: ManageApi) -> None:
    response = await api.client.get("/api/v1/images?" + urlencode({"reference": "acme-stage/web:v1"}))
    assert response.status == 401
