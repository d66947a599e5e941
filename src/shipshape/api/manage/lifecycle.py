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
    RetentionOut,
    RetentionReportOut,
    RetentionSet,
)
from shipshape.api.manage.wire import no_content, read_body, read_query, respond
from shipshape.domain.access import Registry
from shipshape.domain.errors import PolicyInvalid, Unsupported
from shipshape.domain.retention import RetentionPolicy
from shipshape.services.retention import Retention, collector_paused


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


def _retention(request: web.Request) -> Retention:
    retention = services(request).retention
    if retention is None:
        raise Unsupported("retention is not available on this server")
    return retention


async def show_retention(request: web.Request) -> web.Response:
    registry, policy = await _retention(request).show(actor(request), request.match_info["name"])
    return respond(_retention_out(registry, policy))


async def set_retention(request: web.Request) -> web.Response:
    body = await read_body(request, RetentionSet)
    if (body.document is None) == (not body.preset):
        raise PolicyInvalid("send either document (the rules as YAML or JSON text) or preset: true, not both")
    name = request.match_info["name"]
    policy = await _retention(request).set(actor(request), name, body.document, preset=body.preset)
    registry, _ = await _retention(request).show(actor(request), name)
    return respond(_retention_out(registry, policy))


async def clear_retention(request: web.Request) -> web.Response:
    await _retention(request).set(actor(request), request.match_info["name"], None)
    return no_content()


async def preview_retention(request: web.Request) -> web.Response:
    with collector_paused():  # the report and its JSON hold a few objects per manifest
        report = await _retention(request).preview(actor(request), request.match_info["name"])
        return respond(RetentionReportOut.of(report))


async def run_retention(request: web.Request) -> web.Response:
    report = await _retention(request).run(actor(request), request.match_info["name"])
    with collector_paused():
        return respond(RetentionReportOut.of(report))


def _retention_out(registry: Registry, policy: RetentionPolicy | None) -> RetentionOut:
    return RetentionOut(
        registry=registry.name,
        environment=registry.environment.value,
        rules=policy.document() if policy is not None else None,
        yaml=policy.to_yaml() if policy is not None else None,
    )
