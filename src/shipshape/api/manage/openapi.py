"""The OpenAPI 3.1 document of the management API, assembled from the route table and the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shipshape import __version__
from shipshape.api.manage.errors import ERROR_STATUSES
from shipshape.api.manage.models import ErrorBody
from shipshape.api.manage.operations import Operation

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_REF = "#/components/schemas/{model}"


def openapi_document(operations: Sequence[Operation], prefix: str) -> dict[str, Any]:
    return _document(tuple(operations), prefix)


@cache
def _document(operations: tuple[Operation, ...], prefix: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [(ErrorBody, "serialization")]
    for operation in operations:
        if operation.body is not None:
            models.append((operation.body, "validation"))
        if operation.response is not None:
            models.append((operation.response, "serialization"))
    keys, top = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF)
    schemas = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        return dict(keys[(model, mode)])

    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        path = prefix + operation.path
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": [operation.tag],
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PLACEHOLDER.findall(operation.path)
        ]
        if operation.query is not None:
            parameters += _query_parameters(operation.query)
        if parameters:
            entry["parameters"] = parameters
        if operation.body is not None:
            entry["requestBody"] = {
                "required": operation.body_required,
                "content": {"application/json": {"schema": ref(operation.body, "validation")}},
            }
        responses: dict[str, Any] = {}
        for status in (operation.status, *operation.also):
            if operation.response is None:
                responses[str(status)] = {"description": "Done"}
            else:
                responses[str(status)] = {
                    "description": "Done",
                    "content": {"application/json": {"schema": ref(operation.response, "serialization")}},
                }
        for status in operation.statuses:
            responses[str(status)] = {
                "description": ERROR_STATUSES[status],
                "content": {"application/json": {"schema": ref(ErrorBody, "serialization")}},
            }
        entry["responses"] = responses
        paths.setdefault(path, {})[operation.method.lower()] = entry

    paths[prefix + "/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shipshape management API",
            "version": __version__,
            "description": "Accounts, registries, members, machine credentials, the audit log and Kubernetes pull"
            ' secrets. Errors are `{"error": {"code", "message"}}` (plus `rule` when a policy refused); the message'
            " says what to do.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "A member's username and password"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
    }


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema.get("properties", {}).items():
        field = dict(field)
        description = field.pop("description", None)
        field.pop("title", None)
        if field.get("default", 0) is None:
            del field["default"]
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": _plain(field)}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the `null` alternative of an optional field (absent means null)."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [option for option in options if option != {"type": "null"}]
        if len(rest) == 1:
            merged = {key: value for key, value in schema.items() if key != "anyOf"}
            return {**rest[0], **merged}
    return schema
