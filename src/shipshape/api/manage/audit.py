"""`/api/v1/audit`: the audit trail, newest first."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import AuditEventOut, AuditList, AuditQuery
from shipshape.api.manage.wire import read_query, respond


async def audit_events(request: web.Request) -> web.Response:
    query = read_query(request, AuditQuery)
    events = await services(request).administration.audit_events(
        actor(request), registry=query.registry, account=query.account, since=query.since, limit=query.limit
    )
    return respond(AuditList(events=[AuditEventOut.of(event) for event in events]))
