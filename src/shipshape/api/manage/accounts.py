"""`/api/v1/accounts` and `/api/v1/me`."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import AccountCreate, AccountList, AccountOut, Me, QuotaSet
from shipshape.api.manage.wire import read_body, respond


async def me(request: web.Request) -> web.Response:
    return respond(Me.of(actor(request).member))


async def list_accounts(request: web.Request) -> web.Response:
    accounts = await services(request).administration.list_accounts(actor(request))
    return respond(AccountList(accounts=[AccountOut.of(account) for account in accounts]))


async def create_account(request: web.Request) -> web.Response:
    body = await read_body(request, AccountCreate)
    account = await services(request).administration.create_account(
        actor(request), body.name, body.quota, body.credential_lifetime, body.credential_max_lifetime
    )
    return respond(AccountOut.of(account), status=201)


async def set_quota(request: web.Request) -> web.Response:
    body = await read_body(request, QuotaSet)
    account = await services(request).administration.set_account_quota(
        actor(request), request.match_info["name"], body.quota
    )
    return respond(AccountOut.of(account))
