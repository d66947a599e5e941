"""Online garbage collection: the bytes nothing references go, while pushes and pulls go on (no read-only mode).

A run drops the links no manifest references that are older than the grace period (so a push in progress, whose
blobs arrive before its manifest, keeps them), then deletes the blobs no repository links, bytes first and row
last (`shipshape.metadata.garbage` says why that is safe against concurrent uploads and crashes). It also adopts
bytes that a crash left without a row, and deletes uploads no session knows. One run at a time across every
process: a job lease in the database.

A run works in batches and paces itself: after each batch it pauses `pace` times as long as the batch took (1: as
long), so that it takes at most about half of the time from the requests served meanwhile. A batch takes longer
when the server is busy, so the pauses grow with the load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from shipshape.domain.digests import Digest
from shipshape.domain.errors import DigestInvalid, JobBusy
from shipshape.ports import Clock, StoredBytes
from shipshape.services.jobs import acquire_lease, process_identity

log = logging.getLogger("shipshape.gc")

GC_JOB = "gc"
LEASE = timedelta(minutes=5)  # renewed after every batch; a crashed run's lease runs out after this
BATCH = 500
FORGET_BATCH = 50  # blobs whose bytes one transaction deletes (the write lock is held meanwhile)
PACE = 1.0  # pause after each batch, as a multiple of the batch's time
Link = tuple[int, str]


class GarbageStore(Protocol):
    """What a run reads and changes in the metadata (`shipshape.metadata.lifecycle_store`)."""

    async def unreferenced_links(self, before: datetime, after: Link | None, limit: int) -> list[Link]: ...

    async def drop_unreferenced_links(self, links: Sequence[Link], before: datetime) -> int: ...

    async def unlinked_blobs(self, after: str | None, limit: int) -> list[tuple[str, int]]: ...

    async def mark_unlinked_blobs(self, digests: Sequence[str]) -> list[str]: ...

    async def deleting_blobs(self, after: str | None, limit: int) -> list[tuple[str, int]]: ...

    async def forget_blobs(
        self, digests: Sequence[str], delete_bytes: Callable[[str], Awaitable[None]]
    ) -> list[str]: ...

    async def adopt_orphans(self, found: Sequence[tuple[str, int]], now: datetime) -> list[str]: ...

    async def known_blobs(self, digests: Sequence[str]) -> set[str]: ...

    async def known_uploads(self, upload_ids: Sequence[str]) -> set[str]: ...

    async def collectable(self, before: datetime) -> tuple[int, int]: ...

    async def acquire_lease(self, job: str, holder: str, now: datetime, until: datetime) -> bool: ...

    async def renew_lease(self, job: str, holder: str, until: datetime) -> bool: ...

    async def release_lease(self, job: str, holder: str) -> None: ...

    async def lease_holder(self, job: str, now: datetime) -> tuple[str, datetime] | None: ...

    async def take_over_lease(self, job: str, old_holder: str, holder: str, now: datetime, until: datetime) -> bool: ...


class CollectedBytes(Protocol):
    """The blob store, as garbage collection uses it."""

    async def delete_blob(self, digest: Digest) -> None: ...

    async def cancel_upload(self, upload_id: str) -> None: ...

    def list_blobs(self) -> AsyncIterator[list[StoredBytes]]: ...

    def list_uploads(self) -> AsyncIterator[list[StoredBytes]]: ...


@dataclass(frozen=True, slots=True)
class CollectionReport:
    """What a run deleted (or, dry, would delete)."""

    dry_run: bool
    grace: timedelta
    links_dropped: int
    blobs_deleted: int
    bytes_freed: int
    uploads_deleted: int
    started_at: datetime
    finished_at: datetime


class GarbageCollector:
    def __init__(
        self,
        store: GarbageStore,
        blobs: CollectedBytes,
        clock: Clock,
        grace: timedelta,
        holder: str | None = None,
        pace: float = PACE,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._clock = clock
        self._grace = grace
        self._holder = holder or process_identity()
        self._pace = pace
        self._batch_started = time.monotonic()
        # One run at a time in this process: the lease is held per process, so two runs here (a scheduled one and
        # one asked for) would share it, and the first to finish would release it under the other.
        self._running = asyncio.Lock()

    async def collect(self, grace: timedelta | None = None, dry_run: bool = False) -> CollectionReport:
        """One run; `JobBusy` if another process is running one."""
        grace = self._grace if grace is None else grace
        started = self._clock.now()
        before = started - grace
        if dry_run:
            return await self._preview(grace, before, started)
        async with self._running:
            if not await acquire_lease(self._store, GC_JOB, self._holder, started, started + LEASE):
                raise await self._busy()
            self._batch_started = time.monotonic()
            try:
                links = await self._drop_links(before)
                await self._adopt_orphans(before)
                blobs, freed = await self._delete_blobs()
                uploads = await self._delete_orphan_uploads(before)
            finally:
                await self._store.release_lease(GC_JOB, self._holder)
        report = CollectionReport(False, grace, links, blobs, freed, uploads, started, self._clock.now())
        if links or blobs or uploads:
            log.info(
                "garbage collected",
                extra={"links": links, "blobs": blobs, "bytes": freed, "uploads": uploads},
            )
        return report

    async def collect_if_free(self) -> int:
        """A scheduled run: nothing when another run (here or in another process) is going. Returns the blobs
        deleted."""
        if self._running.locked():
            return 0
        try:
            return (await self.collect()).blobs_deleted
        except JobBusy:
            return 0

    async def _busy(self) -> JobBusy:
        holder = await self._store.lease_holder(GC_JOB, self._clock.now())
        since = f" since {holder[1]:%Y-%m-%d %H:%M:%S} UTC by {holder[0]}" if holder is not None else ""
        return JobBusy(f"garbage collection is already running{since}: wait for it to finish, then run it again")

    async def _renew(self) -> None:
        """Between two batches: renew the lease, then pause (see the module)."""
        if not await self._store.renew_lease(GC_JOB, self._holder, self._clock.now() + LEASE):
            raise JobBusy("garbage collection lost its lease to another process: that one finishes the job")
        await self._pause()

    async def _pause(self) -> None:
        took = time.monotonic() - self._batch_started
        if self._pace > 0:
            await asyncio.sleep(took * self._pace)
        self._batch_started = time.monotonic()

    async def _drop_links(self, before: datetime) -> int:
        dropped, after = 0, None
        while links := await self._store.unreferenced_links(before, after, BATCH):
            dropped += await self._store.drop_unreferenced_links(links, before)
            after = links[-1]
            await self._renew()
        return dropped

    async def _adopt_orphans(self, before: datetime) -> None:
        async for batch in self._blobs.list_blobs():
            old = [(found.name, found.size) for found in batch if found.modified_at < before and _is_digest(found.name)]
            if not old:
                await self._pause()
                continue
            known = await self._store.known_blobs([digest for digest, _ in old])
            orphans = [(digest, size) for digest, size in old if digest not in known]
            if orphans:
                await self._store.adopt_orphans(orphans, self._clock.now())
                await self._renew()
            else:
                await self._pause()

    async def _delete_blobs(self) -> tuple[int, int]:
        after = None
        while unlinked := await self._store.unlinked_blobs(after, BATCH):
            await self._store.mark_unlinked_blobs([digest for digest, _ in unlinked])
            after = unlinked[-1][0]
            await self._renew()
        deleted, freed, after = 0, 0, None
        while marked := await self._store.deleting_blobs(after, FORGET_BATCH):
            sizes = dict(marked)
            forgotten = await self._store.forget_blobs(list(sizes), self._delete_bytes)
            deleted += len(forgotten)
            freed += sum(sizes[digest] for digest in forgotten)
            after = marked[-1][0]
            await self._renew()
        return deleted, freed

    async def _delete_bytes(self, digest: str) -> None:
        await self._blobs.delete_blob(Digest.parse(digest))

    async def _delete_orphan_uploads(self, before: datetime) -> int:
        deleted = 0
        async for batch in self._blobs.list_uploads():
            old = [found.name for found in batch if found.modified_at < before]
            known = await self._store.known_uploads(old) if old else set()
            for upload_id in old:
                if upload_id not in known:
                    await self._blobs.cancel_upload(upload_id)
                    deleted += 1
            await self._pause()
        return deleted

    async def _preview(self, grace: timedelta, before: datetime, started: datetime) -> CollectionReport:
        links, after = 0, None
        while page := await self._store.unreferenced_links(before, after, BATCH):
            links += len(page)
            after = page[-1]
        blobs, size = await self._store.collectable(before)
        async for batch in self._blobs.list_blobs():
            old = [(found.name, found.size) for found in batch if found.modified_at < before and _is_digest(found.name)]
            known = await self._store.known_blobs([digest for digest, _ in old]) if old else set()
            orphans = [found_size for digest, found_size in old if digest not in known]
            blobs, size = blobs + len(orphans), size + sum(orphans)
        uploads = 0
        async for found_uploads in self._blobs.list_uploads():
            old_ids = [found.name for found in found_uploads if found.modified_at < before]
            known_ids = await self._store.known_uploads(old_ids) if old_ids else set()
            uploads += len(set(old_ids) - known_ids)
        return CollectionReport(True, grace, links, blobs, size, uploads, started, self._clock.now())


def _is_digest(name: str) -> bool:
    try:
        Digest.parse(name)
    except DigestInvalid:
        return False
    return True
