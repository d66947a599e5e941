"""`/v2/<name>/blobs/<digest>`: HEAD, GET (sendfile, ranges), DELETE."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.oci.context import digest_param, repository, services


async def head_blob(request: web.Request) -> web.StreamResponse:
    name, digest = repository(request), digest_param(request)
    size = await services(request).blobs.size(name, digest)
    response = web.StreamResponse(
        headers={
            "Docker-Content-Digest": str(digest),
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
    )
    response.content_length = size
    return response


async def get_blob(request: web.Request) -> web.StreamResponse:
    name, digest = repository(request), digest_param(request)
    oci = services(request)
    blob = await oci.blobs.open(name, digest)
    oci.metrics.blob_pulls.inc()
    # FileResponse answers Range requests (206/416) and uses sendfile on the default event loop.
    return web.FileResponse(
        blob.path,
        headers={
            "Docker-Content-Digest": str(digest),
            "Content-Type": "application/octet-stream",
            "Cache-Control": "max-age=31536000, immutable",
        },
    )


async def delete_blob(request: web.Request) -> web.Response:
    name, digest = repository(request), digest_param(request)
    await services(request).blobs.unlink(name, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
