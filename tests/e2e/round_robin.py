"""A round-robin load balancer for the scale-out tests: each request goes to the next backend in turn, bodies
streamed both ways, the client's `Host` kept (so the registry's `Location`s point back here), `X-Backend` added to
the answer to say which backend served it.

    python tests/e2e/round_robin.py PORT BACKEND_URL [BACKEND_URL ...]

It prints `ready` once it listens on 127.0.0.1:PORT.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import aiohttp
from aiohttp import web

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
    "upgrade", "content-length",
}  # fmt: skip


def build(backends: list[str]) -> web.Application:
    turns = itertools.cycle(range(len(backends)))
    app = web.Application(client_max_size=0)
    sessions: list[aiohttp.ClientSession] = []

    async def session_context(app: web.Application) -> object:
        sessions.append(aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)))
        yield
        await sessions[0].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        turn = next(turns)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = request.content.iter_chunked(256 * 1024) if request.can_read_body else None
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        async with sessions[0].request(
            request.method, backends[turn] + request.path_qs, headers=headers, data=body, allow_redirects=False
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for key, value in answer.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            response.headers["X-Backend"] = str(turn)
            if answer.content_length is not None:
                response.content_length = answer.content_length
            await response.prepare(request)
            async for chunk in answer.content.iter_chunked(256 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response

    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def main(port: int, backends: list[str]) -> None:
    runner = web.AppRunner(build(backends))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:]))
