"""`GET /api/v1/registries/{name}/checklist` and `GET /api/v1/checklist`: the production-readiness checklist from
the live state (credentials, their use and rotation, policies, retention rules), who may read it, and the fixes it
names making its items pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.http.manage_support import ManageApi, running_api

ITEMS = [
    "immutable-tags",
    "credential-rotation",
    "ci-only-production-pushes",
    "pull-secret",
    "environment-separation",
    "retention-policy",
]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    """Account acme with a development, a staging and a production registry, and a ci credential for each."""
    async with running_api(tmp_path) as api:
        await api.account("acme")
        for name, environment in (("acme-dev", "development"), ("acme-stage", "staging"), ("acme-prod", "production")):
            await api.registry(name, account="acme", environment=environment)
            await api.credential("ci", name, kind="ci")
        yield api


async def checklist(api: ManageApi, registry: str, login: tuple[str, str] | None = None) -> dict[str, Any]:
    answer = await api.get(f"/registries/{registry}/checklist", as_=login)
    assert answer.status == 200, answer.body
    [checked] = answer.body["registries"]
    assert answer.body["passed"] == checked["passed"]
    return dict(checked)


def item(checked: dict[str, Any], item_id: str) -> dict[str, Any]:
    return dict(next(found for found in checked["items"] if found["id"] == item_id))


def failing(checked: dict[str, Any]) -> set[str]:
    return {found["id"] for found in checked["items"] if not found["passed"]}


async def used_pull_credential(api: ManageApi, registry: str) -> str:
    username, secret = await api.credential("k8s-default", registry, kind="pull")
    assert (await api.logs_in(username, secret)).status == 200
    return username


async def test_a_production_registry_without_a_pull_secret_fails_with_evidence_and_fix(api: ManageApi) -> None:
    checked = await checklist(api, "acme-prod")

    assert checked["registry"] == "acme-prod" and checked["account"] == "acme"
    assert checked["environment"] == "production" and checked["passed"] is False
    assert [found["id"] for found in checked["items"]] == ITEMS
    assert set(checked["items"][0]) == {"id", "title", "passed", "applicable", "evidence", "fix"}
    assert failing(checked) == {"pull-secret"}
    pull = item(checked, "pull-secret")
    assert "no live pull-only credential reaches acme-prod" in pull["evidence"]
    assert pull["fix"] == "shipshape k8s pull-secret acme-prod --namespace default | kubectl apply -f -"
    passing = item(checked, "immutable-tags")
    assert passing["passed"] and passing["fix"] is None and "tag_mutability immutable" in passing["evidence"]


async def test_a_pull_credential_passes_once_something_has_logged_in_with_it(api: ManageApi) -> None:
    username, secret = await api.credential("k8s-default", "acme-prod", kind="pull")
    unused = item(await checklist(api, "acme-prod"), "pull-secret")
    assert not unused["passed"] and "nothing has logged in" in unused["evidence"]

    assert (await api.logs_in(username, secret)).status == 200

    used = item(await checklist(api, "acme-prod"), "pull-secret")
    assert used["passed"] and f"{username} last logged in 2026-03-01 12:00 UTC" in used["evidence"]
    assert (await checklist(api, "acme-prod"))["passed"]


async def test_a_credential_that_expired_in_use_fails_until_rotated(api: ManageApi) -> None:
    pull = await used_pull_credential(api, "acme-prod")
    api.clock.advance(timedelta(days=91))  # every credential here expired after 90 days; only the pull one was used

    lapsed = item(await checklist(api, "acme-prod"), "credential-rotation")
    assert not lapsed["passed"]
    assert f"{pull} expired 2026-05-30 12:00 UTC after being used (last 2026-03-01 12:00 UTC)" in lapsed["evidence"]
    assert lapsed["fix"] == f"shipshape credential rotate {pull}"

    assert (await api.post(f"/credentials/{pull}/rotate")).status == 200

    rotated = item(await checklist(api, "acme-prod"), "credential-rotation")
    assert rotated["passed"], rotated
    assert f"1 live credential, {pull}, reaches acme-prod; its secret was rotated 0s ago" in rotated["evidence"]
    assert "1 expired without ever being used" in rotated["evidence"]  # acme-prod+ci, never used


async def test_a_credential_spanning_production_and_development_fails_separation_until_replaced(
    api: ManageApi,
) -> None:
    await api.credential("deploy", "acme-dev", "acme-prod", kind="ci", actions=["pull", "push"])

    spanning = item(await checklist(api, "acme-dev"), "environment-separation")
    assert not spanning["passed"]
    assert spanning["evidence"] == "acme-dev+deploy reaches production (acme-prod) and development (acme-dev)"
    commands = spanning["fix"].split(" && ")
    assert commands == [
        "shipshape credential create deploy-dev --registry acme-dev --kind ci --actions pull,push",
        "shipshape credential create deploy --registry acme-prod --kind ci --actions pull,push",
        "shipshape credential revoke acme-dev+deploy",
    ]

    await api.credential("deploy-dev", "acme-dev", kind="ci", actions=["pull", "push"])
    await api.credential("deploy", "acme-prod", kind="ci", actions=["pull", "push"])
    assert (await api.post("/credentials/acme-dev+deploy/revoke")).status == 200

    assert item(await checklist(api, "acme-dev"), "environment-separation")["passed"]


async def test_a_missing_environment_fails_separation_for_every_registry_of_the_account(api: ManageApi) -> None:
    await api.account("solo")
    await api.registry("solo-prod", account="solo", environment="production")

    separated = item(await checklist(api, "solo-prod"), "environment-separation")

    assert not separated["passed"]
    assert separated["evidence"] == "account solo has no development registry; account solo has no staging registry"
    assert separated["fix"] == (
        "shipshape registry create solo-dev --environment development --account solo"
        " && shipshape registry create solo-staging --environment staging --account solo"
    )


async def test_policy_and_retention_items_follow_the_registrys_settings(api: ManageApi) -> None:
    changed = await api.call(
        "PATCH", "/registries/acme-prod/policy", {"tag_mutability": "mutable", "manifest_creators": "any"}
    )
    assert changed.status == 200, changed.body
    assert (await api.call("DELETE", "/registries/acme-prod/retention")).status == 204

    checked = await checklist(api, "acme-prod")

    assert failing(checked) == {"immutable-tags", "ci-only-production-pushes", "pull-secret", "retention-policy"}
    assert item(checked, "immutable-tags")["fix"] == "shipshape registry set acme-prod --tag-mutability immutable"
    assert item(checked, "ci-only-production-pushes")["fix"] == (
        "shipshape registry set acme-prod --manifest-creators ci-or-promotion"
    )
    assert item(checked, "retention-policy")["fix"] == "shipshape retention set acme-prod --preset"

    fixed = await api.call(
        "PATCH", "/registries/acme-prod/policy", {"tag_mutability": "immutable", "manifest_creators": "ci-or-promotion"}
    )
    assert fixed.status == 200
    assert (await api.call("PUT", "/registries/acme-prod/retention", {"preset": True})).status == 200

    assert failing(await checklist(api, "acme-prod")) == {"pull-secret"}


async def test_development_is_not_held_to_production_items(api: ManageApi) -> None:
    checked = await checklist(api, "acme-dev")

    assert checked["passed"]
    not_applicable = {found["id"] for found in checked["items"] if not found["applicable"]}
    assert not_applicable == {"immutable-tags", "ci-only-production-pushes", "pull-secret"}
    assert all(
        found["evidence"].startswith("not applicable: ") for found in checked["items"] if not found["applicable"]
    )


async def test_every_readable_registry_is_checked_and_passed_says_whether_all_did(api: ManageApi) -> None:
    viewer = await api.member("vera", "viewer", account="acme")
    await api.registry("other-prod", account="default", environment="production")

    mine = await api.get("/checklist", as_=viewer)
    everyone = await api.get("/checklist")
    one_account = await api.get("/checklist?account=acme")

    assert mine.status == 200
    assert [r["registry"] for r in mine.body["registries"]] == ["acme-dev", "acme-prod", "acme-stage"]
    assert mine.body["passed"] is False  # staging and production lack a used pull secret
    assert [r["registry"] for r in everyone.body["registries"]] == ["acme-dev", "acme-prod", "acme-stage", "other-prod"]
    assert one_account.body == mine.body
    await used_pull_credential(api, "acme-stage")
    await used_pull_credential(api, "acme-prod")
    ready = await api.get("/checklist", as_=viewer)
    assert ready.body["passed"] is True and all(r["passed"] for r in ready.body["registries"])


async def test_members_of_other_accounts_may_not_read_the_checklist(api: ManageApi) -> None:
    await api.account("rival")
    outsider = await api.member("olga", "owner", account="rival")

    one = await api.get("/registries/acme-prod/checklist", as_=outsider)
    listed = await api.get("/checklist?account=acme", as_=outsider)
    own = await api.get("/checklist", as_=outsider)

    missing = await api.get("/registries/acme-none/checklist", as_=outsider)
    # Another account's registry is answered as one that does not exist: nothing tells them apart.
    assert (one.status, one.code) == (missing.status, missing.code) == (404, "NOT_FOUND")
    assert one.message.replace("acme-prod", "X") == missing.message.replace("acme-none", "X")
    assert listed.status == 403 and listed.code == "DENIED"
    assert own.status == 200 and own.body == {"registries": [], "passed": True}


async def test_unknown_registries_and_accounts_are_404(api: ManageApi) -> None:
    registry = await api.get("/registries/nowhere/checklist")
    account = await api.get("/checklist?account=nowhere")

    assert registry.status == 404 and "registry 'nowhere' does not exist" in registry.message
    assert account.status == 404 and "account 'nowhere' does not exist" in account.message


async def test_machine_credentials_may_not_call_it(api: ManageApi) -> None:
    username, secret = await api.credential("reader", "acme-prod", kind="pull")

    answer = await api.get("/checklist", as_=(username, secret))

    assert answer.status == 403 and "machine credential" in answer.message
