"""A page on another site cannot make a signed-in browser change anything through the management API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-dev")
        yield api


async def _registries(api: ManageApi) -> list[str]:
    return sorted(r["name"] for r in (await api.get("/registries")).body["registries"])


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_a_write_whose_body_is_not_json_is_refused_and_changes_nothing(
    api: ManageApi, content_type: str | None
) -> None:
    # The "simple" requests a page on another site may send without asking first: a browser sends the Basic
    # credentials it holds with them.
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    body = '{"name": "evil-dev", "environment": "development"}'
    answer = await api.call("POST", "/registries", data=body, headers=headers)
    assert answer.status == 415 and answer.code == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/json" in answer.message
    assert await _registries(api) == ["acme-dev"]


async def test_a_credential_cannot_be_revoked_from_another_site(api: ManageApi) -> None:
    username, secret = await api.credential("ci", "acme-dev")
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        answer = await api.call("POST", f"/credentials/{username}/revoke", data="{}", headers=headers)
        assert answer.status == 403 and answer.code == "CROSS_SITE", headers
        assert (await api.logs_in(username, secret)).status == 200
    deleted = await api.call("DELETE", "/registries/acme-dev", headers={"Origin": "null"})
    assert deleted.status == 403 and await _registries(api) == ["acme-dev"]


async def test_requests_from_the_server_itself_and_from_scripts_are_served(api: ManageApi) -> None:
    own = f"http://{api.client.server.host}:{api.client.server.port}"
    created = await api.call(
        "POST", "/registries", data='{"name": "acme-stg", "environment": "staging"}',
        headers={"Origin": own, "Sec-Fetch-Site": "same-origin"},
    )  # fmt: skip
    assert created.status == 201
    typed = await api.call("POST", "/registries", data='{"name": "acme-qa", "environment": "staging"}',
                           headers={"Sec-Fetch-Site": "none"})  # fmt: skip
    assert typed.status == 201
    scripted = await api.post("/registries", {"name": "acme-ops", "environment": "staging"})  # no Origin at all
    assert scripted.status == 201
    assert await _registries(api) == ["acme-dev", "acme-ops", "acme-qa", "acme-stg"]
    assert (await api.get("/registries", headers={"Sec-Fetch-Site": "cross-site"})).status == 200  # reads are safe
