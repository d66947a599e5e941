"""`/api/v1/gc`, `/api/v1/registries/{name}/retention…` and image listing and deletion: the storage lifecycle."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.errors import error_response
from shipshape.api.manage.lifecycle_models import GcReport, GcRequest
from shipshape.api.manage.wire import read_body, respond


async def collect_garbage(request: web.Request) -> web.Response:
    body = await read_body(request, GcRequest)
    maintenance = services(request).maintenance
    if maintenance is None:
        return error_response("UNAVAILABLE", 503, "garbage collection is not available on this server")
    report = await maintenance.collect_garbage(actor(request), body.grace, body.dry_run)
    return respond(GcReport.of(report))
