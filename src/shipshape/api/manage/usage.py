"""`/api/v1/usage`: what an account or registry stores, against the account's quota."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.errors import error_response
from shipshape.api.manage.usage_models import UsageOut, UsageQuery
from shipshape.api.manage.wire import read_query, respond


async def show_usage(request: web.Request) -> web.Response:
    query = read_query(request, UsageQuery)
    usage = services(request).usage
    if usage is None:
        return error_response("UNAVAILABLE", 503, "usage is not available on this server")
    report = await usage.report(actor(request), query.account, query.registry, query.unpulled_days, query.top)
    return respond(UsageOut.of(report))
