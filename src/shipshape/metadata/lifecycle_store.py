"""`SqlLifecycleStore`: garbage collection, the inventory retention and listings read, and job leases, on the
metadata store's connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import Connection

from shipshape.domain.records import StoredImage
from shipshape.metadata import garbage, inventory, leases
from shipshape.metadata.engine import require_aware
from shipshape.metadata.garbage import Link
from shipshape.metadata.store import SqlMetadataStore


class SqlLifecycleStore:
    """What garbage collection reads and changes, and the leases that keep a job to one process at a time."""

    def __init__(self, database: SqlMetadataStore) -> None:
        self._database = database

    # Garbage collection

    async def unreferenced_links(self, before: datetime, after: Link | None, limit: int) -> list[Link]:
        require_aware(before)
        return await self._database.read(lambda c: garbage.unreferenced_links(c, before, after, limit))

    async def drop_unreferenced_links(self, links: Sequence[Link], before: datetime) -> int:
        return await self._database.write(lambda c: garbage.drop_unreferenced_links(c, links, before))

    async def unlinked_blobs(self, after: str | None, limit: int) -> list[tuple[str, int]]:
        return await self._database.read(lambda c: garbage.unlinked_blobs(c, after, limit))

    async def mark_unlinked_blobs(self, digests: Sequence[str]) -> list[str]:
        return await self._database.write(lambda c: garbage.mark_unlinked_blobs(c, digests))

    async def deleting_blobs(self, after: str | None, limit: int) -> list[tuple[str, int]]:
        return await self._database.read(lambda c: garbage.deleting_blobs(c, after, limit))

    async def forget_blobs(self, digests: Sequence[str], delete_bytes: Callable[[str], Awaitable[None]]) -> list[str]:
        """Delete the bytes and rows of those of `digests` still marked `deleting`, in one transaction."""

        # Made here, on the event loop, which they run on from the writer thread.
        removers = {digest: self._database.blocking(partial(delete_bytes, digest)) for digest in digests}

        def change(connection: Connection) -> list[str]:
            return [digest for digest in digests if garbage.forget_blob(connection, digest, removers[digest])]

        return await self._database.write(change)

    async def adopt_orphans(self, found: Sequence[tuple[str, int]], now: datetime) -> list[str]:
        require_aware(now)
        return await self._database.write(lambda c: garbage.adopt_orphans(c, found, now))

    async def known_blobs(self, digests: Sequence[str]) -> set[str]:
        return await self._database.read(lambda c: garbage.known_blobs(c, digests))

    async def known_uploads(self, upload_ids: Sequence[str]) -> set[str]:
        return await self._database.read(lambda c: garbage.known_uploads(c, upload_ids))

    async def collectable(self, before: datetime) -> tuple[int, int]:
        require_aware(before)
        return await self._database.read(lambda c: garbage.collectable(c, before))

    # Inventory

    async def images(self, registry: str, repository: str | None = None) -> list[StoredImage]:
        return await self._database.read(lambda c: inventory.images(c, registry, repository))

    async def blobs_referenced_outside(self, registry: str, digests: Sequence[str]) -> set[str]:
        return await self._database.read(lambda c: inventory.blobs_referenced_outside(c, registry, list(digests)))

    # Job leases

    async def acquire_lease(self, job: str, holder: str, now: datetime, until: datetime) -> bool:
        require_aware(now)
        require_aware(until)
        return await self._database.write(lambda c: leases.acquire(c, job, holder, now, until))

    async def renew_lease(self, job: str, holder: str, until: datetime) -> bool:
        require_aware(until)
        return await self._database.write(lambda c: leases.renew(c, job, holder, until))

    async def take_over_lease(self, job: str, old_holder: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take the lease from `old_holder` (a process known to be gone) if it still holds it."""
        require_aware(now)
        require_aware(until)
        return await self._database.write(lambda c: leases.take_over(c, job, old_holder, holder, now, until))

    async def release_lease(self, job: str, holder: str) -> None:
        await self._database.write(lambda c: leases.release(c, job, holder))

    async def lease_holder(self, job: str, now: datetime) -> tuple[str, datetime] | None:
        require_aware(now)
        return await self._database.read(lambda c: leases.holder_of(c, job, now))
