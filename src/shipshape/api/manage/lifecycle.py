"""`/api/v1/gc`, `/api/v1/registries/{name}/retention…` and image listing and deletion: the storage lifecycle."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import PRINCIPAL, actor, services
from shipshape.api.manage.errors import error_response
from shipshape.api.manage.lifecycle_models import (
    GcReport,
    GcRequest,
    ImageDeleteQuery,
    ImageDeletionOut,
    ImageListQuery,
    ImageSummaryList,
    ImageSummaryOut,
)
from shipshape.api.manage.wire import read_body, read_query, respond


async def collect_garbage(request: web.Request) -> web.Response:
    body = await read_body(request, GcRequest)
    maintenance = services(request).maintenance
    if maintenance is None:
        return error_response("UNAVAILABLE", 503, "garbage collection is not available on this server")
    report = await maintenance.collect_garbage(actor(request), body.grace, body.dry_run)
    return respond(GcReport.of(report))


async def list_images(request: web.Request) -> web.Response:
    query = read_query(request, ImageListQuery)
    inventory = services(request).inventory
    if inventory is None:
        return error_response("UNAVAILABLE", 503, "listing images is not available on this server")
    name = request.match_info["name"]
    path = f"{name}/{query.repository}" if query.repository else name
    listed = await inventory.list_images(request[PRINCIPAL], path)
    return respond(ImageSummaryList(images=[ImageSummaryOut.of(image) for image in listed]))


async def delete_image(request: web.Request) -> web.Response:
    query = read_query(request, ImageDeleteQuery)
    inventory = services(request).inventory
    if inventory is None:
        return error_response("UNAVAILABLE", 503, "deleting images is not available on this server")
    return respond(ImageDeletionOut.of(await inventory.delete_image(request[PRINCIPAL], query.reference)))
