"""Bodies of the storage-lifecycle endpoints: garbage collection, retention, image listing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from shipshape.api.manage.models import Duration, Query, RequestBody, Response
from shipshape.services.garbage import CollectionReport
from shipshape.services.inventory import ImageDeletion, ListedImage
from shipshape.services.retention import Candidate, RetentionReport


class GcRequest(RequestBody):
    dry_run: bool = Field(default=False, description="Only count what a run would delete")
    grace: Duration | None = Field(
        default=None, description="Keep what became unreferenced less than this long ago (default: the server's, 1h)"
    )


class GcReport(Response):
    dry_run: bool
    grace_seconds: int
    links_dropped: int = Field(description="Blob links no manifest referenced (dry run: that would be dropped)")
    blobs_deleted: int = Field(description="Blobs whose bytes were deleted (dry run: that would be)")
    bytes_freed: int
    uploads_deleted: int = Field(description="Upload files no upload session knew")
    started_at: datetime
    finished_at: datetime

    @classmethod
    def of(cls, report: CollectionReport) -> GcReport:
        return cls(
            dry_run=report.dry_run,
            grace_seconds=int(report.grace.total_seconds()),
            links_dropped=report.links_dropped,
            blobs_deleted=report.blobs_deleted,
            bytes_freed=report.bytes_freed,
            uploads_deleted=report.uploads_deleted,
            started_at=report.started_at,
            finished_at=report.finished_at,
        )


class ImageListQuery(Query):
    repository: str | None = Field(
        default=None, min_length=1, max_length=255, description="Only this repository of the registry, e.g. web/api"
    )


class ImageSummaryOut(Response):
    repository: str = Field(description="The full path, registry/repository")
    digest: str
    media_type: str
    tags: list[str]
    size: int = Field(description="Bytes: config and layers; for an index, the distinct blobs of its images")
    pushed: datetime = Field(description="When it arrived in the repository, or was last tagged if later")
    last_pulled: datetime | None
    pull_count: int

    @classmethod
    def of(cls, listed: ListedImage) -> ImageSummaryOut:
        image = listed.image
        return cls(
            repository=image.repository,
            digest=image.digest,
            media_type=image.media_type,
            tags=list(image.tags),
            size=listed.size,
            pushed=image.last_pushed_at,
            last_pulled=image.last_pulled_at,
            pull_count=image.pull_count,
        )


class ImageSummaryList(Response):
    images: list[ImageSummaryOut]


class ImageDeleteQuery(Query):
    reference: str = Field(min_length=3, max_length=512, description="registry/repository:tag or …@sha256:…")


class ImageDeletionOut(Response):
    repository: str
    digest: str
    tags_removed: list[str]
    manifest_deleted: bool = Field(
        description="False when only the tag went (the image has other tags, or an index lists it)"
    )
    note: str | None

    @classmethod
    def of(cls, deletion: ImageDeletion) -> ImageDeletionOut:
        return cls(
            repository=deletion.repository,
            digest=deletion.digest,
            tags_removed=list(deletion.tags_removed),
            manifest_deleted=deletion.manifest_deleted,
            note=deletion.note,
        )


MAX_RETENTION_DOCUMENT = 64 * 1024


class RetentionSet(RequestBody):
    document: str | None = Field(
        default=None, max_length=MAX_RETENTION_DOCUMENT, description="The rules as YAML or JSON text"
    )
    preset: bool = Field(default=False, description="Use the registry environment's preset rules instead")


class RetentionOut(Response):
    registry: str
    environment: str
    rules: dict[str, Any] | None = Field(description="The rules in their canonical form; null: none, nothing expires")
    yaml: str | None = Field(description="The same rules as YAML, ready to edit and set again")


class CandidateOut(Response):
    repository: str
    digest: str
    tags: list[str]
    size: int = Field(description="Bytes the image references (config and layers)")
    rule: str = Field(description="The expire rule that selected it")
    reason: str


class KeptOut(Response):
    repository: str
    digest: str
    tags: list[str]
    rule: str = Field(description="The expire rule that selected it")
    reason: str = Field(description="What keeps it: a keep rule, a recent pull, an immutable tag, its index")


class RetentionReportOut(Response):
    registry: str
    ran: bool = Field(description="False for a preview")
    candidates: list[CandidateOut] = Field(description="What the run deleted (preview: would delete), in order")
    bytes: int = Field(description="Bytes freed once garbage collection runs (blobs nothing else references)")
    kept: list[KeptOut]
    skipped: list[CandidateOut] = Field(description="Of a run: planned but changed meanwhile, left alone")
    at: datetime | None

    @classmethod
    def of(cls, report: RetentionReport) -> RetentionReportOut:
        def candidate(found: Candidate) -> CandidateOut:
            return CandidateOut(
                repository=found.repository, digest=found.digest, tags=list(found.tags), size=found.size,
                rule=found.rule, reason=found.reason,
            )  # fmt: skip

        return cls(
            registry=report.registry,
            ran=report.ran,
            candidates=[candidate(found) for found in report.candidates],
            bytes=report.bytes,
            kept=[
                KeptOut(repository=k.repository, digest=k.digest, tags=list(k.tags), rule=k.rule, reason=k.reason)
                for k in report.kept
            ],
            skipped=[candidate(found) for found in report.skipped],
            at=report.at,
        )
