"""`SqlMetadataStore`: the `MetadataStore` port on SQLite or PostgreSQL, with blocking SQL kept off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError

from shipshape.domain.manifests import Manifest
from shipshape.domain.names import Reference
from shipshape.domain.records import PromotedImage, Provenance, PullTally, StoredManifest, UploadSession
from shipshape.metadata import (
    blob_links,
    images,
    manifests,
    promotions,
    pulls,
    records,
    registries,
    repositories,
    tags,
    uploads,
)
from shipshape.metadata.database import Database, open_database
from shipshape.metadata.engine import database_url, is_sqlite_busy, require_aware, run_query, sqlite_engine
from shipshape.metadata.hot_reads import HotReads
from shipshape.metadata.prepared import ConnectionPerThread
from shipshape.ports import Alongside, Clock, ImageRecord, ManifestDeleteGuard, TaggingGuard, TagMoveGuard

T = TypeVar("T")

# How long a read on the event loop may wait for a SQLite lock before it retries on a thread. In WAL mode readers
# wait only in rare moments (crash recovery, the last connection closing), so this is a guard, not a tuning knob.
_LOOP_READ_BUSY_TIMEOUT_MS = 20


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SqlMetadataStore:
    """Everything the registry records in SQL.

    Writes go through `database`'s writer, off the event loop. Reads run on the event loop itself when
    `loop_reader` is given (SQLite: a local read is cheaper than the hop to a thread), else on `database`'s
    threads. The reads of every pull skip SQLAlchemy's per-call work (see `prepared`).
    """

    def __init__(self, database: Database, *, loop_reader: Engine | None, clock: Clock) -> None:
        self._database = database
        self._reader = database.reader
        self._reads = database.reads
        self._loop_reader = loop_reader
        self._hot = HotReads(database.reader.dialect)
        self._thread_connections = ConnectionPerThread(database.reader)
        self._loop_connections = ConnectionPerThread(loop_reader) if loop_reader is not None else None
        self._clock = clock

    # BlobIndex

    async def linked_blob_size(self, repository: str, digest: str) -> int | None:
        return await self._hot_read(lambda connection: self._hot.linked_blob_size(connection, repository, digest))

    async def repositories_with_blob(self, digest: str, limit: int = 100) -> list[str]:
        return await self._read(lambda connection: blob_links.repositories_with(connection, digest, limit))

    async def link_blob(
        self, repository: str, digest: str, size: int, commit: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        now = self._clock.now()
        on_loop = self._on_loop(commit) if commit is not None else None
        await self._write(lambda connection: blob_links.link(connection, repository, digest, size, now, on_loop))

    async def link_stored_blob(self, repository: str, digest: str) -> None:
        now = self._clock.now()
        await self._write(lambda connection: blob_links.link_stored(connection, repository, digest, now))

    async def unlink_blob(self, repository: str, digest: str) -> None:
        await self._write(lambda connection: blob_links.unlink(connection, repository, digest))

    # ManifestIndex

    async def put_manifest(
        self,
        repository: str,
        manifest: Manifest,
        tag: str | None,
        now: datetime,
        provenance: Provenance | None = None,
        may_move_tag: TagMoveGuard | None = None,
        may_tag: TaggingGuard | None = None,
        alongside: Alongside | None = None,
        registry: str | None = None,
    ) -> None:
        require_aware(now)

        def change(connection: Connection) -> None:
            if registry is not None:
                registries.require_present(connection, registry)
            manifests.put(connection, repository, manifest, tag, now, provenance, may_move_tag, may_tag)
            if alongside is not None:
                records.write(connection, alongside)

        await self._write(change)

    async def get_manifest(self, repository: str, reference: Reference) -> StoredManifest | None:
        return await self._hot_read(lambda connection: self._hot.manifest(connection, repository, reference))

    async def delete_manifest(
        self, repository: str, digest: str, may_delete: ManifestDeleteGuard | None = None
    ) -> None:
        await self._write(lambda connection: manifests.remove(connection, repository, digest, may_delete))

    async def delete_tag(self, repository: str, tag: str) -> None:
        await self._write(lambda connection: tags.remove(connection, repository, tag))

    # PromotionIndex

    async def promote(
        self,
        source: str,
        digest: str,
        target: str,
        tag: str | None,
        now: datetime,
        provenance: Provenance,
        may_move_tag: TagMoveGuard | None = None,
    ) -> PromotedImage:
        require_aware(now)
        return await self._write(
            lambda connection: promotions.promote(
                connection, source, digest, target, tag, now, provenance, may_move_tag
            )
        )

    # PullLog

    async def record_pulls(self, tallies: Sequence[PullTally]) -> int:
        for tally in tallies:
            require_aware(tally.last_pulled_at)
        return await self._write(lambda connection: pulls.record(connection, tallies))

    # ImageRecords

    async def image_record(self, repository: str, reference: Reference) -> ImageRecord | None:
        return await self._read(lambda connection: images.record(connection, repository, reference))

    async def child_manifests(self, repository: str, digest: str) -> list[StoredManifest]:
        return await self._read(lambda connection: images.children(connection, repository, digest))

    async def repository_exists(self, repository: str) -> bool:
        return await self._read(lambda connection: repositories.holds_content(connection, repository))

    async def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        return await self._read(
            lambda connection: tags.list_names(connection, repository, last, limit), on_loop=limit is not None
        )

    async def list_repositories(self, last: str | None, limit: int) -> list[str]:
        return await self._read(lambda connection: repositories.list_names(connection, last, limit))

    async def referrers(self, repository: str, subject: str) -> list[StoredManifest]:
        return await self._read(lambda connection: manifests.referrers(connection, repository, subject))

    # UploadIndex

    async def create_upload(self, session: UploadSession) -> None:
        require_aware(session.created_at)
        require_aware(session.updated_at)
        await self._write(lambda connection: uploads.create(connection, session))

    async def get_upload(self, repository: str, upload_id: str) -> UploadSession | None:
        return await self._read(lambda connection: uploads.get(connection, repository, upload_id))

    async def touch_upload(self, upload_id: str, now: datetime) -> None:
        require_aware(now)
        await self._write(lambda connection: uploads.touch(connection, upload_id, now))

    async def delete_upload(self, upload_id: str) -> None:
        await self._write(lambda connection: uploads.remove(connection, upload_id))

    async def uploads_idle_since(self, before: datetime, limit: int = 1000) -> list[UploadSession]:
        require_aware(before)
        return await self._read(lambda connection: uploads.idle_since(connection, before, limit), on_loop=False)

    # For the stores that share this one's connections (`lifecycle_store`)

    async def read(self, query: Callable[[Connection], T]) -> T:
        """`query` on a reader connection, off the event loop."""
        return await self._read(query, on_loop=False)

    async def write(self, change: Callable[[Connection], T]) -> T:
        """`change` in one write transaction, off the event loop."""
        return await self._write(change)

    def blocking(self, work: Callable[[], Awaitable[T]]) -> Callable[[], T]:
        """`work` as a blocking call for use inside `write`'s transaction (run on this loop, waited for)."""
        return self._on_loop(work)

    async def close(self) -> None:
        """Give back this store's connections and its share of the database (the last share closes it)."""
        await asyncio.to_thread(self._close)
        await self._database.close()

    def _close(self) -> None:
        # The database's read threads may still run a query on a kept connection: let them finish first.
        self._thread_connections.close()
        if self._loop_connections is not None:
            self._loop_connections.close()
        if self._loop_reader is not None:
            self._loop_reader.dispose()

    async def _read(self, query: Callable[[Connection], T], *, on_loop: bool = True) -> T:
        # `on_loop=False` for reads whose size has no bound (all tags) or that no request waits for.
        if on_loop and self._loop_reader is not None:
            try:
                return run_query(self._loop_reader, query)
            except DBAPIError as error:
                if not is_sqlite_busy(error):
                    raise
        return await asyncio.get_running_loop().run_in_executor(self._reads, run_query, self._reader, query)

    async def _hot_read(self, query: Callable[[DBAPIConnection], T]) -> T:
        if self._loop_connections is not None:
            try:
                return self._loop_connections.run(query)
            except (sqlite3.OperationalError, DBAPIError) as error:
                if not is_sqlite_busy(error):
                    raise
        return await asyncio.get_running_loop().run_in_executor(self._reads, self._thread_connections.run, query)

    def _on_loop(self, work: Callable[[], Awaitable[T]]) -> Callable[[], T]:
        """`work` as a blocking call for a transaction in a writer thread: run on this event loop, waited for."""
        loop = asyncio.get_running_loop()

        def blocking() -> T:
            return asyncio.run_coroutine_threadsafe(_awaited(work), loop).result()

        return blocking

    async def _write(self, change: Callable[[Connection], T]) -> T:
        return await self._database.write(change)


async def _awaited(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def open_metadata_store(
    url: str,
    *,
    clock: Clock | None = None,
    threads: int = 4,
    loop_reads: bool | None = None,
    database: Database | None = None,
) -> SqlMetadataStore:
    """A store on `url` (`sqlite:///path` or `postgresql://…`) whose schema `migrate(url)` has created, on
    `database`'s connections when given (the server's, shared by all its stores), else on its own with `threads`
    threads.

    SQLite reads run on the event loop unless `loop_reads` is False (a manifest read there costs ~25 µs, a
    third of the hop to a thread).
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        if loop_reads:
            raise ValueError("PostgreSQL reads cannot run on the event loop: they wait on the network")
        loop_reads = False
    elif loop_reads is None:
        loop_reads = True
    shared = (database or open_database(url, threads=threads)).share()
    loop_reader = (
        sqlite_engine(parsed, begin=None, busy_timeout_ms=_LOOP_READ_BUSY_TIMEOUT_MS, pool_size=2)
        if loop_reads
        else None
    )
    return SqlMetadataStore(shared, loop_reader=loop_reader, clock=clock or _UtcClock())
