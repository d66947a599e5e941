"""`/api/v1/me` and `/api/v1/accounts`, and how the management API authenticates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.http.manage_support import ADMIN_PASSWORD, ManageApi, basic, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        yield api


async def test_me_names_the_bootstrapped_server_administrator(api: ManageApi) -> None:
    answer = await api.get("/me")
    assert answer.status == 200
    assert answer.body == {"username": "admin", "account": "default", "role": "owner", "server_admin": True}


async def test_no_credentials_is_401_with_a_basic_challenge(api: ManageApi) -> None:
    response = await api.client.get("/api/v1/me")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="shipshape"'
    body = await response.json()
    assert body["error"]["code"] == "UNAUTHORIZED" and "log in" in body["error"]["message"]


async def test_wrong_password_is_401(api: ManageApi) -> None:
    answer = await api.get("/me", as_=("admin", "not-the-password-at-all"))
    assert answer.status == 401 and answer.code == "UNAUTHORIZED"


async def test_machine_credentials_may_not_manage(api: ManageApi) -> None:
    await api.registry("acme-dev")
    login = await api.credential("ci", "acme-dev")
    answer = await api.get("/me", as_=login)
    assert answer.status == 403 and answer.code == "DENIED"
    assert "machine credential" in answer.message and "member" in answer.message


async def test_a_bearer_token_does_not_open_the_management_api(api: ManageApi) -> None:
    # A token is scoped to repositories and short-lived: leaked from CI, it must not manage the account.
    response = await api.client.get("/auth/token?service=shipshape", headers=basic("admin", ADMIN_PASSWORD))
    assert response.status == 200, await response.text()
    token = (await response.json())["token"]
    answer = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 401 and "Basic" in answer.message
    assert (await api.get("/me", headers={"Authorization": "Bearer not.a.token"})).status == 401


async def test_a_token_cannot_mint_another_token(api: ManageApi) -> None:
    response = await api.client.get("/auth/token?service=shipshape", headers=basic("admin", ADMIN_PASSWORD))
    token = (await response.json())["token"]
    again = await api.client.get("/auth/token?service=shipshape", headers={"Authorization": f"Bearer {token}"})
    assert again.status == 401


async def test_server_administrator_creates_account_with_quota(api: ManageApi) -> None:
    answer = await api.post("/accounts", {"name": "acme", "quota": "10GiB"})
    assert answer.status == 201
    assert answer.body["name"] == "acme" and answer.body["quota_bytes"] == 10 * 1024**3
    listed = await api.get("/accounts")
    assert [a["name"] for a in listed.body["accounts"]] == ["acme", "default"]
    events = await api.audit()
    assert any(e["action"] == "account.create" and e["target"] == "acme" and e["result"] == "success" for e in events)


async def test_account_default_quota_is_10_gib(api: ManageApi) -> None:
    answer = await api.post("/accounts", {"name": "acme"})
    assert answer.body["quota_bytes"] == 10 * 1024**3


async def test_duplicate_account_is_409(api: ManageApi) -> None:
    await api.account("acme")
    answer = await api.post("/accounts", {"name": "acme"})
    assert answer.status == 409 and answer.code == "CONFLICT"


@pytest.mark.parametrize("quota", ["ten gigs", "10XB", "-1GiB", " 10GiB", 10])
async def test_bad_quota_is_422(api: ManageApi, quota: object) -> None:
    answer = await api.post("/accounts", {"name": "acme", "quota": quota})
    assert answer.status == 422 and "quota" in answer.message


async def test_bad_account_name_is_422_with_an_example(api: ManageApi) -> None:
    answer = await api.post("/accounts", {"name": "Acme Corp"})
    assert answer.status == 422 and "e.g. acme-prod" in answer.message


async def test_only_server_administrators_create_accounts(api: ManageApi) -> None:
    await api.account("acme")
    owner = await api.member("olivia", "owner", account="acme")
    answer = await api.post("/accounts", {"name": "rival"}, as_=owner)
    assert answer.status == 403 and answer.code == "DENIED"
    assert "server administrators" in answer.message and "default" in answer.message
    denied = [e for e in await api.audit() if e["result"] == "denied"]
    assert denied and denied[0]["action"] == "account.create" and denied[0]["detail"]["rule"] == "server-admin-only"


async def test_members_of_other_accounts_see_only_their_own(api: ManageApi) -> None:
    await api.account("acme")
    await api.account("globex")
    viewer = await api.member("vera", "viewer", account="acme")
    answer = await api.get("/accounts", as_=viewer)
    assert [a["name"] for a in answer.body["accounts"]] == ["acme"]
    assert (await api.get("/me", as_=viewer)).body["server_admin"] is False


async def test_account_sets_its_credentials_default_and_maximum_lifetime(api: ManageApi) -> None:
    created = await api.post(
        "/accounts", {"name": "acme", "credential_lifetime": "7d", "credential_max_lifetime": "30d"}
    )
    assert created.status == 201
    assert created.body["credential_lifetime_seconds"] == 7 * 86400
    assert created.body["credential_max_lifetime_seconds"] == 30 * 86400
    await api.registry("acme-dev", account="acme")
    issued = await api.post("/credentials", {"name": "ci", "registries": ["acme-dev"], "kind": "ci"})
    expires = datetime.fromisoformat(issued.body["expires_at"])
    assert expires == api.clock.now() + timedelta(days=7)
    too_long = await api.post(
        "/credentials", {"name": "long", "registries": ["acme-dev"], "kind": "ci", "expires_in": "60d"}
    )
    assert too_long.status == 422 and "30" in too_long.message


async def test_default_lifetime_longer_than_the_maximum_is_refused(api: ManageApi) -> None:
    answer = await api.post(
        "/accounts", {"name": "acme", "credential_lifetime": "60d", "credential_max_lifetime": "30d"}
    )
    assert answer.status == 422 and "maximum" in answer.message
    assert "acme" not in [a["name"] for a in (await api.get("/accounts")).body["accounts"]]
