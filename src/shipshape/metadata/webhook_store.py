"""`SqlWebhookStore`: the `WebhookStore` and `DeliveryQueue` ports on SQLite or PostgreSQL, off the event loop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shipshape.domain.webhooks import Delivery, Webhook
from shipshape.metadata import webhooks
from shipshape.metadata.database import Database, open_database
from shipshape.metadata.engine import require_aware


class SqlWebhookStore:
    """Webhooks and their deliveries in the metadata database; queries run off the event loop (see `database`)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._read = database.read
        self._write = database.write

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
        """Give back this store's share of the database (the last share closes it)."""
        await self._database.close()


def open_webhook_store(url: str, *, threads: int = 1, database: Database | None = None) -> SqlWebhookStore:
    """A store on `url` (`sqlite:///path` or `postgresql://…`), a database `migrate(url)` brought up to date; on
    `database`'s connections when given (the server's, shared by all its stores), else on its own with `threads`
    threads."""
    return SqlWebhookStore((database or open_database(url, threads=threads)).share())
