"""`Database`: one process's connections to the metadata database, shared by every store.

Blocking SQL is kept off the event loop: reads run on a thread pool, writes through the group-committing thread
of `group_commit`. One per process, so that the stores' writes queue in one place instead of fighting over
SQLite's lock, and the process holds one set of connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine

from shipshape.metadata.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    database_url,
    postgres_engine,
    run_query,
    sqlite_engine,
)
from shipshape.metadata.group_commit import GroupCommitWriter

T = TypeVar("T")


class Writer(Protocol):
    async def write(self, change: Callable[[Connection], T]) -> T: ...

    def close(self) -> None: ...


class Database:
    """Queries on `reader` in a pool of `read_threads` threads, transactions through `writer`.

    Each store that uses it takes a share (`share`) and closes it when done; the close of the last share closes
    the connections, after the queries in flight have finished.
    """

    def __init__(self, *, writer: Writer, reader: Engine, read_threads: int) -> None:
        self.writer = writer
        self.reader = reader
        self.reads = ThreadPoolExecutor(read_threads, thread_name_prefix="metadata-read")
        self._shares = 0

    def share(self) -> Database:
        """This database for one more store, which will close it (its share) when done."""
        self._shares += 1
        return self

    async def read(self, query: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.reads, run_query, self.reader, query)

    async def write(self, change: Callable[[Connection], T]) -> T:
        return await self.writer.write(change)

    async def close(self) -> None:
        """Give back one share; the last one finishes the queries in flight, then closes every connection."""
        self._shares -= 1
        if self._shares == 0:
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self.writer.close()
        self.reads.shutdown(wait=True)
        self.reader.dispose()


def open_database(url: str, *, threads: int = 4) -> Database:
    """A database on `url` whose schema `migrate(url)` has created.

    One writer connection (on SQLite it waits for other programs' writers through SQLite's busy timeout) and, on
    PostgreSQL, up to `2 * threads` connections for reads.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        return Database(
            writer=GroupCommitWriter(postgres_engine(parsed, autocommit=False, pool_size=1, custom_plans=True), None),
            reader=postgres_engine(parsed, autocommit=True, pool_size=threads),
            read_threads=threads,
        )
    assert parsed.database is not None, "database_url refuses SQLite URLs without a file"
    writer = sqlite_engine(parsed, begin="BEGIN IMMEDIATE", busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=1)
    return Database(
        writer=GroupCommitWriter(writer, Path(parsed.database + "-writer.lock")),
        reader=sqlite_engine(parsed, begin=None, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=threads),
        read_threads=threads,
    )
