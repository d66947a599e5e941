"""`/api/v1/promotions`: members and CI credentials promote images by digest."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import PRINCIPAL, services
from shipshape.api.manage.errors import error_response
from shipshape.api.manage.image_models import PromotionCreate, PromotionOut
from shipshape.api.manage.wire import read_body, respond


async def promote(request: web.Request) -> web.Response:
    body = await read_body(request, PromotionCreate)
    promotions = services(request).promotions
    if promotions is None:
        return error_response("UNAVAILABLE", 503, "promotion is not available on this server")
    done = await promotions.promote(request[PRINCIPAL], body.source, body.target, request.remote)
    return respond(PromotionOut.of(done), status=201)
