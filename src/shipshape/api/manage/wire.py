"""Reading requests into the API's models and writing models as responses."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

Body = TypeVar("Body", bound=BaseModel)


async def read_body(request: web.Request, model: type[Body]) -> Body:
    """The request's JSON body as `model`; an empty body counts as `{}` (for bodies whose fields are optional)."""
    raw = await request.read()
    return model.model_validate_json(raw if raw.strip() else b"{}")


def read_query(request: web.Request, model: type[Body]) -> Body:
    """The query string as `model`; a parameter given twice is refused rather than one of them picked."""
    repeated = sorted({key for key in request.query if len(request.query.getall(key)) > 1})
    values: dict[str, object] = {key: request.query[key] for key in request.query}
    for key in repeated:
        values[key] = request.query.getall(key)  # a list where one value is expected: a validation error
    return model.model_validate(values)


def respond(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(status=status, text=model.model_dump_json(), content_type="application/json", headers=_NO_STORE)


def no_content() -> web.Response:
    return web.Response(status=204, headers=_NO_STORE)


# Responses may carry a secret shown once: no cache may keep a copy.
_NO_STORE = {"Cache-Control": "no-store"}
