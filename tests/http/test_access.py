"""`/v2/` with authentication on: challenges, the token flow, and scopes enforced on every route."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from shipshape.api.oci.access import ACCESS
from shipshape.app import build_app
from shipshape.config import Settings
from shipshape.domain import credentials as lifecycle
from shipshape.domain import media_types as mt
from shipshape.domain.access import (
    Account,
    Action,
    Credential,
    CredentialKind,
    Environment,
    Registry,
    Scope,
    SecretHash,
)
from shipshape.domain.secrets import generate_secret, secret_sha256
from shipshape.metadata.migrate import migrate
from tests.http.conftest import digest_of, error_code

NOW = datetime.now(UTC)


@dataclass
class Secured:
    client: TestClient  # type: ignore[type-arg]
    dev_ci: dict[str, str]  # Authorization headers
    dev_pull: dict[str, str]
    prod_ci: dict[str, str]


def basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Secured]:
    settings = Settings(data_dir=tmp_path / "data", auth=True)
    settings.data_dir.mkdir()
    migrate(settings.metadata_url)
    app = build_app(settings)
    store = app[ACCESS].store
    await store.create_account(Account("acme", NOW))
    await store.create_registry(Registry("acme-dev", "acme", Environment.DEVELOPMENT), NOW)
    await store.create_registry(Registry("acme-prod", "acme", Environment.PRODUCTION), NOW)
    await store.create_registry(Registry("acme-pub", "acme", Environment.PRODUCTION, public=True), NOW)
    headers = {}
    everything = frozenset(Action)
    for username, kind, scopes in [
        (
            "acme-dev+ci",
            CredentialKind.CI,
            # acme-next is named but not created yet: pushing there should say to create it.
            (Scope("acme-dev", everything), Scope("acme-pub", everything), Scope("acme-next", everything)),
        ),
        ("acme-dev+pull", CredentialKind.PULL, (Scope("acme-dev", frozenset({Action.PULL})),)),
        ("acme-prod+ci", CredentialKind.CI, (Scope("acme-prod", everything),)),
    ]:
        secret = generate_secret()
        await store.create_credential(
            Credential(username=username, name=username.split("+")[1], account="acme", kind=kind, scopes=scopes,
                       expires_at=NOW + timedelta(days=30), created_at=NOW, created_by="admin",
                       secrets=(SecretHash(secret_sha256(secret)),))
        )  # fmt: skip
        headers[username] = basic(username, secret)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Secured(client, headers["acme-dev+ci"], headers["acme-dev+pull"], headers["acme-prod+ci"])
    finally:
        await client.close()


async def push_image(client: TestClient, name: str, tag: str, auth: dict[str, str]) -> str:  # type: ignore[type-arg]
    config, layer = b'{"os":"linux"}', b"layer of " + name.encode()
    for blob in (config, layer):
        response = await client.post(f"/v2/{name}/blobs/uploads/?digest={digest_of(blob)}", data=blob, headers=auth)
        assert response.status == 201, await response.text()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config), "size": 14},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(layer), "size": len(layer)}
        ],
    }
    response = await client.put(
        f"/v2/{name}/manifests/{tag}", data=json.dumps(manifest), headers={**auth, "Content-Type": mt.OCI_MANIFEST}
    )
    assert response.status == 201, await response.text()
    return digest_of(layer)


async def test_unauthenticated_request_gets_a_bearer_challenge(secured: Secured) -> None:
    response = await secured.client.get("/v2/acme-dev/app/manifests/v1.0.0")
    assert response.status == 401 and await error_code(response) == "UNAUTHORIZED"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="http://127.0.0.1:')
    assert '/auth/token",service="shipshape",scope="repository:acme-dev/app:pull"' in challenge
    assert (await secured.client.get("/v2/")).status == 401


async def test_token_grants_only_what_the_credential_may_do(secured: Secured) -> None:
    response = await secured.client.get(
        "/auth/token",
        params=[("service", "shipshape"), ("scope", "repository:acme-dev/app:pull,push"),
                ("scope", "repository:acme-prod/app:pull,push")],
        headers=secured.dev_ci,
    )  # fmt: skip
    token = (await response.json())["token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert {a["name"]: sorted(a["actions"]) for a in claims["access"]} == {
        "acme-dev/app": ["pull", "push"],
        "acme-prod/app": [],
    }
    bearer = {"Authorization": f"Bearer {token}"}
    await push_image(secured.client, "acme-dev/app", "v1.0.0", bearer)
    refused = await secured.client.get("/v2/acme-prod/app/tags/list", headers=bearer)
    assert refused.status == 403 and await error_code(refused) == "DENIED"


async def test_dev_credential_cannot_pull_push_list_or_mount_from_prod(secured: Secured) -> None:
    client = secured.client
    layer = await push_image(client, "acme-prod/app", "v1.0.0", secured.prod_ci)
    pulled = await client.get("/v2/acme-prod/app/manifests/v1.0.0", headers=secured.dev_ci)
    assert pulled.status == 403 and await error_code(pulled) == "DENIED"
    assert (await client.head(f"/v2/acme-prod/app/blobs/{layer}", headers=secured.dev_ci)).status == 403
    pushed = await client.post("/v2/acme-prod/app/blobs/uploads/", headers=secured.dev_ci)
    assert pushed.status == 403
    catalog = await client.get("/v2/_catalog", headers=secured.dev_ci)
    assert "acme-prod/app" not in (await catalog.json())["repositories"]
    mounted = await client.post(
        f"/v2/acme-dev/app/blobs/uploads/?mount={layer}&from=acme-prod/app", headers=secured.dev_ci
    )
    assert mounted.status == 202  # a plain upload session: the mount needed pull on the source
    automount = await client.post(f"/v2/acme-dev/app/blobs/uploads/?mount={layer}", headers=secured.dev_ci)
    assert automount.status == 202
    assert (await client.head(f"/v2/acme-dev/app/blobs/{layer}", headers=secured.dev_ci)).status == 404


async def test_mount_happens_when_the_caller_may_pull_the_source(secured: Secured) -> None:
    layer = await push_image(secured.client, "acme-dev/one", "v1.0.0", secured.dev_ci)
    mounted = await secured.client.post(
        f"/v2/acme-dev/two/blobs/uploads/?mount={layer}&from=acme-dev/one", headers=secured.dev_ci
    )
    assert mounted.status == 201


async def test_pull_only_credential_cannot_push_or_delete(secured: Secured) -> None:
    await push_image(secured.client, "acme-dev/app", "v1.0.0", secured.dev_ci)
    assert (await secured.client.get("/v2/acme-dev/app/manifests/v1.0.0", headers=secured.dev_pull)).status == 200
    refused = await secured.client.post("/v2/acme-dev/app/blobs/uploads/", headers=secured.dev_pull)
    assert refused.status == 403 and "may not push" in (await refused.json())["errors"][0]["message"]
    assert (await secured.client.delete("/v2/acme-dev/app/manifests/v1.0.0", headers=secured.dev_pull)).status == 403


async def test_public_registry_allows_anonymous_pull_only(secured: Secured) -> None:
    await push_image(secured.client, "acme-pub/app", "v1.0.0", secured.dev_ci)
    token = (await (await secured.client.get("/auth/token?scope=repository:acme-pub/app:pull,push")).json())["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await secured.client.get("/v2/acme-pub/app/manifests/v1.0.0", headers=bearer)).status == 200
    assert (await secured.client.post("/v2/acme-pub/app/blobs/uploads/", headers=bearer)).status == 401


async def test_push_into_a_missing_registry_says_to_create_it(secured: Secured) -> None:
    response = await secured.client.post("/v2/acme-next/app/blobs/uploads/", headers=secured.dev_ci)
    assert response.status == 404 and await error_code(response) == "NAME_UNKNOWN"
    assert "shipshape registry create acme-next" in (await response.json())["errors"][0]["message"]


async def test_a_registry_outside_the_callers_scopes_is_denied_whether_it_exists_or_not(secured: Secured) -> None:
    missing = await secured.client.post("/v2/acme-nope/app/blobs/uploads/", headers=secured.dev_ci)
    existing = await secured.client.post("/v2/acme-prod/app/blobs/uploads/", headers=secured.dev_ci)
    assert (missing.status, existing.status) == (403, 403)
    assert await error_code(missing) == await error_code(existing) == "DENIED"


async def test_wrong_secret_is_unauthorized_with_a_challenge(secured: Secured) -> None:
    response = await secured.client.get("/v2/", headers=basic("acme-dev+ci", generate_secret()))
    assert response.status == 401 and "WWW-Authenticate" in response.headers


async def test_pushes_and_refusals_are_audited_with_the_credential(secured: Secured) -> None:
    await push_image(secured.client, "acme-dev/app", "v1.0.0", secured.dev_ci)
    await secured.client.delete("/v2/acme-dev/app/manifests/v1.0.0", headers=secured.dev_pull)
    events = await secured.client.app[ACCESS].store.audit_events("acme", "acme-dev", None, 10)
    summary = [(e.action, e.result, e.credential, e.target) for e in events if e.action.startswith("manifest")]
    assert summary == [
        ("manifest.delete", "denied", "acme-dev+pull", "acme-dev/app:v1.0.0"),
        ("manifest.push", "success", "acme-dev+ci", "acme-dev/app:v1.0.0"),
    ]


async def test_reset_ends_tokens_issued_for_the_old_secret_but_rotation_keeps_them(secured: Secured) -> None:
    access = secured.client.app[ACCESS]
    scope = "/auth/token?service=shipshape&scope=repository:acme-dev/app:pull"

    async def bearer() -> dict[str, str]:
        token = (await (await secured.client.get(scope, headers=secured.dev_ci)).json())["token"]
        return {"Authorization": f"Bearer {token}"}

    rotated_token = await bearer()
    credential = await access.store.get_credential("acme-dev+ci")
    assert credential is not None
    await access.store.save_credential(
        lifecycle.rotate(credential, secret_sha256(generate_secret()), NOW, timedelta(hours=1))
    )
    access.authenticator.forget("acme-dev+ci")
    assert (await secured.client.get("/v2/acme-dev/app/tags/list", headers=rotated_token)).status == 404  # let in

    reset_token = await bearer()
    credential = await access.store.get_credential("acme-dev+ci")
    assert credential is not None
    await access.store.save_credential(lifecycle.reset(credential, secret_sha256(generate_secret())))
    access.authenticator.forget("acme-dev+ci")
    refused = await secured.client.get("/v2/acme-dev/app/tags/list", headers=reset_token)
    assert refused.status == 401 and "reset" in (await refused.json())["errors"][0]["message"]


async def test_lockout_after_the_configured_number_of_failures(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", auth=True, lockout_failures=2, lockout_duration="10m")  # type: ignore[arg-type]
    settings.data_dir.mkdir()
    migrate(settings.metadata_url)
    client = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    try:
        wrong = basic("acme-dev+ci", generate_secret())
        assert [(await client.get("/v2/", headers=wrong)).status for _ in range(2)] == [401, 401]
        locked = await client.get("/v2/", headers=wrong)
        assert locked.status == 429 and await error_code(locked) == "TOOMANYREQUESTS"
        assert "try again in 10 minutes" in (await locked.json())["errors"][0]["message"]
    finally:
        await client.close()


async def test_a_wildcard_scope_grants_everything_the_caller_may_do(secured: Secured) -> None:
    # containers/image (skopeo delete) asks for `*`.
    for auth, expected in ((secured.dev_ci, ["delete", "pull", "push"]), (secured.dev_pull, ["pull"])):
        response = await secured.client.get(
            "/auth/token", params={"service": "shipshape", "scope": "repository:acme-dev/app:*"}, headers=auth
        )
        token = (await response.json())["token"]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["access"] == [{"type": "repository", "name": "acme-dev/app", "actions": expected}]


async def test_token_endpoint_refuses_malformed_scopes_and_credentials(secured: Secured) -> None:
    bad_scope = await secured.client.get("/auth/token?scope=repository:UPPER/case:pull", headers=secured.dev_ci)
    assert bad_scope.status == 400 and (await bad_scope.json())["errors"][0]["message"]
    bad_basic = await secured.client.get("/auth/token", headers={"Authorization": "Basic not-base64!"})
    assert bad_basic.status == 401 and "malformed" in (await bad_basic.json())["errors"][0]["message"]


async def test_catalog_through_the_token_flow_lists_what_the_caller_may_pull(secured: Secured) -> None:
    await push_image(secured.client, "acme-dev/app", "v1.0.0", secured.dev_ci)
    await push_image(secured.client, "acme-prod/app", "v1.0.0", secured.prod_ci)
    response = await secured.client.get("/auth/token?scope=registry:catalog:*", headers=secured.dev_ci)
    bearer = {"Authorization": f"Bearer {(await response.json())['token']}"}
    catalog = await secured.client.get("/v2/_catalog", headers=bearer)
    assert (await catalog.json())["repositories"] == ["acme-dev/app"]


async def test_token_request_with_too_many_scopes_is_refused(secured: Secured) -> None:
    scopes = [("scope", f"repository:acme-dev/app{i}:pull") for i in range(51)]
    response = await secured.client.get("/auth/token", params=scopes, headers=secured.dev_ci)
    assert response.status == 400 and "limit" in (await response.json())["errors"][0]["message"]


async def test_a_request_let_in_a_moment_ago_is_refused_right_after_a_revoke(secured: Secured) -> None:
    access = secured.client.app[ACCESS]
    await push_image(secured.client, "acme-dev/app", "v1.0.0", secured.dev_ci)
    for _ in range(2):  # the second one is let in from memory
        assert (await secured.client.get("/v2/acme-dev/app/tags/list", headers=secured.dev_pull)).status == 200
    credential = await access.store.get_credential("acme-dev+pull")
    assert credential is not None
    await access.store.save_credential(lifecycle.revoke(credential, NOW))
    access.authenticator.forget("acme-dev+pull")
    assert (await secured.client.get("/v2/acme-dev/app/tags/list", headers=secured.dev_pull)).status == 401


async def test_a_refused_push_under_a_reference_with_control_characters_is_audited_without_them(
    secured: Secured,
) -> None:
    refused = await secured.client.put(
        URL("/v2/acme-dev/app/manifests/v1%00%0a", encoded=True), data=b"{}", headers=secured.dev_pull
    )
    assert refused.status == 403
    events = await secured.client.app[ACCESS].store.audit_events("acme", "acme-dev", None, 10)
    (denied,) = [e for e in events if e.action == "manifest.push"]
    assert denied.result == "denied" and denied.target == "acme-dev/app:v1\ufffd\ufffd"
