"""`/api/v1/registries`: create, list, show and delete, by role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        yield api


async def test_create_show_list_delete(api: ManageApi) -> None:
    created = await api.post("/registries", {"name": "acme-prod", "environment": "production", "account": "acme"})
    assert created.status == 201
    assert created.body == {
        "name": "acme-prod",
        "account": "acme",
        "environment": "production",
        "public": False,
        "policy": {
            "tag_mutability": "immutable",
            "mutable_tags": [],
            "denied_tags": ["latest", "dev", "test", "stable"],
            "allowed_tags": ["semver", "date", "commit"],
            "manifest_creators": "ci-or-promotion",
            "promotion_sources": ["env:staging"],
            "require_signature": False,
            "max_image_size": None,
        },
    }
    assert (await api.get("/registries/acme-prod")).body == created.body
    listed = await api.get("/registries?account=acme")
    assert listed.body == {"registries": [created.body]}
    deleted = await api.call("DELETE", "/registries/acme-prod")
    assert deleted.status == 204
    assert (await api.get("/registries/acme-prod")).status == 404
    actions = [(e["action"], e["result"]) for e in await api.audit(registry="acme-prod")]
    assert ("registry.create", "success") in actions and ("registry.delete", "success") in actions


async def test_registry_defaults_to_the_callers_account_and_can_be_public(api: ManageApi) -> None:
    owner = await api.member("olivia", "owner", account="acme")
    answer = await api.post(
        "/registries", {"name": "acme-pub", "environment": "development", "public": True}, as_=owner
    )
    assert answer.status == 201 and answer.body["account"] == "acme" and answer.body["public"] is True


async def test_server_administrator_lists_every_account_registries(api: ManageApi) -> None:
    await api.registry("acme-dev", account="acme")
    await api.registry("ops", account="default")
    names = [r["name"] for r in (await api.get("/registries")).body["registries"]]
    assert names == ["acme-dev", "ops"]


async def test_developers_and_viewers_may_list_and_show_but_not_create_or_delete(api: ManageApi) -> None:
    await api.registry("acme-dev", account="acme")
    for role in ("developer", "viewer"):
        login = await api.member(f"{role}-1", role, account="acme")
        listed = await api.get("/registries", as_=login)
        assert [r["name"] for r in listed.body["registries"]] == ["acme-dev"]
        assert (await api.get("/registries/acme-dev", as_=login)).status == 200
        create = await api.post("/registries", {"name": f"{role}-reg", "environment": "development"}, as_=login)
        assert create.status == 403 and "owner or admin" in create.message
        delete = await api.call("DELETE", "/registries/acme-dev", as_=login)
        assert delete.status == 403
    assert (await api.get("/registries/acme-dev")).status == 200


async def test_members_of_another_account_cannot_see_its_registries(api: ManageApi) -> None:
    await api.registry("acme-dev", account="acme")
    await api.account("globex")
    outsider = await api.member("gus", "owner", account="globex")
    seen, missing = (
        await api.get("/registries/acme-dev", as_=outsider),
        await api.get("/registries/acme-x", as_=outsider),
    )
    assert (seen.status, seen.code) == (missing.status, missing.code) == (404, "NOT_FOUND")  # one answer for both
    assert (await api.get("/registries?account=acme", as_=outsider)).status == 403
    assert (await api.get("/registries", as_=outsider)).body == {"registries": []}
    answer = await api.post(
        "/registries", {"name": "sneaky", "environment": "development", "account": "acme"}, as_=outsider
    )
    assert answer.status == 403 and "not a member of account 'acme'" in answer.message


async def test_registry_names_are_unique_on_the_server(api: ManageApi) -> None:
    await api.registry("shared", account="acme")
    answer = await api.post("/registries", {"name": "shared", "environment": "staging", "account": "default"})
    assert answer.status == 409 and answer.code == "CONFLICT"


async def test_unknown_account_is_404(api: ManageApi) -> None:
    answer = await api.post("/registries", {"name": "x-dev", "environment": "development", "account": "nobody"})
    assert answer.status == 404 and "account list" in answer.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Acme_Dev!", "environment": "development"}, "name"),
        ({"name": "acme-dev", "environment": "qa"}, "environment"),
        ({"name": "acme-dev"}, "environment"),
        ({"name": "acme-dev", "environment": "development", "public": "yes"}, "public"),
        ({"name": "acme-dev", "environment": "development", "colour": "blue"}, "colour"),
    ],
)
async def test_bad_registry_requests_are_422_naming_the_field(
    api: ManageApi, body: dict[str, object], field: str
) -> None:
    answer = await api.post("/registries", body)
    assert answer.status == 422 and answer.message.startswith(field), answer.body


async def test_deleting_a_registry_that_holds_repositories_is_409(api: ManageApi) -> None:
    await api.registry("acme-dev", account="acme")
    ci = await api.credential("ci", "acme-dev")
    assert await api.push_image("acme-dev/web", "v1", ci) == 201
    answer = await api.call("DELETE", "/registries/acme-dev")
    assert answer.status == 409


async def test_a_new_registry_accepts_pushes_at_once(api: ManageApi) -> None:
    owner = await api.member("olivia", "owner", account="acme")
    assert await api.push_image("acme-new/web", "v1", owner) == 404  # no such registry yet
    await api.registry("acme-new", account="acme")
    assert await api.push_image("acme-new/web", "v1", owner) == 201
