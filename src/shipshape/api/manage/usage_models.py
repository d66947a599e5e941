"""Wire models of `/api/v1/usage`."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from shipshape.api.manage.models import Query, Response
from shipshape.domain.usage import UsageSnapshot
from shipshape.services.usage import Growth, ImageUsage, LayerUsage, ScopeUsage, UsageReport


class UsageQuery(Query):
    account: str | None = Field(default=None, max_length=255, description="Default: the caller's account")
    registry: str | None = Field(default=None, max_length=255, description="Only this registry")
    unpulled_days: int = Field(default=30, ge=0, le=36500, description="List images not pulled for this many days")
    top: int = Field(default=10, ge=1, le=1000, description="How many of the largest images, layers, growths")


class ScopeUsageOut(Response):
    name: str
    bytes: int
    blobs: int
    manifests: int

    @classmethod
    def of(cls, scope: ScopeUsage) -> ScopeUsageOut:
        return cls(name=scope.name, bytes=scope.bytes, blobs=scope.blobs, manifests=scope.manifests)


class ImageUsageOut(Response):
    repository: str
    digest: str
    tags: list[str]
    size: int = Field(description="Bytes of its config and layers")
    pushed: datetime
    last_pulled: datetime | None

    @classmethod
    def of(cls, image: ImageUsage) -> ImageUsageOut:
        return cls(
            repository=image.repository,
            digest=image.digest,
            tags=list(image.tags),
            size=image.size,
            pushed=image.pushed_at,
            last_pulled=image.last_pulled_at,
        )


class LayerUsageOut(Response):
    digest: str
    size: int
    repositories: list[str]

    @classmethod
    def of(cls, layer: LayerUsage) -> LayerUsageOut:
        return cls(digest=layer.digest, size=layer.size, repositories=list(layer.repositories))


class GrowthOut(Response):
    repository: str
    tag: str
    digest: str
    size: int
    previous_tag: str
    previous_digest: str
    previous_size: int
    grew_by: int

    @classmethod
    def of(cls, growth: Growth) -> GrowthOut:
        image, previous = growth.image, growth.previous
        return cls(
            repository=image.repository,
            tag=image.tags[0] if image.tags else "",
            digest=image.digest,
            size=image.size,
            previous_tag=previous.tags[0] if previous.tags else "",
            previous_digest=previous.digest,
            previous_size=previous.size,
            grew_by=growth.grew_by,
        )


class SnapshotOut(Response):
    day: date
    bytes: int

    @classmethod
    def of(cls, snapshot: UsageSnapshot) -> SnapshotOut:
        return cls(day=snapshot.day, bytes=snapshot.bytes)


class UsageOut(Response):
    account: str
    registry: str | None = Field(description="The registry reported on; null: the whole account")
    quota_bytes: int
    used_bytes: int = Field(description="What counts against the quota: the account's distinct blobs and manifests")
    percent: int = Field(description="used_bytes as a whole percent of quota_bytes")
    bytes: int = Field(description="The scope's bytes (the registry's, or the account's)")
    blobs: int
    manifests: int
    registries: list[ScopeUsageOut]
    repositories: list[ScopeUsageOut] = Field(description="Every repository, largest first")
    largest_images: list[ImageUsageOut]
    largest_layers: list[LayerUsageOut]
    unpulled_days: int
    unpulled: list[ImageUsageOut] = Field(description="Images not pulled (nor pushed) for unpulled_days")
    growth: list[GrowthOut] = Field(description="Images larger than the image tagged before them, most growth first")
    history: list[SnapshotOut] = Field(description="One snapshot per day, the last 30 days")
    at: datetime

    @classmethod
    def of(cls, report: UsageReport) -> UsageOut:
        return cls(
            account=report.account.name,
            registry=report.registry,
            quota_bytes=report.account.quota_bytes,
            used_bytes=report.account_bytes,
            percent=report.percent,
            bytes=report.used.bytes,
            blobs=report.used.blobs,
            manifests=report.used.manifests,
            registries=[ScopeUsageOut.of(scope) for scope in report.registries],
            repositories=[ScopeUsageOut.of(scope) for scope in report.repositories],
            largest_images=[ImageUsageOut.of(image) for image in report.largest_images],
            largest_layers=[LayerUsageOut.of(layer) for layer in report.largest_layers],
            unpulled_days=report.unpulled_days,
            unpulled=[ImageUsageOut.of(image) for image in report.unpulled],
            growth=[GrowthOut.of(growth) for growth in report.growth],
            history=[SnapshotOut.of(snapshot) for snapshot in report.history],
            at=report.at,
        )
