"""`SqlWebhookStore`: the `WebhookStore` and `DeliveryQueue` ports on SQLite or PostgreSQL, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine

from shipshape.domain.webhooks import Delivery, Webhook
from shipshape.metadata import webhooks
from shipshape.metadata.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    database_url,
    postgres_engine,
    require_aware,
    run_query,
    run_transaction,
    sqlite_engine,
)

T = TypeVar("T")


class SqlWebhookStore:
    """Webhooks and their deliveries in the metadata database; every query runs in a thread pool of its own."""

    def __init__(self, *, writer: Engine, reader: Engine, write_threads: int, read_threads: int) -> None:
        self._writer = writer
        self._reader = reader
        self._writes = ThreadPoolExecutor(write_threads, thread_name_prefix="webhook-write")
        self._reads = ThreadPoolExecutor(read_threads, thread_name_prefix="webhook-read")

    # Webhooks

    async def create_webhook(self, webhook: Webhook) -> None:
        require_aware(webhook.created_at)
        await self._write(lambda connection: webhooks.create(connection, webhook))

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        return await self._read(lambda connection: webhooks.get(connection, webhook_id))

    async def list_webhooks(self, account: str | None, registry: str | None) -> list[Webhook]:
        return await self._read(lambda connection: webhooks.list_for(connection, account, registry))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._write(lambda connection: webhooks.remove(connection, webhook_id))

    async def subscribers(self, account: str, registry: str) -> list[Webhook]:
        return await self._read(lambda connection: webhooks.subscribers(connection, account, registry))

    async def deliveries(self, webhook_id: str, limit: int) -> list[Delivery]:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        return await self._read(lambda connection: webhooks.newest_first(connection, webhook_id, limit))

    # Deliveries

    async def enqueue(self, owed: Sequence[Delivery]) -> None:
        for delivery in owed:
            require_aware(delivery.created_at)
            require_aware(delivery.next_attempt_at)
        if owed:
            await self._write(lambda connection: webhooks.enqueue(connection, owed))

    async def claim(self, now: datetime, lease_until: datetime, claim: str, limit: int) -> list[Delivery]:
        require_aware(now)
        require_aware(lease_until)
        # Most polls find nothing: ask a reader first rather than take the write lock every poll.
        if not await self._read(lambda connection: webhooks.any_due(connection, now)):
            return []
        return await self._write(lambda connection: webhooks.claim_due(connection, now, lease_until, claim, limit))

    async def finish(self, attempt: Delivery, claim: str) -> bool:
        require_aware(attempt.next_attempt_at)
        if attempt.delivered_at is not None:
            require_aware(attempt.delivered_at)
        return await self._write(lambda connection: webhooks.finish(connection, attempt, claim))

    async def forget_finished(self, before: datetime) -> int:
        require_aware(before)
        return await self._write(lambda connection: webhooks.forget_finished(connection, before))

    async def close(self) -> None:
        """Finish the queries in flight, then close every connection."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._writes.shutdown(wait=True)
        self._reads.shutdown(wait=True)
        self._writer.dispose()
        self._reader.dispose()

    async def _read(self, query: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reads, run_query, self._reader, query)

    async def _write(self, change: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writes, run_transaction, self._writer, change)


def open_webhook_store(url: str, *, threads: int = 1) -> SqlWebhookStore:
    """A store on `url` (`sqlite:///path` or `postgresql://…`), a database `migrate(url)` brought up to date.

    Its connections are its own, so deliveries never queue behind pushes or logins: on PostgreSQL up to
    `2 * threads` for writes and as many for reads; on SQLite one writer, waiting through the busy timeout.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        return SqlWebhookStore(
            writer=postgres_engine(parsed, autocommit=False, pool_size=threads),
            reader=postgres_engine(parsed, autocommit=True, pool_size=threads),
            write_threads=threads,
            read_threads=threads,
        )
    return SqlWebhookStore(
        writer=sqlite_engine(parsed, begin="BEGIN IMMEDIATE", busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=1),
        reader=sqlite_engine(parsed, begin=None, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=threads),
        write_threads=1,
        read_threads=threads,
    )
