"""`/api/v1/images`: show an image to anyone who may pull it, members and machine credentials alike."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.manage.context import PRINCIPAL, services
from shipshape.api.manage.errors import error_response
from shipshape.api.manage.image_models import (
    BlobOut,
    ChildImageOut,
    ImageOut,
    ImageQuery,
    PlatformOut,
    ProvenanceOut,
    PullOut,
    ReferrerOut,
    TraceabilityOut,
)
from shipshape.api.manage.wire import read_query, respond
from shipshape.domain.manifests import Descriptor
from shipshape.services.images import ChildImage, ImageDetails


async def show_image(request: web.Request) -> web.Response:
    query = read_query(request, ImageQuery)
    images = services(request).images
    if images is None:
        return error_response("UNAVAILABLE", 503, "showing images is not available on this server")
    return respond(image_out(await images.show(request[PRINCIPAL], query.reference)))


def image_out(image: ImageDetails) -> ImageOut:
    manifest, provenance = image.manifest, image.provenance
    return ImageOut(
        repository=image.repository,
        digest=manifest.digest,
        media_type=manifest.media_type,
        artifact_type=manifest.artifact_type,
        tags=list(image.tags),
        created_at=manifest.created_at,
        provenance=ProvenanceOut(
            via=provenance.via.value,
            by=provenance.actor,
            credential=provenance.credential,
            promoted_from=provenance.promoted_from,
            built_by_ci=provenance.built_by_ci,
        ),
        traceability=TraceabilityOut(**image.traceability),
        annotations=dict(manifest.annotations),
        labels=dict(image.labels),
        config=_blob(image.config) if image.config is not None else None,
        layers=[_blob(layer) for layer in image.layers],
        manifests=[_child(child) for child in image.children],
        size=image.size,
        referrers=[ReferrerOut(digest=r.digest, artifact_type=r.artifact_type) for r in image.referrers],
        last_pulled=image.pulls.last_pulled_at,
        pull_count=image.pulls.count,
        pulls=[PullOut(puller=p.puller, count=p.count, last_pulled=p.last_pulled_at) for p in image.pulls.by],
    )


def _blob(descriptor: Descriptor) -> BlobOut:
    return BlobOut(digest=descriptor.digest, media_type=descriptor.media_type, size=descriptor.size)


def _child(child: ChildImage) -> ChildImageOut:
    platform = child.platform
    return ChildImageOut(
        digest=child.digest,
        media_type=child.media_type,
        platform=(
            PlatformOut(os=platform.os, architecture=platform.architecture, variant=platform.variant)
            if platform is not None
            else None
        ),
        size=child.size,
    )
