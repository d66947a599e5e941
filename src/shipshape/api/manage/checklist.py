"""`/api/v1/checklist` and `/api/v1/registries/{name}/checklist`: the production-readiness checklist.

Both answer the same shape, `{"registries": [...], "passed": ...}`, the single-registry route with one registry,
so that a script reads either the same way.
"""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.checklist_models import ChecklistOut
from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import AccountQuery
from shipshape.api.manage.wire import read_query, respond
from shipshape.domain.errors import Unsupported
from shipshape.services.checklist import Checklist


def _checklist(request: web.Request) -> Checklist:
    checklist = services(request).checklist
    if checklist is None:
        raise Unsupported("the checklist is not available on this server")
    return checklist


async def registry_checklist(request: web.Request) -> web.Response:
    checked = await _checklist(request).check(actor(request), request.match_info["name"])
    return respond(ChecklistOut.of([checked]))


async def checklist(request: web.Request) -> web.Response:
    query = read_query(request, AccountQuery)
    return respond(ChecklistOut.of(await _checklist(request).check_all(actor(request), query.account)))
