"""`/api/v1/credentials`: scoped machine credentials, their secrets (shown once), rotation, reset and revocation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from shipshape.domain.secrets import SCANNER_PATTERN, is_well_formed, secret_sha256
from tests.http.manage_support import ManageApi, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        await api.registry("acme-prod", account="acme", environment="production")
        yield api


async def test_create_returns_the_secret_once_and_listing_never_shows_it(api: ManageApi) -> None:
    body = {"name": "ci", "registries": ["acme-dev", "acme-prod"], "kind": "ci", "actions": ["pull", "push"]}
    answer = await api.post("/credentials", body)
    assert answer.status == 201
    assert answer.headers["Cache-Control"] == "no-store"
    username, secret = answer.body["username"], answer.body["secret"]
    assert username == "acme-dev+ci" and is_well_formed(secret)
    assert answer.body["credential"]["scopes"] == [
        {"registry": "acme-dev", "repositories": None, "actions": ["pull", "push"]},
        {"registry": "acme-prod", "repositories": None, "actions": ["pull", "push"]},
    ]
    assert answer.body["expires_at"] == (api.clock.now() + timedelta(days=90)).isoformat().replace("+00:00", "Z")
    listed = await api.get("/credentials?account=acme")
    shown = await api.get(f"/credentials/{username}")
    for text in (json.dumps(listed.body), json.dumps(shown.body), json.dumps(await api.audit())):
        assert secret not in text and secret_sha256(secret) not in text and not SCANNER_PATTERN.search(text)
    [credential] = listed.body["credentials"]
    assert credential["state"] == "active" and credential["last_used_at"] is None and credential["age_seconds"] == 0
    assert (await api.logs_in(username, secret)).status == 200


async def test_last_use_and_age_are_reported(api: ManageApi) -> None:
    username, secret = await api.credential("ci", "acme-dev")
    api.clock.advance(timedelta(days=2))
    await api.logs_in(username, secret)
    shown = (await api.get(f"/credentials/{username}")).body
    assert shown["last_used_at"] is not None and shown["age_seconds"] == 2 * 86400


async def test_a_viewer_cannot_create_credentials(api: ManageApi) -> None:
    viewer = await api.member("vera", "viewer", account="acme")
    answer = await api.post("/credentials", {"name": "mine", "registries": ["acme-dev"], "kind": "pull"}, as_=viewer)
    assert answer.status == 403 and answer.code == "DENIED"
    assert "viewer" in answer.message and "owner or admin" in answer.message
    [event] = [e for e in await api.audit() if e["action"] == "credential.create"]
    assert event["result"] == "denied" and event["actor"] == "vera" and event["detail"]["rule"] == "owner-or-admin"
    assert (await api.get("/credentials?account=acme")).body == {"credentials": []}


async def test_a_developer_cannot_create_credentials_either(api: ManageApi) -> None:
    developer = await api.member("dev", "developer", account="acme")
    body = {"name": "mine", "registries": ["acme-dev"], "kind": "ci"}
    assert (await api.post("/credentials", body, as_=developer)).status == 403
    assert (await api.get("/credentials", as_=developer)).status == 403


async def test_an_account_admin_creates_credentials(api: ManageApi) -> None:
    admin = await api.member("adam", "admin", account="acme")
    answer = await api.post("/credentials", {"name": "ci", "registries": ["acme-dev"], "kind": "ci"}, as_=admin)
    assert answer.status == 201 and answer.body["credential"]["created_by"] == "adam"


async def test_a_pull_credential_may_only_pull(api: ManageApi) -> None:
    body = {"name": "k8s", "registries": ["acme-prod"], "kind": "pull", "actions": ["pull", "push"]}
    answer = await api.post("/credentials", body)
    assert answer.status == 422 and "may only pull" in answer.message
    username, secret = await api.credential("k8s", "acme-prod", kind="pull")
    assert (await api.get(f"/credentials/{username}")).body["scopes"][0]["actions"] == ["pull"]
    assert await api.push_image("acme-prod/web", "v1", (username, secret)) in (401, 403)


async def test_scopes_limit_what_a_credential_reaches(api: ManageApi) -> None:
    dev = await api.credential("ci", "acme-dev", actions=["pull", "push"], repositories="web/*")
    assert await api.push_image("acme-dev/web/api", "v1", dev) == 201
    assert await api.push_image("acme-dev/other", "v1", dev) in (401, 403)
    assert await api.push_image("acme-prod/web/api", "v1", dev) in (401, 403)


async def test_registries_must_exist_and_share_one_account(api: ManageApi) -> None:
    missing = await api.post("/credentials", {"name": "ci", "registries": ["acme-dev", "nope"], "kind": "ci"})
    assert missing.status == 404 and "nope" in missing.message
    await api.registry("ops", account="default")
    mixed = await api.post("/credentials", {"name": "ci", "registries": ["acme-dev", "ops"], "kind": "ci"})
    assert mixed.status == 422 and "different accounts" in mixed.message


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"expires_in": "400d"}, "maximum"),
        ({"expires_in": "0"}, "positive"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_in": "99999999999999d"}, "expires_in"),
        ({"kind": "robot"}, "kind"),
        ({"actions": ["pull", "fly"]}, "actions"),
        ({"actions": []}, "actions"),
        ({"registries": []}, "registries"),
        ({"registries": "acme-dev"}, "registries"),
        ({"repositories": "Web/**!"}, "repositories"),
        ({"name": "CI pipeline"}, "name"),
        ({"secret": "mine"}, "secret"),
    ],
)
async def test_bad_credential_requests_are_422(api: ManageApi, extra: dict[str, object], words: str) -> None:
    body = {"name": "ci", "registries": ["acme-dev"], "kind": "ci", **extra}
    answer = await api.post("/credentials", body)
    assert answer.status == 422 and words in answer.message, answer.body
    assert (await api.get("/credentials/acme-dev+ci")).status == 404


async def test_expires_in_sets_the_expiry_and_an_expired_credential_says_so(api: ManageApi) -> None:
    username, secret = await api.credential("ci", "acme-dev", expires_in="30d")
    assert (await api.get(f"/credentials/{username}")).body["expires_at"].startswith("2026-03-31")
    api.clock.advance(timedelta(days=31))
    answer = await api.logs_in(username, secret)
    assert answer.status == 401
    message = answer.body["errors"][0]["message"]
    assert "expired" in message and "credential rotate" in message
    assert (await api.get(f"/credentials/{username}")).body["state"] == "expired"
    # Rotating an expired credential renews it.
    rotated = await api.post(f"/credentials/{username}/rotate", {"grace": "0"})
    assert rotated.status == 200
    assert (await api.logs_in(username, rotated.body["secret"])).status == 200


async def test_rotation_keeps_the_old_secret_for_the_grace_window(api: ManageApi) -> None:
    username, old = await api.credential("ci", "acme-dev")
    answer = await api.post(f"/credentials/{username}/rotate", {"grace": "1h"})
    assert answer.status == 200 and answer.body["username"] == username
    new = answer.body["secret"]
    assert new != old and is_well_formed(new)
    assert (await api.logs_in(username, old)).status == 200
    assert (await api.logs_in(username, new)).status == 200
    shown = (await api.get(f"/credentials/{username}")).body
    assert shown["state"] == "rotating" and shown["rotating_until"] is not None
    api.clock.advance(timedelta(hours=1, seconds=1))
    assert (await api.logs_in(username, old)).status == 401
    assert (await api.logs_in(username, new)).status == 200


async def test_rotation_grace_defaults_to_24_hours(api: ManageApi) -> None:
    username, old = await api.credential("ci", "acme-dev")
    answer = await api.post(f"/credentials/{username}/rotate")
    assert answer.status == 200
    api.clock.advance(timedelta(hours=23))
    assert (await api.logs_in(username, old)).status == 200
    api.clock.advance(timedelta(hours=1, seconds=1))
    assert (await api.logs_in(username, old)).status == 401


async def test_rotation_with_no_grace_ends_the_old_secret_at_once(api: ManageApi) -> None:
    username, old = await api.credential("ci", "acme-dev")
    assert (await api.logs_in(username, old)).status == 200  # cached as a verified login
    answer = await api.post(f"/credentials/{username}/rotate", {"grace": "0"})
    assert (await api.logs_in(username, old)).status == 401
    assert (await api.logs_in(username, answer.body["secret"])).status == 200


async def test_reset_ends_the_old_secret_at_once(api: ManageApi) -> None:
    username, old = await api.credential("ci", "acme-dev")
    assert (await api.logs_in(username, old)).status == 200  # cached as a verified login
    answer = await api.post(f"/credentials/{username}/reset")
    assert answer.status == 200
    assert (await api.logs_in(username, old)).status == 401
    assert (await api.logs_in(username, answer.body["secret"])).status == 200


async def test_revoke_ends_the_credential_for_good(api: ManageApi) -> None:
    username, secret = await api.credential("ci", "acme-dev")
    assert (await api.logs_in(username, secret)).status == 200
    answer = await api.post(f"/credentials/{username}/revoke")
    assert answer.status == 200 and answer.body["state"] == "revoked"
    assert (await api.logs_in(username, secret)).status == 401
    again = await api.post(f"/credentials/{username}/rotate")
    assert again.status == 409 and "revocation is final" in again.message
    assert (await api.post(f"/credentials/{username}/reset")).status == 409
    assert (await api.post(f"/credentials/{username}/revoke")).status == 200


async def test_credential_events_are_audited_without_secrets(api: ManageApi) -> None:
    username, first = await api.credential("ci", "acme-dev")
    rotated = (await api.post(f"/credentials/{username}/rotate", {"grace": "0"})).body["secret"]
    reset = (await api.post(f"/credentials/{username}/reset")).body["secret"]
    await api.post(f"/credentials/{username}/revoke")
    events = [e for e in await api.audit(registry="acme-dev") if e["action"].startswith("credential.")]
    assert [e["action"] for e in events] == [
        "credential.revoke", "credential.reset", "credential.rotate", "credential.create",
    ]  # fmt: skip
    assert all(e["credential"] == username and e["actor"] == "admin" for e in events)
    text = json.dumps(await api.audit(limit="1000"))
    for secret in (first, rotated, reset):
        assert secret not in text and secret_sha256(secret) not in text


async def test_unknown_credentials_are_404(api: ManageApi) -> None:
    for path in ("/credentials/acme-dev+nope", "/credentials/acme-dev+nope/rotate"):
        answer = await (api.get(path) if path.endswith("nope") else api.post(path))
        assert answer.status == 404 and answer.code == "NOT_FOUND"


async def test_bad_grace_is_422(api: ManageApi) -> None:
    username, _ = await api.credential("ci", "acme-dev")
    for grace in ("-1h", "a day", 3600, "999d"):
        answer = await api.post(f"/credentials/{username}/rotate", {"grace": grace})
        assert answer.status == 422, (grace, answer.body)
