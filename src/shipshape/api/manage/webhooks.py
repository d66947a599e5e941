"""`/api/v1/webhooks`: create (the secret shown once), list, delete, and the deliveries of one webhook."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.errors import error_response
from shipshape.api.manage.webhook_models import (
    DeliveryList,
    DeliveryOut,
    DeliveryQuery,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookQuery,
)
from shipshape.api.manage.wire import no_content, read_body, read_query, respond
from shipshape.domain.webhooks import ALL_EVENTS
from shipshape.services.webhooks import WebhookRequest, Webhooks


def _unavailable() -> web.Response:
    return error_response("UNAVAILABLE", 503, "webhooks are not set up on this server: see its log")


def _webhooks(request: web.Request) -> Webhooks | None:
    return services(request).webhooks


async def list_webhooks(request: web.Request) -> web.Response:
    query = read_query(request, WebhookQuery)
    if (webhooks := _webhooks(request)) is None:
        return _unavailable()
    found = await webhooks.list_webhooks(actor(request), query.account, query.registry)
    return respond(WebhookList(webhooks=[WebhookOut.of(webhook) for webhook in found]))


async def create_webhook(request: web.Request) -> web.Response:
    body = await read_body(request, WebhookCreate)
    if (webhooks := _webhooks(request)) is None:
        return _unavailable()
    events = frozenset(body.events) if body.events is not None else ALL_EVENTS
    issued = await webhooks.create_webhook(
        actor(request), WebhookRequest(url=body.url, events=events, account=body.account, registry=body.registry)
    )
    created = WebhookCreated(id=issued.webhook.id, secret=issued.secret, webhook=WebhookOut.of(issued.webhook))
    return respond(created, status=201)


async def delete_webhook(request: web.Request) -> web.Response:
    if (webhooks := _webhooks(request)) is None:
        return _unavailable()
    await webhooks.delete_webhook(actor(request), request.match_info["id"])
    return no_content()


async def list_deliveries(request: web.Request) -> web.Response:
    query = read_query(request, DeliveryQuery)
    if (webhooks := _webhooks(request)) is None:
        return _unavailable()
    webhook, found = await webhooks.deliveries(actor(request), request.match_info["id"], query.limit)
    return respond(DeliveryList(webhook=webhook.id, deliveries=[DeliveryOut.of(delivery) for delivery in found]))
