"""A credential is for the registry it was made for, not for whatever later carries the same name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, basic, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-tmp")
        await api.registry("acme-dev")
        yield api


async def _upload(api: ManageApi, registry: str, login: tuple[str, str]) -> int:
    return (await api.client.post(f"/v2/{registry}/app/blobs/uploads/", headers=basic(*login))).status


async def test_a_registry_deleted_and_created_again_does_not_let_old_credentials_in(api: ManageApi) -> None:
    login = await api.credential("ci", "acme-tmp", "acme-dev")
    assert await _upload(api, "acme-tmp", login) == 202  # let in, and remembered
    assert (await api.call("DELETE", "/registries/acme-tmp")).status == 204
    await api.registry("acme-tmp")  # at once: within every cache's lifetime
    assert await _upload(api, "acme-tmp", login) == 403
    assert await _upload(api, "acme-dev", login) == 202  # the credential's other scope stands
    listed = (await api.get("/credentials")).body["credentials"]
    (credential,) = [c for c in listed if c["username"] == login[0]]
    assert [scope["registry"] for scope in credential["scopes"]] == ["acme-dev"]
