"""Credentials: list, create (the secret shown once), rotate, reset, revoke; Kubernetes pull secrets."""

from __future__ import annotations

from aiohttp import web


async def credentials(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def create(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def act(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def pull_secret(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()
