"""`/api/v1/registries/{name}/retention…`: rules set and shown, a preview of exactly what a run deletes, the run
itself (audited), and the rights each needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, basic, running_api
from tests.http.policy_support import push

RULES = """
rules:
  - name: keep-last-releases
    action: keep
    tags: ["v*"]
    most-recent: 2
  - name: expire-old-builds
    action: expire
    tag-state: tagged
    pushed-before: 30d
  - name: expire-untagged
    action: expire
    tag-state: untagged
    pushed-before: 1d
"""


@pytest.fixture(params=["filesystem", "s3"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ManageApi]:
    """The application on each blob store: what counts and what goes must not depend on where the bytes are."""
    async with running_api(tmp_path, blob_store=request.param) as api:
        await api.registry("acme-dev", environment="development")
        yield api


async def set_rules(api: ManageApi, document: str, login: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await api.call("PUT", "/registries/acme-dev/retention", {"document": document}, as_=login)


async def old_and_new_images(api: ManageApi) -> dict[str, str]:
    """v1, v2, v3 and build-1 pushed 40 days ago, an untagged image 2 days ago, build-2 today."""
    ci = await api.credential("ci", "acme-dev", kind="ci", actions=["pull", "push", "delete"])
    digests = {}
    api.clock.advance(-timedelta(days=40))
    for tag in ("v1", "v2", "v3", "build-1"):
        digests[tag] = (await push(api, "acme-dev/app", tag, ci, content=tag)).digest
        api.clock.advance(timedelta(minutes=1))
    api.clock.advance(timedelta(days=38))
    loose = await push(api, "acme-dev/app", "loose", ci, content="loose")
    digests["untagged"] = loose.digest
    deleted = await api.client.delete("/v2/acme-dev/app/manifests/loose", headers=basic(*ci))
    assert deleted.status == 202
    api.clock.advance(timedelta(days=2))
    digests["build-2"] = (await push(api, "acme-dev/app", "build-2", ci, content="build-2")).digest
    return digests


async def test_a_new_registry_starts_with_its_environment_preset(api: ManageApi) -> None:
    await api.registry("acme-prod", environment="production")

    shown = await api.get("/registries/acme-prod/retention")

    assert shown.status == 200
    assert shown.body["rules"] == {
        "rules": [{"name": "expire-untagged", "action": "expire", "tag-state": "untagged", "pushed-before": "7d"}]
    }
    assert "expire-untagged" in shown.body["yaml"]


async def test_preview_lists_exactly_what_the_run_then_deletes(api: ManageApi) -> None:
    digests = await old_and_new_images(api)
    assert (await set_rules(api, RULES)).status == 200

    preview = await api.get("/registries/acme-dev/retention/preview")
    run = await api.post("/registries/acme-dev/retention/run")

    assert preview.status == 200, preview.body
    planned = [(c["digest"], c["tags"], c["rule"]) for c in preview.body["candidates"]]
    assert sorted(planned) == sorted(
        [
            (digests["v1"], ["v1"], "expire-old-builds"),
            (digests["build-1"], ["build-1"], "expire-old-builds"),
            (digests["untagged"], [], "expire-untagged"),
        ]
    )
    assert preview.body["bytes"] == len(b"v1") + len(b"build-1") + len(b"loose")  # the config is shared
    assert {k["digest"]: k["reason"] for k in preview.body["kept"]} == {
        digests["v2"]: "kept by rule keep-last-releases",
        digests["v3"]: "kept by rule keep-last-releases",
    }
    assert run.status == 200 and run.body["ran"]
    assert run.body["candidates"] == preview.body["candidates"]
    remaining = (await api.get("/registries/acme-dev/images")).body["images"]
    assert sorted(image["tags"][0] for image in remaining) == ["build-2", "v2", "v3"]
    audited = await api.audit(registry="acme-dev")
    deletions = [e for e in audited if e["action"] == "retention.delete"]
    assert sorted(e["target"] for e in deletions) == sorted(
        f"acme-dev/app@{digests[key]}" for key in ("v1", "build-1", "untagged")
    )
    assert {e["detail"]["rule"] for e in deletions} == {"expire-old-builds", "expire-untagged"}
    again = await api.get("/registries/acme-dev/retention/preview")
    assert again.body["candidates"] == []


async def test_a_recently_pulled_image_is_kept_by_the_protection_window(api: ManageApi) -> None:
    digests = await old_and_new_images(api)
    await set_rules(api, RULES)
    pulled = await api.client.get("/v2/acme-dev/app/manifests/build-1", headers=basic(*api.login))
    assert pulled.status == 200

    preview = await api.get("/registries/acme-dev/retention/preview")

    assert digests["build-1"] not in [c["digest"] for c in preview.body["candidates"]]
    kept = {k["digest"]: k["reason"] for k in preview.body["kept"]}
    assert "within the 7d protection window" in kept[digests["build-1"]]


async def test_a_run_plans_afresh_so_an_image_tagged_since_the_preview_stays(api: ManageApi) -> None:
    await old_and_new_images(api)
    await set_rules(api, "rules: [{name: all, action: expire, tag-state: untagged, pushed-before: 0s}]")
    # The untagged image is tagged again by a push of the same manifest: the preview no longer holds for it.
    preview = await api.get("/registries/acme-dev/retention/preview")
    ci = await api.credential("ci2", "acme-dev", kind="ci")
    await push(api, "acme-dev/app", "revived", ci, content="loose")

    run = await api.post("/registries/acme-dev/retention/run")

    assert [c["digest"] for c in preview.body["candidates"]] != []
    assert run.body["candidates"] == []


async def test_bad_rules_are_refused_with_the_rule_and_field_and_change_nothing(api: ManageApi) -> None:
    before = await api.get("/registries/acme-dev/retention")

    refused = await set_rules(api, "rules:\n  - name: oops\n    action: expire\n    pushed-befor: 3d\n")

    assert refused.status == 422, refused.body
    assert "rule 1 (oops): field 'pushed-befor' is unknown: did you mean 'pushed-before'" in refused.message
    assert (await api.get("/registries/acme-dev/retention")).body == before.body


async def test_rules_can_be_reset_to_the_preset_or_cleared(api: ManageApi) -> None:
    await set_rules(api, RULES)

    preset = await api.call("PUT", "/registries/acme-dev/retention", {"preset": True})
    cleared = await api.call("DELETE", "/registries/acme-dev/retention")

    assert [rule["name"] for rule in preset.body["rules"]["rules"]] == ["expire-untagged", "expire-old-tags"]
    assert cleared.status == 204
    assert (await api.get("/registries/acme-dev/retention")).body["rules"] is None
    assert (await api.get("/registries/acme-dev/retention/preview")).body["candidates"] == []
    both = await api.call("PUT", "/registries/acme-dev/retention", {"preset": True, "document": RULES})
    assert both.status == 422


async def test_viewers_may_preview_but_not_change_or_run(api: ManageApi) -> None:
    viewer = await api.member("vera", "viewer")

    assert (await api.get("/registries/acme-dev/retention/preview", as_=viewer)).status == 200
    assert (await set_rules(api, RULES, viewer)).status == 403
    assert (await api.post("/registries/acme-dev/retention/run", as_=viewer)).status == 403
    assert (await api.get("/registries/nowhere/retention")).status == 404
