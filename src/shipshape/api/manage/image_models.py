"""The management API's image bodies: promoting an image, and showing one with its provenance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from shipshape.api.manage.models import Query, RequestBody, Response
from shipshape.services.promotion import Promotion

ImageReference = Annotated[str, Field(min_length=3, max_length=512)]


class PromotionCreate(RequestBody):
    source: ImageReference = Field(description="registry/repository:tag or registry/repository@sha256:…")
    target: ImageReference = Field(description="registry/repository[:tag]; the tag defaults to the source's")


class PromotionOut(Response):
    source: str = Field(description="The source, by digest")
    target: str
    digest: str
    tag: str | None
    manifests: int = Field(description="Manifests promoted: the image, an index's images, referrers")
    blobs: int = Field(description="Blobs linked into the target repository; none is copied")

    @classmethod
    def of(cls, promotion: Promotion) -> PromotionOut:
        image = promotion.image
        return cls(
            source=promotion.source,
            target=promotion.target,
            digest=image.digest,
            tag=promotion.tag,
            manifests=image.manifests,
            blobs=image.blobs,
        )


class ImageQuery(Query):
    reference: ImageReference = Field(description="registry/repository:tag or registry/repository@sha256:…")


class ProvenanceOut(Response):
    via: str = Field(description="How it arrived in the repository", json_schema_extra={"enum": ["push", "promotion"]})
    by: str | None = Field(description="The member or credential that pushed or promoted it (None: auth was off)")
    credential: str | None = Field(description="The credential, when a machine acted")
    promoted_from: str | None = Field(description="registry/repository@digest, for a promotion")
    built_by_ci: bool = Field(description="Pushed by a ci credential, or promoted from an image that was")


class TraceabilityOut(Response):
    """The org.opencontainers.image.* annotations (else config labels) that trace an image to its source."""

    revision: str | None
    source: str | None
    version: str | None
    created: str | None


class BlobOut(Response):
    digest: str
    media_type: str
    size: int = Field(description="Bytes, as the manifest describes the blob")


class PlatformOut(Response):
    os: str | None
    architecture: str | None
    variant: str | None


class ChildImageOut(Response):
    digest: str
    media_type: str
    platform: PlatformOut | None
    size: int | None = Field(description="Config and layers, in bytes; None when not stored or itself an index")


class ReferrerOut(Response):
    digest: str
    artifact_type: str | None


class PullOut(Response):
    puller: str = Field(description="The credential's or member's username, or anonymous")
    count: int
    last_pulled: datetime


class ImageOut(Response):
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None = Field(description="As the referrers API reports it (else the config's media type)")
    tags: list[str] = Field(description="The repository's tags pointing at this digest")
    created_at: datetime = Field(description="When the manifest arrived in the repository")
    provenance: ProvenanceOut
    traceability: TraceabilityOut
    annotations: dict[str, str] = Field(description="The manifest's annotations")
    labels: dict[str, str] = Field(description="The image config's config.Labels (string values)")
    config: BlobOut | None = Field(description="None for an index")
    layers: list[BlobOut]
    manifests: list[ChildImageOut] = Field(description="The manifests an index lists; empty for an image")
    size: int = Field(description="Bytes: config and layers; for an index, the distinct blobs of its images")
    referrers: list[ReferrerOut] = Field(description="Signatures, SBOMs and attestations attached to this digest")
    last_pulled: datetime | None = Field(description="When the manifest was last pulled (GET); None: never")
    pull_count: int = Field(description="How often it was pulled, in all")
    pulls: list[PullOut] = Field(description="Who pulled it (credentials, members, anonymous), most recent first")
