"""`/v2/<name>/manifests/<reference>`: GET and HEAD with content negotiation, PUT, DELETE."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.oci.access import audit_of_success, caller_of
from shipshape.api.oci.context import repository, services
from shipshape.domain.errors import DigestInvalid, ManifestTooLarge, ManifestUnknown, TagInvalid
from shipshape.domain.manifests import MAX_MANIFEST_BYTES
from shipshape.domain.names import Reference


async def get_manifest(request: web.Request) -> web.Response:
    name, reference = repository(request), _reference_to_read(request.match_info["reference"])
    oci = services(request)
    # Clients such as skopeo send one Accept header per media type: consider them all.
    accept = ",".join(request.headers.getall("Accept", [])) or None
    stored = await oci.manifests.pull(name, reference, accept)
    if request.method == "GET":
        oci.metrics.manifest_pulls.inc()
        if oci.pulls is not None:
            oci.pulls.record(name, stored.digest, caller_of(request).principal)
    # aiohttp sends the headers (Content-Length included) but no body for HEAD.
    return web.Response(
        body=stored.payload,
        headers={
            "Content-Type": stored.media_type,
            "Docker-Content-Digest": stored.digest,
            "ETag": f'"{stored.digest}"',
        },
    )


async def put_manifest(request: web.Request) -> web.Response:
    name, reference = repository(request), Reference.parse(request.match_info["reference"])
    oci = services(request)
    payload = await _read_manifest_body(request)
    oci.metrics.bytes_in.inc(len(payload))
    principal = caller_of(request).principal
    content_type = request.headers.get("Content-Type")
    audit = await audit_of_success(request)
    manifest = await oci.manifests.push(name, reference, payload, content_type, principal, audit)
    oci.metrics.manifest_pushes.inc()
    headers = {
        "Location": f"/v2/{name}/manifests/{manifest.digest}",
        "Docker-Content-Digest": str(manifest.digest),
    }
    if manifest.subject is not None:
        headers["OCI-Subject"] = manifest.subject.digest
    return web.Response(status=201, headers=headers)


async def delete_manifest(request: web.Request) -> web.Response:
    name, reference = repository(request), Reference.parse(request.match_info["reference"])
    await services(request).manifests.delete(name, reference, caller_of(request).principal)
    return web.Response(status=202)


def _reference_to_read(text: str) -> Reference:
    """The reference of a GET or HEAD. One that is neither a tag nor a digest names no manifest: the spec's answer
    is 404 MANIFEST_UNKNOWN (a PUT or DELETE of it is refused as invalid instead)."""
    try:
        return Reference.parse(text)
    except (TagInvalid, DigestInvalid) as error:
        raise ManifestUnknown(f"no manifest {text!r}: {error.message}") from None


async def _read_manifest_body(request: web.Request) -> bytes:
    too_large = ManifestTooLarge(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes (4 MiB), the limit")
    if request.content_length is not None and request.content_length > MAX_MANIFEST_BYTES:
        raise too_large
    payload = await request.content.read(MAX_MANIFEST_BYTES + 1)
    while len(payload) <= MAX_MANIFEST_BYTES and not request.content.at_eof():
        more = await request.content.read(MAX_MANIFEST_BYTES + 1 - len(payload))
        if not more:
            break
        payload += more
    if len(payload) > MAX_MANIFEST_BYTES:
        raise too_large
    return payload
