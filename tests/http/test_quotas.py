"""Storage quotas on a real application: a push past the account's quota is refused (DENIED, rule `quota`, used
and limit in the message) at blob upload or manifest PUT and stores nothing; a blob counts once per account;
deleting and collecting makes room; crossing 80% and 90% is audited once; `max_image_size` refuses big images;
`PUT /accounts/{name}/quota` is for server administrators."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import UploadRefused, push, upload

CONFIG_SIZE = 37  # policy_support's config blob


@pytest.fixture(params=["filesystem", "s3"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ManageApi]:
    """The application on each blob store: what counts and what goes must not depend on where the bytes are."""
    async with running_api(tmp_path, blob_store=request.param) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        await api.registry("acme-stage", account="acme", environment="staging")
        yield api


async def set_quota(api: ManageApi, size: str, account: str = "acme") -> None:
    answer = await api.call("PUT", f"/accounts/{account}/quota", {"quota": size})
    assert answer.status == 200, answer.body


async def ci(api: ManageApi) -> tuple[str, str]:
    return await api.credential("ci", "acme-dev", "acme-stage", kind="ci", actions=["pull", "push", "delete"])


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def head_blob(api: ManageApi, repository: str, digest: str, login: tuple[str, str]) -> int:
    response = await api.client.head(f"/v2/{repository}/blobs/{digest}", headers=basic(*login))
    return response.status


async def test_a_blob_upload_past_the_quota_is_refused_and_nothing_is_stored(api: ManageApi) -> None:
    login = await ci(api)
    await set_quota(api, "2KiB")
    assert (await push(api, "acme-dev/app", "v1", login, content="small")).status == 201
    big = b"x" * 4096

    with pytest.raises(UploadRefused) as refused:
        await upload(api, "acme-dev/app", big, login)

    answer = refused.value.pushed
    assert answer.status == 403
    assert answer.body["errors"][0]["code"] == "DENIED"
    assert answer.rule == "quota"
    assert "storage quota of account acme exceeded" in answer.message
    assert "of 2KiB" in answer.message and "adds 4KiB" in answer.message
    assert "shipshape account set-quota acme" in answer.message
    assert await head_blob(api, "acme-dev/app", digest_of(big), login) == 404
    blobs, uploads = await api.stored()
    assert digest_of(big) not in blobs and uploads == set()


async def test_a_blob_counts_once_however_many_repositories_and_registries_share_it(api: ManageApi) -> None:
    login = await ci(api)
    layer = b"shared layer " * 100
    await upload(api, "acme-dev/app", layer, login)
    await set_quota(api, str(len(layer) + 100))

    # The same bytes in another repository and another registry of the account cost nothing more.
    assert await upload(api, "acme-dev/other", layer, login) == digest_of(layer)
    assert await upload(api, "acme-stage/app", layer, login) == digest_of(layer)
    with pytest.raises(UploadRefused):
        await upload(api, "acme-dev/app", b"y" * 200, login)


async def test_a_manifest_past_the_quota_is_refused_at_put(api: ManageApi) -> None:
    login = await ci(api)
    content = "fits, but its manifest does not"
    await set_quota(api, str(CONFIG_SIZE + len(content) + 10))

    pushed = await push(api, "acme-dev/app", "v1", login, content=content)

    assert pushed.status == 403 and pushed.rule == "quota", pushed.body
    shown = await api.client.get("/v2/acme-dev/app/manifests/v1", headers=basic(*login))
    assert shown.status == 404
    refusals = [event for event in await api.audit() if event["action"] == "manifest.push"]
    assert refusals == [] or all(event["result"] != "success" for event in refusals)


async def test_deleting_and_collecting_makes_room_again(api: ManageApi) -> None:
    login = await ci(api)
    first = await push(api, "acme-dev/app", "v1", login, content="a" * 1500)
    await set_quota(api, "2KiB")
    assert (await push(api, "acme-dev/app", "v2", login, content="b" * 1500)).status == 403

    deleted = await api.client.delete(f"/v2/acme-dev/app/manifests/{first.digest}", headers=basic(*login))
    assert deleted.status == 202
    api.clock.advance(timedelta(seconds=1))
    collected = await api.post("/gc", {"grace": "0s"})
    assert collected.status == 200 and collected.body["blobs_deleted"] >= 1

    assert (await push(api, "acme-dev/app", "v2", login, content="b" * 1500)).status == 201


async def test_crossing_80_and_90_percent_is_audited_once_each(api: ManageApi) -> None:
    login = await ci(api)
    await set_quota(api, "10000")
    await upload(api, "acme-dev/app", b"a" * 7000, login)  # 70%
    await upload(api, "acme-dev/app", b"b" * 1500, login)  # 85%: crosses 80
    await upload(api, "acme-dev/app", b"c" * 100, login)  # 86%: nothing new
    await upload(api, "acme-dev/app", b"d" * 500, login)  # 91%: crosses 90

    alerts = [event for event in await api.audit(account="acme") if event["action"] == "usage.alert"]

    assert sorted(event["detail"]["level"] for event in alerts) == ["80", "90"]
    ninety = next(event for event in alerts if event["detail"]["level"] == "90")
    assert ninety["detail"]["used"] == "9100" and ninety["detail"]["limit"] == "10000"


async def test_setting_a_quota_is_for_server_administrators(api: ManageApi) -> None:
    owner = await api.member("acme-owner", "owner", account="acme")

    by_owner = await api.call("PUT", "/accounts/acme/quota", {"quota": "1TiB"}, as_=owner)
    unknown = await api.call("PUT", "/accounts/nope/quota", {"quota": "1GiB"})
    bad = await api.call("PUT", "/accounts/acme/quota", {"quota": "lots"})
    good = await api.call("PUT", "/accounts/acme/quota", {"quota": "500MiB"})

    assert by_owner.status == 403
    assert unknown.status == 404
    assert bad.status in (400, 422) and "500MiB" in str(bad.body)
    assert good.status == 200 and good.body["quota_bytes"] == 500 * 1024 * 1024
    changes = [event for event in await api.audit(account="acme") if event["action"] == "account.set-quota"]
    assert sorted(event["result"] for event in changes) == ["denied", "success"]


async def test_with_quotas_off_a_push_past_the_quota_is_stored_and_usage_still_counts_it(tmp_path: Path) -> None:
    async with running_api(tmp_path, quotas=False) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        login = await api.credential("ci", "acme-dev", kind="ci", actions=["pull", "push"])
        await set_quota(api, "1KiB")

        pushed = await push(api, "acme-dev/app", "v1", login, content="z" * 4096)

        assert pushed.status == 201, pushed.body
        usage = (await api.get("/usage?account=acme")).body
        assert usage["used_bytes"] > usage["quota_bytes"] == 1024
        assert usage["percent"] > 100


async def test_max_image_size_refuses_a_larger_image(api: ManageApi) -> None:
    login = await ci(api)
    limited = await api.call("PATCH", "/registries/acme-dev/policy", {"max_image_size": "1KiB"})
    assert limited.status == 200 and limited.body["policy"]["max_image_size"] == 1024

    small = await push(api, "acme-dev/app", "small", login, content="small")
    large = await push(api, "acme-dev/app", "large", login, content="L" * 2000)

    assert small.status == 201
    assert large.status == 403 and large.rule == "max_image_size"
    assert "larger than the 1KiB" in large.message and "--max-image-size" in large.message
    unlimited = await api.call("PATCH", "/registries/acme-dev/policy", {"max_image_size": "0"})
    assert unlimited.body["policy"]["max_image_size"] is None
    assert (await push(api, "acme-dev/app", "large", login, content="L" * 2000)).status == 201
