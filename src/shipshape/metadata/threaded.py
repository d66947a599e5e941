"""Blocking SQL kept off the event loop: a writer and a reader engine, each with its own thread pool.

The access and webhook stores share this shape; `SqlMetadataStore` has its own (it reads SQLite inline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine

from shipshape.metadata.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    database_url,
    postgres_engine,
    run_query,
    run_transaction,
    sqlite_engine,
)

T = TypeVar("T")


class ThreadedDatabase:
    """Queries on `reader` and transactions on `writer`, each run in its own thread pool."""

    def __init__(self, *, writer: Engine, reader: Engine, write_threads: int, read_threads: int, name: str) -> None:
        self._writer = writer
        self._reader = reader
        self._writes = ThreadPoolExecutor(write_threads, thread_name_prefix=f"{name}-write")
        self._reads = ThreadPoolExecutor(read_threads, thread_name_prefix=f"{name}-read")

    async def read(self, query: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reads, run_query, self._reader, query)

    async def write(self, change: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writes, run_transaction, self._writer, change)

    async def close(self) -> None:
        """Finish the queries in flight, then close every connection."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._writes.shutdown(wait=True)
        self._reads.shutdown(wait=True)
        self._writer.dispose()
        self._reader.dispose()


def open_threaded(url: str, *, threads: int, name: str) -> ThreadedDatabase:
    """On PostgreSQL up to `2 * threads` connections for writes and as many for reads; on SQLite one writer, which
    waits for other writers (other processes too) through SQLite's busy timeout."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        return ThreadedDatabase(
            writer=postgres_engine(parsed, autocommit=False, pool_size=threads),
            reader=postgres_engine(parsed, autocommit=True, pool_size=threads),
            write_threads=threads,
            read_threads=threads,
            name=name,
        )
    return ThreadedDatabase(
        writer=sqlite_engine(parsed, begin="BEGIN IMMEDIATE", busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=1),
        reader=sqlite_engine(parsed, begin=None, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=threads),
        write_threads=1,
        read_threads=threads,
        name=name,
    )
