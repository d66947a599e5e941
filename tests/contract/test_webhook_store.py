"""The `WebhookStore` and `DeliveryQueue` contract, run against SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

import shipshape.metadata.migrations
from shipshape.domain.access import Account
from shipshape.domain.errors import NameUnknown
from shipshape.domain.events import EventKind
from shipshape.domain.webhooks import ALL_EVENTS, Delivery, DeliveryState, Webhook
from shipshape.metadata.access_store import open_access_store
from shipshape.metadata.engine import database_url as sqlalchemy_url
from shipshape.metadata.migrate import migrate
from shipshape.metadata.webhook_store import SqlWebhookStore, open_webhook_store

NOW = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlWebhookStore]:
    """A webhook store on a fresh, migrated database holding accounts `acme` and `globex`."""
    access = open_access_store(migrated_url)
    try:
        for name in ("acme", "globex"):
            await access.create_account(Account(name=name, created_at=NOW, quota_bytes=1))
    finally:
        await access.close()
    webhooks = open_webhook_store(migrated_url)
    try:
        yield webhooks
    finally:
        await webhooks.close()


def webhook(
    webhook_id: str = "wh_1",
    account: str = "acme",
    registry: str | None = None,
    events: frozenset[EventKind] = ALL_EVENTS,
    at: datetime = NOW,
) -> Webhook:
    return Webhook(
        id=webhook_id, account=account, registry=registry, url=f"https://hooks.example/{webhook_id}", events=events,
        salt="00" * 16, created_at=at, created_by="alice",
    )  # fmt: skip


def delivery(delivery_id: str, webhook_id: str = "wh_1", due: datetime = NOW, payload: str = "{}") -> Delivery:
    return Delivery(
        id=delivery_id, webhook_id=webhook_id, event_id=f"event-{delivery_id}", event_type="dev.shipshape.image.pushed",
        subject="acme-dev/web/api:v1", payload=payload, created_at=due, next_attempt_at=due,
    )  # fmt: skip


# Webhooks


async def test_created_webhook_reads_back_equal_in_utc(store: SqlWebhookStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    created = webhook(registry="acme-dev", events=frozenset({EventKind.PUSH, EventKind.POLICY_REFUSAL}))
    await store.create_webhook(replace(created, created_at=NOW.astimezone(tokyo)))

    found = await store.get_webhook("wh_1")

    assert found == created
    assert found is not None and found.created_at.utcoffset() == timedelta(0)


async def test_get_unknown_webhook_is_none(store: SqlWebhookStore) -> None:
    assert await store.get_webhook("wh_missing") is None


async def test_a_webhook_of_an_unknown_account_is_refused(store: SqlWebhookStore) -> None:
    with pytest.raises(NameUnknown, match="account 'initech' does not exist"):
        await store.create_webhook(webhook(account="initech"))


async def test_list_filters_by_account_and_registry_oldest_first(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook("wh_b", at=NOW + timedelta(seconds=1)))
    await store.create_webhook(webhook("wh_a", registry="acme-dev", at=NOW + timedelta(seconds=2)))
    await store.create_webhook(webhook("wh_c", at=NOW))
    await store.create_webhook(webhook("wh_g", account="globex", registry="acme-dev"))

    assert [w.id for w in await store.list_webhooks("acme", None)] == ["wh_c", "wh_b", "wh_a"]
    assert [w.id for w in await store.list_webhooks("acme", "acme-dev")] == ["wh_a"]
    assert [w.id for w in await store.list_webhooks(None, "acme-dev")] == ["wh_g", "wh_a"]
    assert len(await store.list_webhooks(None, None)) == 4


async def test_subscribers_are_the_accounts_own_and_the_registrys_own(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook("wh_account"))
    await store.create_webhook(webhook("wh_dev", registry="acme-dev", at=NOW + timedelta(seconds=1)))
    await store.create_webhook(webhook("wh_prod", registry="acme-prod"))
    await store.create_webhook(webhook("wh_globex", account="globex"))

    assert [w.id for w in await store.subscribers("acme", "acme-dev")] == ["wh_account", "wh_dev"]
    assert [w.id for w in await store.subscribers("globex", "acme-dev")] == ["wh_globex"]


async def test_delete_removes_the_webhook_and_its_deliveries(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook("wh_1"))
    await store.create_webhook(webhook("wh_2"))
    await store.enqueue([delivery("d1", "wh_1"), delivery("d2", "wh_2")])

    await store.delete_webhook("wh_1")

    assert await store.get_webhook("wh_1") is None
    assert await store.deliveries("wh_1", 10) == []
    assert [d.id for d in await store.claim(NOW, NOW + LEASE, "c", 10)] == ["d2"]
    with pytest.raises(NameUnknown, match="webhook 'wh_1' does not exist"):
        await store.delete_webhook("wh_1")


# Deliveries


async def test_claim_counts_an_attempt_and_hides_the_delivery_until_the_lease_ends(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook())
    await store.enqueue([delivery("d1", payload='{"name":"café ☕"}')])

    claimed = await store.claim(NOW, NOW + LEASE, "first", 10)

    assert [(d.id, d.attempts, d.payload) for d in claimed] == [("d1", 1, '{"name":"café ☕"}')]
    assert await store.claim(NOW + LEASE - timedelta(seconds=1), NOW + 2 * LEASE, "second", 10) == []
    again = await store.claim(NOW + LEASE, NOW + 2 * LEASE, "third", 10)
    assert [(d.id, d.attempts) for d in again] == [("d1", 2)]


async def test_claim_takes_due_pending_deliveries_only_oldest_due_first(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook())
    later = delivery("d_later", due=NOW + timedelta(minutes=5))
    await store.enqueue(
        [delivery("d2", due=NOW - timedelta(seconds=1)), delivery("d1", due=NOW - timedelta(seconds=2)), later]
    )

    assert [d.id for d in await store.claim(NOW, NOW + LEASE, "c", 1)] == ["d1"]
    assert [d.id for d in await store.claim(NOW, NOW + LEASE, "c", 10)] == ["d2"]


async def test_finish_records_the_outcome_for_the_claim_holder_only(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook())
    await store.enqueue([delivery("d1")])
    (claimed,) = await store.claim(NOW, NOW + LEASE, "mine", 10)
    retry = replace(claimed, last_status=500, last_error="HTTP 500", next_attempt_at=NOW + timedelta(seconds=10))

    assert await store.finish(retry, "someone-else") is False
    assert await store.finish(retry, "mine") is True
    assert await store.finish(retry, "mine") is False  # a claim is spent once recorded

    (pending,) = await store.deliveries("wh_1", 10)
    assert (pending.state, pending.attempts, pending.last_status, pending.last_error) == (
        DeliveryState.PENDING, 1, 500, "HTTP 500",
    )  # fmt: skip
    (second,) = await store.claim(NOW + timedelta(seconds=10), NOW + LEASE, "next", 10)
    done = replace(second, state=DeliveryState.DELIVERED, last_status=204, last_error=None, delivered_at=NOW)
    assert await store.finish(done, "next")
    assert await store.deliveries("wh_1", 10) == [replace(done, next_attempt_at=done.next_attempt_at)]
    assert await store.claim(NOW + timedelta(days=1), NOW + timedelta(days=2), "late", 10) == []


async def test_forgetting_finished_deliveries_keeps_pending_and_recent_ones(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook())
    await store.enqueue([delivery("old_done"), delivery("old_pending"), delivery("old_failed")])
    claimed = {d.id: d for d in await store.claim(NOW, NOW + LEASE, "c", 10)}
    await store.finish(replace(claimed["old_done"], state=DeliveryState.DELIVERED, delivered_at=NOW), "c")
    await store.finish(replace(claimed["old_failed"], state=DeliveryState.FAILED), "c")
    await store.finish(replace(claimed["old_pending"], next_attempt_at=NOW + LEASE), "c")

    assert await store.forget_finished(NOW) == 0  # nothing created before NOW
    assert await store.forget_finished(NOW + timedelta(days=1)) == 2
    assert [d.id for d in await store.deliveries("wh_1", 10)] == ["old_pending"]


async def test_deliveries_read_newest_first_up_to_the_limit(store: SqlWebhookStore) -> None:
    await store.create_webhook(webhook())
    await store.enqueue([delivery(f"d{i}", due=NOW + timedelta(seconds=i)) for i in range(5)])

    assert [d.id for d in await store.deliveries("wh_1", 3)] == ["d4", "d3", "d2"]


async def test_naive_times_are_refused(store: SqlWebhookStore) -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(ValueError, match="naive datetime"):
        await store.create_webhook(webhook(at=naive))
    with pytest.raises(ValueError, match="naive datetime"):
        await store.claim(naive, naive, "c", 1)


async def test_processes_claiming_at_once_never_share_a_delivery(store: SqlWebhookStore, migrated_url: str) -> None:
    await store.create_webhook(webhook())
    await store.enqueue([delivery(f"d{i:03}") for i in range(60)])
    others = [open_webhook_store(migrated_url, threads=2) for _ in range(3)]
    try:
        batches = await asyncio.gather(
            *(s.claim(NOW, NOW + LEASE, f"claim-{n}-{round_}", 7) for round_ in range(4) for n, s in enumerate(others))
        )
    finally:
        await asyncio.gather(*(s.close() for s in others))

    claimed = [d.id for batch in batches for d in batch]
    assert len(claimed) == len(set(claimed))
    assert all(d.attempts == 1 for batch in batches for d in batch)


def test_the_webhook_migration_downgrades_and_upgrades_again(migrated_url: str) -> None:
    engine = create_engine(sqlalchemy_url(migrated_url))
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(Path(shipshape.metadata.migrations.__file__).parent))
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
        assert not {"webhooks", "webhook_deliveries"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    migrate(migrated_url)
    engine = create_engine(sqlalchemy_url(migrated_url))
    try:
        assert {"webhooks", "webhook_deliveries"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
