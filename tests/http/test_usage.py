"""`GET /api/v1/usage`: an account's or registry's bytes (each distinct blob once), per registry and repository,
the largest images and layers, images not pulled, growth since the previous tag, the daily history, and who may
see it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import push, upload

CONFIG = b'{"architecture":"amd64","os":"linux"}'


@pytest.fixture(params=["filesystem", "s3"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ManageApi]:
    """The application on each blob store: usage must not depend on where the bytes are."""
    async with running_api(tmp_path, blob_store=request.param) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        await api.registry("acme-stage", account="acme", environment="staging")
        yield api


async def ci(api: ManageApi) -> tuple[str, str]:
    return await api.credential("ci", "acme-dev", "acme-stage", kind="ci", actions=["pull", "push", "delete"])


async def test_usage_counts_each_blob_once_and_breaks_it_down(api: ManageApi) -> None:
    login = await ci(api)
    api.clock.advance(-timedelta(days=60))
    old = await push(api, "acme-dev/app", "v1", login, content="a" * 1000)
    api.clock.advance(timedelta(days=59))
    new = await push(api, "acme-dev/app", "v2", login, content="b" * 3000)  # grew by 2000 bytes
    await push(api, "acme-dev/web", "v1", login, content="a" * 1000)  # the same image in another repository
    await upload(api, "acme-stage/app", b"a" * 1000, login)  # and its layer in another registry
    pulled = await api.client.get(f"/v2/acme-dev/app/manifests/{new.digest}", headers=basic(*login))
    assert pulled.status == 200

    shown = await api.get("/usage?account=acme&unpulled_days=30&top=5")

    assert shown.status == 200, shown.body
    body = shown.body
    blobs = len(CONFIG) + 1000 + 3000  # the config and the two layers, each once
    assert (body["blobs"], body["manifests"]) == (3, 2)
    assert body["used_bytes"] == body["bytes"] > blobs  # plus the two manifest documents
    assert body["quota_bytes"] == 10 * 1024**3 and body["percent"] == 0
    registries = {scope["name"]: scope for scope in body["registries"]}
    assert registries["acme-dev"]["blobs"] == 3 and registries["acme-stage"]["blobs"] == 1
    repositories = {scope["name"]: scope["bytes"] for scope in body["repositories"]}
    assert repositories == {"acme-dev/app": blobs, "acme-dev/web": len(CONFIG) + 1000, "acme-stage/app": 1000}
    assert body["repositories"][0]["name"] == "acme-dev/app"
    assert body["largest_images"][0]["digest"] == new.digest
    assert body["largest_layers"][0]["size"] == 3000
    assert {layer["size"]: layer["repositories"] for layer in body["largest_layers"]}[1000] == [
        "acme-dev/app", "acme-dev/web", "acme-stage/app",
    ]  # fmt: skip
    assert [image["digest"] for image in body["unpulled"]] == [old.digest]  # pushed 60 days ago, never pulled
    assert [(g["tag"], g["previous_tag"], g["grew_by"]) for g in body["growth"]] == [("v2", "v1", 2000)]
    assert [snapshot["bytes"] for snapshot in body["history"]] == [body["used_bytes"]]


async def test_a_registry_report_and_its_history(api: ManageApi) -> None:
    login = await ci(api)
    await upload(api, "acme-stage/app", b"s" * 500, login)
    first = await api.get("/usage?registry=acme-stage")
    api.clock.advance(timedelta(days=1))
    await upload(api, "acme-stage/app", b"t" * 700, login)

    second = await api.get("/usage?registry=acme-stage")

    assert first.status == second.status == 200
    assert second.body["registry"] == "acme-stage" and second.body["bytes"] == 1200
    assert [snapshot["bytes"] for snapshot in second.body["history"]] == [500, 1200]
    assert [scope["name"] for scope in second.body["registries"]] == ["acme-stage"]


async def test_usage_is_for_the_accounts_members(api: ManageApi) -> None:
    await api.account("globex")
    outsider = await api.member("outsider", "owner", account="globex")
    reader = await api.member("viewer", "viewer", account="acme")

    refused = await api.get("/usage?account=acme", as_=outsider)
    refused_registry = await api.get("/usage?registry=acme-dev", as_=outsider)
    own = await api.get("/usage", as_=reader)
    unknown = await api.get("/usage?registry=nope")

    assert refused.status == refused_registry.status == 403
    assert own.status == 200 and own.body["account"] == "acme"
    assert unknown.status == 404
