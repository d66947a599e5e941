"""Pull tracking: every manifest GET counts, per manifest and per puller, and `image show` tells who pulled what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from shipshape.domain import media_types as mt
from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import push


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-dev", environment="development")
        yield api


async def pull(api: ManageApi, reference: str, login: tuple[str, str] | None, method: str = "GET") -> int:
    headers = {"Accept": mt.OCI_MANIFEST, **(basic(*login) if login else {})}
    response = await api.client.request(method, f"/v2/acme-dev/app/manifests/{reference}", headers=headers)
    await response.read()
    return response.status


async def test_pulls_are_counted_per_manifest_and_per_credential(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci")
    cluster = await api.credential("prod-cluster", "acme-dev", kind="pull")
    pushed = await push(api, "acme-dev/app", "v1", ci)
    assert (await api.get("/images?" + urlencode({"reference": "acme-dev/app:v1"}))).body["pull_count"] == 0

    for _ in range(3):
        assert await pull(api, "v1", cluster) == 200
    api.clock.advance(timedelta(minutes=5))
    assert await pull(api, pushed.digest, ci) == 200
    assert await pull(api, "v1", cluster, method="HEAD") == 200  # a HEAD is not a pull

    image = (await api.get("/images?" + urlencode({"reference": "acme-dev/app:v1"}))).body
    assert image["pull_count"] == 4
    assert image["last_pulled"] == api.clock.now().isoformat().replace("+00:00", "Z")
    assert [(p["puller"], p["count"]) for p in image["pulls"]] == [("acme-dev+ci", 1), ("acme-dev+prod-cluster", 3)]
    assert image["pulls"][1]["last_pulled"] < image["pulls"][0]["last_pulled"]


async def test_an_image_never_pulled_says_so(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci")
    await push(api, "acme-dev/app", "v1", ci)

    image = (await api.get("/images?" + urlencode({"reference": "acme-dev/app:v1"}))).body

    assert image["pull_count"] == 0 and image["last_pulled"] is None and image["pulls"] == []


async def test_pulls_of_a_manifest_deleted_before_they_are_written_are_dropped_quietly(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci")
    gone = await push(api, "acme-dev/app", "v1", ci, content="gone")
    await push(api, "acme-dev/app", "v2", ci, content="kept")
    assert await pull(api, "v1", ci) == 200
    assert await pull(api, "v2", ci) == 200
    deleted = await api.client.delete(f"/v2/acme-dev/app/manifests/{gone.digest}", headers=basic(*api.login))
    assert deleted.status == 202

    image = await api.get("/images?" + urlencode({"reference": "acme-dev/app:v2"}))  # writes the pending pulls

    assert image.status == 200 and image.body["pull_count"] == 1
