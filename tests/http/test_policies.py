"""Registry policies over `/v2/`: tag names, immutable tags, who may push, required signatures; every refusal is an
OCI `DENIED` naming the rule and the fix, and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import push, sign


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        for name, environment in (("acme-dev", "development"), ("acme-stage", "staging"), ("acme-prod", "production")):
            await api.registry(name, environment=environment)
        yield api


async def ci(api: ManageApi, *registries: str) -> tuple[str, str]:
    return await api.credential("pipeline", *registries, kind="ci", actions=["pull", "push", "delete"])


async def tags(api: ManageApi, repository: str, login: tuple[str, str]) -> list[str]:
    response = await api.client.get(f"/v2/{repository}/tags/list", headers=basic(*login))
    return list((await response.json()).get("tags") or []) if response.status == 200 else []


@pytest.mark.parametrize("tag", ["latest", "dev", "test", "stable"])
async def test_mutable_tag_names_are_refused_in_production_with_the_fix(api: ManageApi, tag: str) -> None:
    login = await ci(api, "acme-prod")
    refused = await push(api, "acme-prod/web", tag, login)
    assert refused.status == 403 and refused.body["errors"][0]["code"] == "DENIED"
    assert refused.rule == "denied_tags"
    assert refused.message == (f"tag '{tag}' is not allowed in production registry acme-prod: use a tag such as v1.2.3")
    assert await tags(api, "acme-prod/web", login) == []


async def test_latest_is_fine_in_development(api: ManageApi) -> None:
    assert (await push(api, "acme-dev/web", "latest", await ci(api, "acme-dev"))).status == 201


@pytest.mark.parametrize("tag", ["v1.2.3", "1.2.3-rc.1", "2026.01.15", "commit-3f2a9c1", "3f2a9c1d"])
async def test_production_accepts_version_date_and_commit_tags(api: ManageApi, tag: str) -> None:
    assert (await push(api, "acme-prod/web", tag, await ci(api, "acme-prod"))).status == 201


@pytest.mark.parametrize("tag", ["nightly", "v1.2", "2026.13.01", "commit-xyz"])
async def test_production_refuses_tags_matching_no_allowed_pattern(api: ManageApi, tag: str) -> None:
    refused = await push(api, "acme-prod/web", tag, await ci(api, "acme-prod"))
    assert refused.status == 403 and refused.rule == "allowed_tags"
    assert "semver (v1.2.3), date (2026.01.15) or commit (commit-3f2a9c1)" in refused.message


@pytest.mark.parametrize("registry", ["acme-stage", "acme-prod"])
async def test_immutable_tag_cannot_move_but_the_same_image_can_be_pushed_again(api: ManageApi, registry: str) -> None:
    login = await ci(api, registry)
    first = await push(api, f"{registry}/web", "v1.0.0", login, content="one")
    assert first.status == 201
    again = await push(api, f"{registry}/web", "v1.0.0", login, content="one")
    assert again.status == 201 and again.digest == first.digest  # a CI retry is idempotent
    moved = await push(api, f"{registry}/web", "v1.0.0", login, content="two")
    assert moved.status == 403 and moved.rule == "tag_mutability"
    assert f"points at {first.digest}" in moved.message and "new tag" in moved.message
    pulled = await api.client.get(f"/v2/{registry}/web/manifests/v1.0.0", headers=basic(*login))
    assert pulled.headers["Docker-Content-Digest"] == first.digest


async def test_tags_move_freely_in_development(api: ManageApi) -> None:
    login = await ci(api, "acme-dev")
    await push(api, "acme-dev/web", "v1.0.0", login, content="one")
    moved = await push(api, "acme-dev/web", "v1.0.0", login, content="two")
    assert moved.status == 201
    pulled = await api.client.get("/v2/acme-dev/web/manifests/v1.0.0", headers=basic(*login))
    assert pulled.headers["Docker-Content-Digest"] == moved.digest


async def test_mutable_exceptions_stay_movable_in_an_immutable_registry(api: ManageApi) -> None:
    changed = await api.call("PATCH", "/registries/acme-stage/policy", {"mutable_tags": ["dev-*"]})
    assert changed.status == 200 and changed.body["policy"]["mutable_tags"] == ["dev-*"]
    login = await ci(api, "acme-stage")
    await push(api, "acme-stage/web", "dev-main", login, content="one")
    assert (await push(api, "acme-stage/web", "dev-main", login, content="two")).status == 201
    await push(api, "acme-stage/web", "v2.0.0", login, content="one")
    assert (await push(api, "acme-stage/web", "v2.0.0", login, content="two")).status == 403


async def test_immutable_tag_and_its_manifest_cannot_be_deleted(api: ManageApi) -> None:
    login = await ci(api, "acme-prod")
    pushed = await push(api, "acme-prod/web", "v1.0.0", login)
    for reference in ("v1.0.0", pushed.digest):
        response = await api.client.delete(f"/v2/acme-prod/web/manifests/{reference}", headers=basic(*login))
        body = await response.json()
        assert response.status == 403 and body["errors"][0]["detail"]["rule"] == "tag_mutability"
    assert await tags(api, "acme-prod/web", login) == ["v1.0.0"]
    unknown = await api.client.delete("/v2/acme-prod/web/manifests/v9.9.9", headers=basic(*login))
    assert unknown.status == 404  # an unknown tag is unknown, not refused


async def test_deleting_one_tag_keeps_the_other_tags_of_the_digest(api: ManageApi) -> None:
    login = await ci(api, "acme-dev")
    one = await push(api, "acme-dev/web", "v1.0.0", login)
    await push(api, "acme-dev/web", "candidate", login)
    response = await api.client.delete("/v2/acme-dev/web/manifests/candidate", headers=basic(*login))
    assert response.status == 202
    assert await tags(api, "acme-dev/web", login) == ["v1.0.0"]
    pulled = await api.client.get(f"/v2/acme-dev/web/manifests/{one.digest}", headers=basic(*login))
    assert pulled.status == 200


async def test_only_ci_credentials_push_to_production(api: ManageApi) -> None:
    developer = await api.member("dana", "developer")
    service = await api.credential("batch", "acme-prod", kind="service", actions=["pull", "push"])
    for login, who in ((developer, "member dana"), (service, "service credential acme-prod+batch")):
        refused = await push(api, "acme-prod/web", "v1.0.0", login)
        assert refused.status == 403 and refused.rule == "manifest_creators"
        assert refused.message.startswith(
            f"production registry acme-prod takes new images only from CI (manifest_creators: ci-or-promotion)"
            f" and {who} is not a ci credential: push from your CI pipeline with a ci credential"
        )
    assert (await push(api, "acme-prod/web", "v1.0.0", await ci(api, "acme-prod"))).status == 201
    assert (await push(api, "acme-dev/web", "v1.0.0", developer)).status == 201


async def test_require_signature_refuses_unsigned_and_accepts_signed_images(api: ManageApi) -> None:
    changed = await api.call("PATCH", "/registries/acme-prod/policy", {"require_signature": True})
    assert changed.body["policy"]["require_signature"] is True
    login = await ci(api, "acme-prod")
    unsigned = await push(api, "acme-prod/web", "v1.0.0", login)
    assert unsigned.status == 403 and unsigned.rule == "require_signature"
    assert "sign it" in unsigned.message
    assert (await push(api, "acme-prod/web", unsigned.digest, login)).status == 201  # by digest: no tag, allowed
    assert (await sign(api, "acme-prod/web", unsigned.digest, login)).status == 201
    assert (await push(api, "acme-prod/web", "v1.0.0", login)).status == 201


async def test_refusals_are_audited_with_their_rule(api: ManageApi) -> None:
    login = await ci(api, "acme-prod")
    await push(api, "acme-prod/web", "latest", login)
    events = [e for e in await api.audit(registry="acme-prod") if e["action"] == "manifest.push"]
    assert events[0]["result"] == "denied" and events[0]["detail"] == {"rule": "denied_tags"}


async def test_policy_changes_are_validated_and_change_nothing_when_invalid(api: ManageApi) -> None:
    before = (await api.get("/registries/acme-prod")).body["policy"]
    for bad in (
        {"tag_mutability": "sometimes"},
        {"allowed_tags": ["regex:("]},
        {"allowed_tags": ["calver"]},
        {"promotion_sources": ["env:qa"]},
        {"denied_tags": "latest"},
        {"colour": "blue"},
        {},
    ):
        answer = await api.call("PATCH", "/registries/acme-prod/policy", bad)
        assert answer.status == 422, (bad, answer.body)
    assert (await api.get("/registries/acme-prod")).body["policy"] == before


async def test_a_custom_pattern_and_creator_rule_apply_at_once(api: ManageApi) -> None:
    body = {"allowed_tags": ["regex:release-[0-9]+"], "manifest_creators": "any", "denied_tags": []}
    assert (await api.call("PATCH", "/registries/acme-prod/policy", body)).status == 200
    developer = await api.member("dana", "developer")
    assert (await push(api, "acme-prod/web", "release-7", developer)).status == 201
    assert (await push(api, "acme-prod/web", "v1.0.0", developer)).rule == "allowed_tags"


async def test_who_may_never_push_a_manifest_here_cannot_upload_blobs_either(api: ManageApi) -> None:
    developer = await api.member("dana", "developer")
    response = await api.client.post("/v2/acme-prod/web/blobs/uploads/", headers=basic(*developer))
    body = await response.json()
    assert response.status == 403 and body["errors"][0]["detail"]["rule"] == "manifest_creators"
    catalog = await api.client.get("/v2/_catalog", headers=basic("admin", "harbour-lights-at-dusk"))
    assert "acme-prod/web" not in (await catalog.json())["repositories"]


async def test_the_last_signature_of_a_tagged_image_cannot_be_deleted_where_signatures_are_required(
    api: ManageApi,
) -> None:
    await api.call("PATCH", "/registries/acme-prod/policy", {"require_signature": True})
    login = await ci(api, "acme-prod")
    unsigned = await push(api, "acme-prod/web", "v1.0.0", login)
    await push(api, "acme-prod/web", unsigned.digest, login)
    signature = await sign(api, "acme-prod/web", unsigned.digest, login)
    assert (await push(api, "acme-prod/web", "v1.0.0", login)).status == 201
    refused = await api.client.delete(f"/v2/acme-prod/web/manifests/{signature.digest}", headers=basic(*login))
    body = await refused.json()
    assert refused.status == 403 and body["errors"][0]["detail"]["rule"] == "require_signature"
    assert "attach a new signature before deleting this one" in body["errors"][0]["message"]
    response = await api.client.get(f"/v2/acme-prod/web/referrers/{unsigned.digest}", headers=basic(*login))
    assert [m["digest"] for m in (await response.json())["manifests"]] == [signature.digest]
