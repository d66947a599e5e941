"""`/v2/<name>/blobs/uploads/`: start (or mount, or monolithic), PATCH chunks, PUT to finish, status, cancel."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.oci.access import caller_of, pull_check
from shipshape.api.oci.context import body_chunks, byte_range, repository, services
from shipshape.domain.digests import Digest
from shipshape.domain.errors import DigestInvalid
from shipshape.domain.names import validate_name
from shipshape.services.uploads import parse_content_range


def _blob_created(name: str, digest: Digest) -> web.Response:
    return web.Response(
        status=201,
        headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)},
    )


def _upload_progress(name: str, upload_id: str, size: int, status: int) -> web.Response:
    return web.Response(
        status=status,
        headers={
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": byte_range(size),
            "Docker-Upload-UUID": upload_id,
        },
    )


async def start_upload(request: web.Request) -> web.Response:
    name = repository(request)
    oci = services(request)
    await oci.manifests.require_creator(name, caller_of(request).principal)
    query = request.query
    if "mount" in query:
        source = validate_name(query["from"]) if "from" in query else None
        digest = Digest.parse(query["mount"])
        # A mount needs pull rights on the source; without them it falls back to a plain upload, which tells the
        # caller nothing about what the source holds.
        if await oci.uploads.mount(name, digest, source, may_pull=pull_check(request)):
            oci.metrics.blob_mounts.inc()
            return _blob_created(name, digest)
    elif "digest" in query:
        digest = Digest.parse(query["digest"])
        await oci.uploads.upload_whole(name, digest, body_chunks(request, oci.metrics))
        oci.metrics.blob_uploads.inc()
        return _blob_created(name, digest)
    session = await oci.uploads.start(name)
    return _upload_progress(name, session.id, 0, 202)


async def patch_upload(request: web.Request) -> web.Response:
    name, upload_id = repository(request), request.match_info["upload_id"]
    oci = services(request)
    claimed = parse_content_range(request.headers.get("Content-Range"), request.content_length)
    size = await oci.uploads.append(name, upload_id, body_chunks(request, oci.metrics), claimed)
    return _upload_progress(name, upload_id, size, 202)


async def finish_upload(request: web.Request) -> web.Response:
    name, upload_id = repository(request), request.match_info["upload_id"]
    oci = services(request)
    if "digest" not in request.query:
        await oci.uploads.size(name, upload_id)  # an unknown upload is reported as such first
        raise DigestInvalid("finishing an upload needs ?digest=<algorithm:hex> of the whole blob")
    digest = Digest.parse(request.query["digest"])
    body = body_chunks(request, oci.metrics) if request.body_exists else None
    await oci.uploads.finish(name, upload_id, digest, body)
    oci.metrics.blob_uploads.inc()
    return _blob_created(name, digest)


async def upload_status(request: web.Request) -> web.Response:
    name, upload_id = repository(request), request.match_info["upload_id"]
    size = await services(request).uploads.size(name, upload_id)
    return _upload_progress(name, upload_id, size, 204)


async def cancel_upload(request: web.Request) -> web.Response:
    name, upload_id = repository(request), request.match_info["upload_id"]
    await services(request).uploads.cancel(name, upload_id)
    return web.Response(status=204)
