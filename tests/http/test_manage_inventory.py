"""`GET /api/v1/registries/{name}/images` and `DELETE /api/v1/images`: what a registry stores, listed and deleted by
hand; a repository whose last image is deleted leaves the catalog, and its registry can then be deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import push


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-dev", environment="development")
        await api.registry("acme-prod", environment="production")
        yield api


async def delete(api: ManageApi, reference: str, login: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await api.call("DELETE", "/images?" + urlencode({"reference": reference}), as_=login)


async def catalog(api: ManageApi) -> list[str]:
    response = await api.client.get("/v2/_catalog", headers=basic(*api.login))
    return list((await response.json())["repositories"])


async def test_list_shows_tags_digest_size_and_pulls_by_repository(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci")
    one = await push(api, "acme-dev/web/api", "v1", ci, content="one")
    await push(api, "acme-dev/web/api", "v2", ci, content="two!")
    await push(api, "acme-dev/worker", "v1", ci, content="three")

    listed = await api.get("/registries/acme-dev/images")
    only = await api.get("/registries/acme-dev/images?repository=web/api")

    assert listed.status == 200, listed.body
    assert [(i["repository"], i["tags"]) for i in listed.body["images"]] == [
        ("acme-dev/web/api", ["v2"]),
        ("acme-dev/web/api", ["v1"]),
        ("acme-dev/worker", ["v1"]),
    ]
    first = next(i for i in listed.body["images"] if i["digest"] == one.digest)
    assert first["size"] == 37 + 3 and first["pull_count"] == 0 and first["last_pulled"] is None
    assert [i["repository"] for i in only.body["images"]] == ["acme-dev/web/api", "acme-dev/web/api"]


async def test_a_credential_lists_only_the_registries_it_may_pull(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci")
    await push(api, "acme-dev/app", "v1", ci)

    assert (await api.get("/registries/acme-dev/images", as_=ci)).status == 200
    refused = await api.get("/registries/acme-prod/images", as_=ci)
    assert refused.status == 403, refused.body


async def test_deleting_the_last_image_empties_the_catalog_and_lets_the_registry_go(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci", actions=["pull", "push", "delete"])
    pushed = await push(api, "acme-dev/app", "v1", ci)
    assert await catalog(api) == ["acme-dev/app"]
    refused = await api.call("DELETE", "/registries/acme-dev")
    assert refused.status == 409 and "image list acme-dev" in refused.message

    deleted = await delete(api, f"acme-dev/app@{pushed.digest}", ci)

    assert deleted.status == 200, deleted.body
    assert deleted.body["manifest_deleted"] and deleted.body["tags_removed"] == ["v1"]
    assert await catalog(api) == []
    assert (await api.call("DELETE", "/registries/acme-dev")).status == 204


async def test_deleting_a_tag_deletes_the_image_only_with_its_last_tag(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci", actions=["pull", "push", "delete"])
    pushed = await push(api, "acme-dev/app", "v1", ci)
    await push(api, "acme-dev/app", "stable", ci)

    first = await delete(api, "acme-dev/app:v1", ci)
    second = await delete(api, "acme-dev/app:stable", ci)

    assert first.body["manifest_deleted"] is False and "still tagged stable" in first.body["note"]
    assert second.body == {
        "repository": "acme-dev/app", "digest": pushed.digest, "tags_removed": ["stable"], "manifest_deleted": True,
        "note": None,
    }  # fmt: skip
    assert (await api.get("/registries/acme-dev/images")).body["images"] == []


async def test_policies_apply_to_deleting_by_hand(api: ManageApi) -> None:
    ci = await api.credential("release", "acme-prod", kind="ci", actions=["pull", "push", "delete"])
    await push(api, "acme-prod/app", "v1.0.0", ci)

    refused = await delete(api, "acme-prod/app:v1.0.0", ci)

    assert refused.status == 403, refused.body
    assert "immutable" in refused.message
    assert len((await api.get("/registries/acme-prod/images")).body["images"]) == 1


async def test_deleting_needs_the_delete_right_and_an_existing_image(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci")  # pull and push only
    await push(api, "acme-dev/app", "v1", ci)

    assert (await delete(api, "acme-dev/app:v1", ci)).status == 403
    missing = await delete(api, "acme-dev/app:v9")
    assert missing.status == 404 and "image list acme-dev/app" in missing.message
    assert (await delete(api, "acme-dev/app")).status == 400
