"""`POST /api/v1/gc`: garbage collection on demand, for server administrators, audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import push


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-dev", environment="development")
        yield api


def stored_blobs(api: ManageApi) -> set[str]:
    return {f"sha256:{path.name}" for path in (api.data_dir / "blobs").rglob("*") if path.is_file()}


async def test_a_deleted_image_is_freed_once_its_grace_period_is_over(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev", kind="ci", actions=["pull", "push", "delete"])
    kept = await push(api, "acme-dev/app", "v1", ci, content="kept layer")
    gone = await push(api, "acme-dev/app", "v2", ci, content="gone layer!")
    before = stored_blobs(api)
    deleted = await api.client.delete(f"/v2/acme-dev/app/manifests/{gone.digest}", headers=basic(*ci))
    assert deleted.status == 202
    api.clock.advance(timedelta(seconds=1))

    early = await api.post("/gc", {})  # the default grace: 1 hour
    dry = await api.post("/gc", {"grace": "0s", "dry_run": True})
    real = await api.post("/gc", {"grace": "0s"})

    assert early.status == 200 and early.body["blobs_deleted"] == 0
    assert dry.body["dry_run"] and (dry.body["blobs_deleted"], dry.body["bytes_freed"]) == (1, len(b"gone layer!"))
    assert (real.body["blobs_deleted"], real.body["bytes_freed"]) == (1, len(b"gone layer!"))
    assert len(before - stored_blobs(api)) == 1
    pulled = await api.client.get(f"/v2/acme-dev/app/manifests/{kept.digest}", headers=basic(*ci))
    assert pulled.status == 200
    events = [event for event in await api.audit() if event["action"] == "gc.run"]
    assert events[0]["detail"]["blobs_deleted"] == "1"


async def test_only_server_administrators_run_it(api: ManageApi) -> None:
    await api.account("beta")
    owner = await api.member("bob", "owner", account="beta")
    developer = await api.member("dana", "developer")

    for login in (owner, developer):
        refused = await api.post("/gc", {}, as_=login)
        assert refused.status == 403, refused.body
        assert "server administrators" in refused.message
    ci = await api.credential("ci", "acme-dev", kind="ci")
    assert (await api.post("/gc", {}, as_=ci)).status == 403


async def test_a_bad_grace_is_refused(api: ManageApi) -> None:
    refused = await api.post("/gc", {"grace": "an hour"})

    assert refused.status == 422
