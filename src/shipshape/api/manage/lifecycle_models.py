"""Bodies of the storage-lifecycle endpoints: garbage collection, retention, image listing."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shipshape.api.manage.models import Duration, RequestBody, Response
from shipshape.services.garbage import CollectionReport


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
