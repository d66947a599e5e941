"""`/v2/<name>/blobs/<digest>`: HEAD, GET (sendfile or streamed from an object store, ranges, redirects), DELETE."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.oci.context import digest_param, repository, services
from shipshape.domain.digests import Digest
from shipshape.domain.errors import BlobUnknown, DigestInvalid
from shipshape.ports import LocalFile, RemoteBlob

BLOB_HEADERS = {"Content-Type": "application/octet-stream", "Cache-Control": "max-age=31536000, immutable"}


async def head_blob(request: web.Request) -> web.StreamResponse:
    name, digest = repository(request), _digest_to_read(request)
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
    name, digest = repository(request), _digest_to_read(request)
    oci = services(request)
    blob = await oci.blobs.open(name, digest)
    oci.metrics.blob_pulls.inc()
    headers = {"Docker-Content-Digest": str(digest), **BLOB_HEADERS}
    if isinstance(blob, LocalFile):
        # FileResponse answers Range requests (206/416) and uses sendfile on the default event loop.
        return web.FileResponse(blob.path, headers=headers)
    if blob.redirect_url is not None:
        raise web.HTTPTemporaryRedirect(blob.redirect_url, headers={"Docker-Content-Digest": str(digest)})
    return await _stream(request, blob, headers)


def _digest_to_read(request: web.Request) -> Digest:
    """The digest of a GET or HEAD. One that is not a valid digest names no blob: the spec allows these requests
    only 404 as a failure (a DELETE of it is refused as DIGEST_INVALID instead)."""
    try:
        return digest_param(request)
    except DigestInvalid as error:
        raise BlobUnknown(f"no blob {request.match_info['digest']!r}: {error.message}") from None


async def _stream(request: web.Request, blob: RemoteBlob, headers: dict[str, str]) -> web.StreamResponse:
    """Send the blob, or the one byte range asked for (206; 416 when it is outside the blob)."""
    start, end = 0, blob.size
    try:
        asked = request.http_range
    except ValueError:
        asked = slice(None, None)  # an unreadable Range is ignored, as for a file: the whole blob
    if asked.start is not None or asked.stop is not None:
        start, end = _bounds(asked, blob.size)
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
    response = web.StreamResponse(status=206 if "Content-Range" in headers else 200, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = end - start
    await response.prepare(request)
    async for chunk in blob.read(start, end):
        await response.write(chunk)
    await response.write_eof()
    return response


def _bounds(asked: slice, size: int) -> tuple[int, int]:
    """[start, end) of a Range (`bytes=a-b`, `bytes=a-`, `bytes=-n`) within a blob of `size` bytes."""
    start, stop = asked.start, asked.stop
    if start is not None and start < 0:  # the last -start bytes
        start, stop = max(size + start, 0), size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or stop <= start:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, stop


async def delete_blob(request: web.Request) -> web.Response:
    name, digest = repository(request), digest_param(request)
    await services(request).blobs.unlink(name, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
