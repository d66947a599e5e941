"""Server maintenance on demand: garbage collection, run by a server administrator and audited."""

from __future__ import annotations

from datetime import timedelta

from shipshape.services import rights
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.garbage import CollectionReport, GarbageCollector


class Maintenance:
    def __init__(self, collector: GarbageCollector, audit: AuditLog) -> None:
        self._collector = collector
        self._audit = audit

    async def collect_garbage(
        self, actor: Actor, grace: timedelta | None = None, dry_run: bool = False
    ) -> CollectionReport:
        await self._audit.enforce(actor, rights.may_collect_garbage(actor.member), "gc.run", "server", None)
        report = await self._collector.collect(grace, dry_run)
        if not dry_run:
            await self._audit.record(
                actor, "gc.run", "server", account=None,
                detail={
                    "blobs_deleted": str(report.blobs_deleted),
                    "bytes_freed": str(report.bytes_freed),
                    "links_dropped": str(report.links_dropped),
                    "uploads_deleted": str(report.uploads_deleted),
                    "grace_seconds": str(int(report.grace.total_seconds())),
                },
            )  # fmt: skip
        return report
