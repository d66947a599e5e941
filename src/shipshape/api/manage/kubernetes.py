"""`/api/v1/pull-secrets`: Kubernetes image pull secrets for a registry."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from shipshape.api.manage.context import actor, services
from shipshape.api.manage.models import PullSecretCreate, PullSecretOut
from shipshape.api.manage.wire import read_body, respond
from shipshape.services.administration import PullSecretRequest


def registry_host(request: web.Request, public_url: str | None) -> str:
    """`host[:port]` as clients address this server: from the public URL setting, else the request's Host."""
    if public_url:
        return urlsplit(public_url).netloc or public_url
    return request.host


async def create_pull_secret(request: web.Request) -> web.Response:
    body = await read_body(request, PullSecretCreate)
    server = registry_host(request, services(request).public_url)
    issued = await services(request).administration.pull_secret(
        actor(request),
        PullSecretRequest(
            registry=body.registry,
            namespace=body.namespace,
            server=server,
            secret_name=body.secret_name,
            service_account=body.service_account,
            credential=body.credential,
            secret=body.secret,
        ),
    )
    out = PullSecretOut(
        yaml=issued.yaml,
        username=issued.username,
        secret_name=issued.secret_name,
        server=server,
        created=issued.created,
    )
    return respond(out, status=201 if issued.created else 200)
