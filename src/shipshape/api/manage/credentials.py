"""`/api/v1/credentials`: create, list, show, rotate, reset and revoke machine credentials."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import (
    AccountQuery,
    CredentialCreate,
    CredentialList,
    CredentialOut,
    IssuedSecretOut,
    ResetRequest,
    RotateRequest,
)
from shipshape.api.manage.wire import read_body, read_query, respond
from shipshape.services.administration import IssuedSecret


def _issued(request: web.Request, issued: IssuedSecret) -> IssuedSecretOut:
    credential = issued.credential
    return IssuedSecretOut(
        username=credential.username,
        secret=issued.secret,
        expires_at=credential.expires_at,
        credential=CredentialOut.of(credential, services(request).clock.now()),
    )


async def create_credential(request: web.Request) -> web.Response:
    body = await read_body(request, CredentialCreate)
    issued = await services(request).administration.create_credential(actor(request), body.request())
    return respond(_issued(request, issued), status=201)


async def list_credentials(request: web.Request) -> web.Response:
    query = read_query(request, AccountQuery)
    found = await services(request).administration.list_credentials(actor(request), query.account)
    now = services(request).clock.now()
    return respond(CredentialList(credentials=[CredentialOut.of(credential, now) for credential in found]))


async def show_credential(request: web.Request) -> web.Response:
    credential = await services(request).administration.get_credential(actor(request), request.match_info["username"])
    return respond(CredentialOut.of(credential, services(request).clock.now()))


async def rotate_credential(request: web.Request) -> web.Response:
    body = await read_body(request, RotateRequest)
    issued = await services(request).administration.rotate_credential(
        actor(request), request.match_info["username"], body.grace, body.expires_in
    )
    return respond(_issued(request, issued))


async def reset_credential(request: web.Request) -> web.Response:
    body = await read_body(request, ResetRequest)
    issued = await services(request).administration.reset_credential(
        actor(request), request.match_info["username"], body.expires_in
    )
    return respond(_issued(request, issued))


async def revoke_credential(request: web.Request) -> web.Response:
    revoked = await services(request).administration.revoke_credential(actor(request), request.match_info["username"])
    return respond(CredentialOut.of(revoked, services(request).clock.now()))
