"""An image's page and promoting it."""

from __future__ import annotations

from aiohttp import web


async def image(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def promote(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()
