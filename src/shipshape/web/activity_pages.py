"""Usage (per registry and repository, daily history, largest and stale images) and the audit log."""

from __future__ import annotations

from aiohttp import web


async def usage(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def audit(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()
