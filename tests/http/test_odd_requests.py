"""Odd requests get the spec's answer: references that name nothing, repository names with control characters,
credentials that cannot be decoded, and addresses without a route (raw-socket fuzzing: tests/e2e/test_raw_requests)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from shipshape.app import build_app
from shipshape.config import Settings
from shipshape.domain import media_types as mt
from shipshape.metadata.migrate import migrate
from tests.http.conftest import Registry, error_code

# Neither a tag nor a digest; the first is what the OCI conformance suite asks for.
NOT_REFERENCES = [".INVALID_MANIFEST_NAME", "-bad", "sha256:totallywrong", "a" * 129, "sha999:abc"]
CONTROL_NAMES = ["a%00b", "a%0ab", "a%0db", "a%7fb", "a%1bb", "dev/a%00b"]


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    settings = Settings(data_dir=tmp_path / "data", auth=True)
    settings.data_dir.mkdir()
    migrate(settings.metadata_url)
    client = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.mark.parametrize("reference", NOT_REFERENCES)
async def test_get_and_head_of_a_reference_that_is_no_tag_nor_digest_is_manifest_unknown(
    registry: Registry, reference: str
) -> None:
    await registry.push_image("app", "v1")
    got = await registry.client.get(f"/v2/app/manifests/{reference}")
    assert got.status == 404 and await error_code(got) == "MANIFEST_UNKNOWN"
    assert (await registry.client.head(f"/v2/app/manifests/{reference}")).status == 404


async def test_put_of_a_reference_that_is_no_tag_nor_digest_stays_invalid(registry: Registry) -> None:
    headers = {"Content-Type": mt.OCI_MANIFEST}
    bad_tag = await registry.client.put("/v2/app/manifests/.INVALID_MANIFEST_NAME", data=b"{}", headers=headers)
    assert bad_tag.status == 400 and await error_code(bad_tag) == "TAG_INVALID"
    bad_digest = await registry.client.put("/v2/app/manifests/sha256:totallywrong", data=b"{}", headers=headers)
    assert bad_digest.status == 400 and await error_code(bad_digest) == "DIGEST_INVALID"
    deleted = await registry.client.delete("/v2/app/manifests/.INVALID_MANIFEST_NAME")
    assert deleted.status == 400 and await error_code(deleted) == "TAG_INVALID"


async def test_get_and_head_of_a_malformed_blob_digest_is_blob_unknown(registry: Registry) -> None:
    for digest in ["sha256:totallywrong", "nodigest", "sha999:abc"]:
        got = await registry.client.get(f"/v2/app/blobs/{digest}")
        assert got.status == 404 and await error_code(got) == "BLOB_UNKNOWN"
        assert (await registry.client.head(f"/v2/app/blobs/{digest}")).status == 404


@pytest.mark.parametrize("name", CONTROL_NAMES)
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "manifests/v1"),
        ("HEAD", "manifests/v1"),
        ("PUT", "manifests/v1"),
        ("DELETE", "manifests/v1"),
        ("GET", "tags/list"),
        ("GET", "blobs/sha256:" + "0" * 64),
        ("DELETE", "blobs/sha256:" + "0" * 64),
        ("POST", "blobs/uploads/"),
        ("PATCH", "blobs/uploads/some-id"),
        ("GET", "referrers/sha256:" + "0" * 64),
    ],
)
async def test_a_name_with_a_control_character_is_name_invalid_before_authentication(
    secured: TestClient,  # type: ignore[type-arg]
    name: str,
    method: str,
    suffix: str,
) -> None:
    # Before the access check: its challenge would carry the name in a header that cannot be sent.
    response = await secured.request(method, URL(f"/v2/{name}/{suffix}", encoded=True))
    assert response.status == 400
    if method != "HEAD":
        assert await error_code(response) == "NAME_INVALID"


async def test_an_invalid_name_is_name_invalid_without_auth_too(registry: Registry) -> None:
    response = await registry.client.get(URL("/v2/a%00b/manifests/v1", encoded=True))
    assert response.status == 400 and await error_code(response) == "NAME_INVALID"
    upper = await registry.client.get("/v2/App/tags/list")
    assert upper.status == 400 and await error_code(upper) == "NAME_INVALID"


def basic_of(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    "credentials",
    [b"adm\xe9n:secret", b"admin:s\xe9cret", b"\xff\xfe:x", b"adm\x00in:secret", b"admin:sec\x7fret", b"admin:\n"],
    ids=["latin1-user", "latin1-secret", "not-utf8", "nul", "del", "newline"],
)
@pytest.mark.parametrize("path", ["/v2/", "/auth/token", "/api/v1/registries"])
async def test_credentials_that_are_not_utf8_without_controls_are_unauthorized(
    secured: TestClient,  # type: ignore[type-arg]
    credentials: bytes,
    path: str,
) -> None:
    response = await secured.get(path, headers=basic_of(credentials))
    assert response.status == 401 and "WWW-Authenticate" in response.headers
    body = await response.json()
    code = body["error"]["code"] if path.startswith("/api/") else body["errors"][0]["code"]
    assert code == "UNAUTHORIZED"


@pytest.mark.parametrize("value", ["Basic é", "Basic YWRtaW46é", "Bearer é.é.é", "Bearer ☃", "Bäsic x"])
@pytest.mark.parametrize("path", ["/v2/", "/v2/app/manifests/v1", "/auth/token", "/api/v1/registries"])
async def test_an_authorization_header_that_is_not_ascii_is_unauthorized(
    secured: TestClient,  # type: ignore[type-arg]
    value: str,
    path: str,
) -> None:
    response = await secured.get(path, headers={"Authorization": value})
    assert response.status == 401 and "WWW-Authenticate" in response.headers
    body = await response.json()
    code = body["error"]["code"] if path.startswith("/api/") else body["errors"][0]["code"]
    assert code == "UNAUTHORIZED"


async def test_health_ignores_an_authorization_header_that_is_not_ascii(
    secured: TestClient,  # type: ignore[type-arg]
) -> None:
    assert (await secured.get("/healthz", headers={"Authorization": "Basic é"})).status == 200


@pytest.mark.parametrize("path", ["/nothing", "/healthz%00", "/api/v2/x", "/v2x"])
async def test_an_address_without_a_route_is_a_json_404(registry: Registry, path: str) -> None:
    response = await registry.client.get(URL(path, encoded=True))
    assert response.status == 404 and response.content_type == "application/json"
    assert await error_code(response) == "UNSUPPORTED"


async def test_a_method_without_a_route_is_a_json_405_with_allow(registry: Registry) -> None:
    for path in ["/healthz", "/v2/"]:
        response = await registry.client.post(path)
        assert response.status == 405 and response.content_type == "application/json"
        assert "GET" in response.headers["Allow"]


async def test_a_trailing_newline_makes_a_tag_or_name_invalid(registry: Registry) -> None:
    # The grammars are matched whole: a regular expression's `$` would accept `v1\n`.
    await registry.push_image("app", "v1")
    headers = {"Content-Type": mt.OCI_MANIFEST}
    put = await registry.client.put(URL("/v2/app/manifests/v2%0a", encoded=True), data=b"{}", headers=headers)
    assert put.status == 400 and await error_code(put) == "TAG_INVALID"
    got = await registry.client.get(URL("/v2/app/manifests/v1%0a", encoded=True))
    assert got.status == 404 and await error_code(got) == "MANIFEST_UNKNOWN"
    listed = await registry.client.get(URL("/v2/app%0a/tags/list", encoded=True))
    assert listed.status == 400 and await error_code(listed) == "NAME_INVALID"
