"""`/api/v1/registries`."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import AccountQuery, PolicyChange, RegistryCreate, RegistryList, RegistryOut
from shipshape.api.manage.wire import no_content, read_body, read_query, respond


async def list_registries(request: web.Request) -> web.Response:
    query = read_query(request, AccountQuery)
    registries = await services(request).administration.list_registries(actor(request), query.account)
    return respond(RegistryList(registries=[RegistryOut.of(registry) for registry in registries]))


async def create_registry(request: web.Request) -> web.Response:
    body = await read_body(request, RegistryCreate)
    registry = await services(request).administration.create_registry(
        actor(request), body.name, body.environment, body.account, body.public
    )
    return respond(RegistryOut.of(registry), status=201)


async def show_registry(request: web.Request) -> web.Response:
    registry = await services(request).administration.get_registry(actor(request), request.match_info["name"])
    return respond(RegistryOut.of(registry))


async def set_policy(request: web.Request) -> web.Response:
    body = await read_body(request, PolicyChange)
    changes = body.model_dump(mode="json", exclude_none=True)
    registry = await services(request).administration.set_registry_policy(
        actor(request), request.match_info["name"], changes
    )
    return respond(RegistryOut.of(registry))


async def delete_registry(request: web.Request) -> web.Response:
    await services(request).administration.delete_registry(actor(request), request.match_info["name"])
    return no_content()
