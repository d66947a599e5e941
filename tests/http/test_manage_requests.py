"""Malformed requests to the management API get a 4xx and a message, never a 500; the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shipshape.api.manage.routes import OPERATIONS
from tests.http.manage_support import ManageApi, running_api

POSTS = ["/accounts", "/registries", "/members", "/credentials", "/pull-secrets"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.registry("acme-dev")
        await api.credential("ci", "acme-dev")
        yield api


@pytest.mark.parametrize("path", [*POSTS, "/credentials/acme-dev+ci/rotate", "/credentials/acme-dev+ci/reset"])
@pytest.mark.parametrize("body", ["{not json", '{"name": "x",}', "\xff\xfe", "null x"])
async def test_malformed_json_is_400(api: ManageApi, path: str, body: str) -> None:
    answer = await api.call("POST", path, data=body.encode("latin-1"))
    assert answer.status == 400 and answer.code == "BAD_REQUEST" and "not valid JSON" in answer.message


@pytest.mark.parametrize("path", [*POSTS, "/credentials/acme-dev+ci/rotate", "/credentials/acme-dev+ci/reset"])
async def test_unknown_fields_are_422_and_named(api: ManageApi, path: str) -> None:
    answer = await api.post(path, {"surprise": True})
    assert answer.status == 422 and answer.code == "INVALID"
    assert "surprise: unknown field" in answer.message


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("body", ["[]", "42", '"text"', "null", "{}"])
async def test_bodies_that_are_not_the_right_object_are_422(api: ManageApi, path: str, body: str) -> None:
    answer = await api.call("POST", path, data=body)
    assert answer.status == 422, answer.body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/registries", {"name": 5, "environment": "development"}),
        ("/registries", {"name": "x", "environment": ["development"]}),
        ("/members", {"username": "bob", "role": "king", "password": "x" * 20}),
        ("/members", {"username": "bob", "role": "viewer", "password": 123456789012}),
        ("/credentials", {"name": "ci", "registries": ["acme-dev"], "kind": "ci", "expires_in": 30}),
        ("/credentials", {"name": "ci", "registries": [["acme-dev"]], "kind": "ci"}),
        ("/accounts", {"name": "acme", "quota": 1.5}),
        ("/pull-secrets", {"registry": "acme-dev", "namespace": 7}),
        ("/credentials/acme-dev+ci/rotate", {"grace": None}),
        ("/credentials/acme-dev+ci/rotate", {"grace": "1 fortnight"}),
    ],
)
async def test_wrong_types_enums_and_durations_are_422(api: ManageApi, path: str, body: object) -> None:
    answer = await api.post(path, body)
    assert answer.status == 422 and answer.message, answer.body


async def test_oversized_body_is_413_not_500(api: ManageApi) -> None:
    answer = await api.call("POST", "/accounts", data=b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}')
    assert answer.status == 413 and answer.code == "TOO_LARGE"


async def test_unknown_endpoint_is_json_404_and_wrong_method_is_405(api: ManageApi) -> None:
    missing = await api.get("/teapots")
    assert missing.status == 404 and missing.code == "NOT_FOUND" and "openapi.json" in missing.message
    wrong = await api.call("PATCH", "/registries")
    assert wrong.status == 405 and wrong.headers["Allow"] == "GET,POST"


async def test_openapi_document_lists_every_operation_without_authentication(api: ManageApi) -> None:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    for operation in OPERATIONS:
        entry = document["paths"]["/api/v1" + operation.path][operation.method.lower()]
        assert entry["operationId"] == operation.operation_id
        assert str(operation.status) in entry["responses"] and "401" in entry["responses"]
    create = document["paths"]["/api/v1/credentials"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"name", "registries", "kind"}
    audit = document["paths"]["/api/v1/audit"]["get"]
    assert {p["name"] for p in audit["parameters"]} == {"registry", "account", "since", "limit"}
    assert document["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
