"""A registry's page and a repository's page."""

from __future__ import annotations

from aiohttp import web


async def registry(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def repository(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()
