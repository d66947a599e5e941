"""Another account's registries, members and credentials are answered exactly as ones that do not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.manage_support import Answer, ManageApi, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        await api.member("ann", "developer", account="acme")
        await api.account("globex")
        yield api


def _same(existing: Answer, missing: Answer, name: str, other: str) -> None:
    assert (existing.status, existing.code) == (missing.status, missing.code) == (404, "NOT_FOUND"), existing.body
    assert existing.message.replace(name, "X") == missing.message.replace(other, "X")


async def test_an_outsider_cannot_tell_another_accounts_objects_from_missing_ones(api: ManageApi) -> None:
    username, _ = await api.credential("ci", "acme-dev")
    outsider = await api.member("gus", "owner", account="globex")
    cases = [
        ("GET", "/registries/{}", "acme-dev", "acme-nope"),
        ("PATCH", "/registries/{}/policy", "acme-dev", "acme-nope"),
        ("DELETE", "/registries/{}", "acme-dev", "acme-nope"),
        ("GET", "/credentials/{}", username, "acme-dev+nope"),
        ("POST", "/credentials/{}/revoke", username, "acme-dev+nope"),
        ("DELETE", "/members/{}", "ann", "nobody"),
        ("PUT", "/members/{}/password", "ann", "nobody"),
    ]
    for method, path, name, other in cases:
        body = {"password": "a-long-enough-passphrase"} if "password" in path else {"denied_tags": ["latest"]}
        existing = await api.call(method, path.format(name), body, as_=outsider)
        missing = await api.call(method, path.format(other), body, as_=outsider)
        _same(existing, missing, name, other)
    assert (await api.get("/registries/acme-dev")).status == 200  # nothing changed
    assert (await api.get(f"/credentials/{username}")).body["state"] != "revoked"


async def test_a_credential_request_naming_another_accounts_registry_is_told_it_does_not_exist(
    api: ManageApi,
) -> None:
    await api.registry("globex-dev", account="globex")
    member = await api.member("dora", "admin", account="acme")
    body = {"name": "ci", "kind": "ci"}
    existing = await api.post("/credentials", {**body, "registries": ["acme-dev", "globex-dev"]}, as_=member)
    missing = await api.post("/credentials", {**body, "registries": ["acme-dev", "globex-nope"]}, as_=member)
    _same(existing, missing, "globex-dev", "globex-nope")
    assert "globex" not in existing.message.replace("globex-dev", "")
