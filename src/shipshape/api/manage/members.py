"""`/api/v1/members`."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import AccountQuery, MemberCreate, MemberList, MemberOut, PasswordChange
from shipshape.api.manage.wire import no_content, read_body, read_query, respond


async def list_members(request: web.Request) -> web.Response:
    query = read_query(request, AccountQuery)
    members = await services(request).administration.list_members(actor(request), query.account)
    return respond(MemberList(members=[MemberOut.of(member) for member in members]))


async def add_member(request: web.Request) -> web.Response:
    body = await read_body(request, MemberCreate)
    member = await services(request).administration.add_member(
        actor(request), body.username, body.role, body.password, body.account
    )
    return respond(MemberOut.of(member), status=201)


async def remove_member(request: web.Request) -> web.Response:
    await services(request).administration.remove_member(actor(request), request.match_info["username"])
    return no_content()


async def set_password(request: web.Request) -> web.Response:
    body = await read_body(request, PasswordChange)
    await services(request).administration.set_password(actor(request), request.match_info["username"], body.password)
    return no_content()
