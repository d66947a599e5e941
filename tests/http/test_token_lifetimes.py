"""A bearer token ends when the right it was issued for ends: a new password, a removal, a narrower role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from shipshape.api.oci.access import ACCESS
from shipshape.domain.access import Role
from tests.http.manage_support import PASSWORD, ManageApi, basic, running_api

SCOPE = "/auth/token?service=shipshape&scope=repository:acme-dev/app:pull,push"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-dev")
        await api.member("dana", "developer")
        assert await api.push_image("acme-dev/app", "v1", ("dana", PASSWORD)) == 201
        yield api


async def _token(api: ManageApi, username: str, password: str) -> dict[str, str]:
    response = await api.client.get(SCOPE, headers=basic(username, password))
    assert response.status == 200
    return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def _tags(api: ManageApi, headers: dict[str, str]) -> int:
    return (await api.client.get("/v2/acme-dev/app/tags/list", headers=headers)).status


async def _upload(api: ManageApi, headers: dict[str, str]) -> int:
    return (await api.client.post("/v2/acme-dev/app/blobs/uploads/", headers=headers)).status


async def test_a_members_token_stops_at_once_when_the_password_changes(api: ManageApi) -> None:
    token = await _token(api, "dana", PASSWORD)
    assert await _tags(api, token) == 200
    changed = await api.call("PUT", "/members/dana/password", {"password": "a-brand-new-long-passphrase"})
    assert changed.status in (200, 204), changed.body
    refused = await api.client.get("/v2/acme-dev/app/tags/list", headers=token)
    assert refused.status == 401 and "password changed" in (await refused.json())["errors"][0]["message"]
    fresh = await _token(api, "dana", "a-brand-new-long-passphrase")
    assert await _tags(api, fresh) == 200


async def test_a_token_loses_the_rights_its_owner_lost(api: ManageApi) -> None:
    token = await _token(api, "dana", PASSWORD)
    assert await _upload(api, token) == 202
    assert (await api.call("DELETE", "/members/dana")).status == 204
    assert await _tags(api, token) == 401  # the token's owner is gone
    await api.member("dana", "viewer")  # back, with a role that may not push
    assert await _tags(api, token) == 401  # a new password: still not this token
    viewer = await _token(api, "dana", PASSWORD)
    assert await _tags(api, viewer) == 200
    assert await _upload(api, viewer) in (401, 403)


async def test_a_token_issued_before_a_role_narrowed_cannot_push(api: ManageApi) -> None:
    """The role narrows in the store, password unchanged (as a role change would): the token still grants push,
    but its owner may not any more."""
    token = await _token(api, "dana", PASSWORD)
    access = api.client.app[ACCESS]
    found = await access.store.get_member("dana")
    assert found is not None
    member, password_hash = found
    await access.store.remove_member(member.account, "dana")
    await access.store.add_member(replace(member, role=Role.VIEWER), password_hash, api.clock.now())
    access.authenticator.forget("dana")
    assert await _tags(api, token) == 200  # reading is still within a viewer's rights
    assert await _upload(api, token) == 403
