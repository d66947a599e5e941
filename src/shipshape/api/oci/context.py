"""What the OCI handlers need from the composition root, as typed application state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from shipshape.api.metrics import RegistryMetrics
from shipshape.domain.digests import Digest
from shipshape.domain.names import validate_name
from shipshape.services.blobs import BlobService
from shipshape.services.manifests import ManifestService
from shipshape.services.pulls import PullRecorder
from shipshape.services.uploads import UploadService

BODY_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class OciServices:
    uploads: UploadService
    blobs: BlobService
    manifests: ManifestService
    metrics: RegistryMetrics
    pulls: PullRecorder | None = None  # None: pull tracking is off


SERVICES = web.AppKey("oci_services", OciServices)


def services(request: web.Request) -> OciServices:
    return request.app[SERVICES]


def repository(request: web.Request) -> str:
    return validate_name(request.match_info["name"])


def digest_param(request: web.Request, key: str = "digest") -> Digest:
    return Digest.parse(request.match_info[key])


async def body_chunks(request: web.Request, metrics: RegistryMetrics) -> AsyncIterator[bytes]:
    """The request body as it arrives, counted into the bytes-in metric."""
    async for chunk in request.content.iter_chunked(BODY_CHUNK):
        metrics.bytes_in.inc(len(chunk))
        yield chunk


def byte_range(size: int) -> str:
    """The `Range` header of an upload holding `size` bytes (`0-0` when empty, as Distribution answers)."""
    return f"0-{max(size - 1, 0)}"
