"""Delivering webhooks: what publishing queues, how an attempt's outcome is recorded, and real deliveries to a
real receiver on 127.0.0.1 through a real SQLite store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shipshape.domain.access import Account
from shipshape.domain.events import EventKind, RegistryEvent
from shipshape.domain.webhooks import ALL_EVENTS, Delivery, DeliveryState, Webhook, derive_secret, signature
from shipshape.metadata.access_store import open_access_store
from shipshape.metadata.migrate import migrate
from shipshape.metadata.webhook_store import SqlWebhookStore, open_webhook_store
from shipshape.services.webhook_addresses import connector_options, is_public
from shipshape.services.webhook_delivery import DeliveryPolicy, WebhookDeliverer, after_attempt, owed_deliveries

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))
# The receivers run on 127.0.0.1.
POLICY = DeliveryPolicy(retry_delay=timedelta(seconds=10), max_attempts=3, timeout=0.5, allow_private=True)


@dataclass
class FakeClock:
    current: datetime = NOW

    def now(self) -> datetime:
        return self.current


def event(kind: EventKind = EventKind.PUSH, registry: str = "acme-dev") -> RegistryEvent:
    return RegistryEvent(
        kind=kind, time=NOW, account="acme", registry=registry, repository=f"{registry}/web/api", actor="alice",
        digest="sha256:" + "a" * 64, tag="v1",
    )  # fmt: skip


def webhook(webhook_id: str, url: str = "http://127.0.0.1:9/", **changes: object) -> Webhook:
    values: dict[str, object] = {
        "id": webhook_id, "account": "acme", "url": url, "events": ALL_EVENTS, "salt": "salt-" + webhook_id,
        "created_at": NOW, "created_by": "alice",
    }  # fmt: skip
    values.update(changes)
    return Webhook(**values)  # type: ignore[arg-type]


# the pure parts


def test_publishing_owes_one_delivery_per_hearing_webhook_all_with_one_event_id() -> None:
    hooks = [webhook("wh_all"), webhook("wh_dev", registry="acme-dev"), webhook("wh_prod", registry="acme-prod")]
    hooks.append(webhook("wh_deletes", events=frozenset({EventKind.DELETE})))

    owed = owed_deliveries(event(), hooks, NOW)

    assert [d.webhook_id for d in owed] == ["wh_all", "wh_dev"]
    assert len({d.event_id for d in owed}) == 1 and len({d.id for d in owed}) == 2
    assert all(d.next_attempt_at == NOW and d.state is DeliveryState.PENDING and d.attempts == 0 for d in owed)
    document = json.loads(owed[0].payload)
    assert document["id"] == owed[0].event_id and document["type"] == owed[0].event_type
    assert owed[0].subject == "acme-dev/web/api:v1"


def test_publishing_to_no_hearing_webhook_owes_nothing() -> None:
    assert owed_deliveries(event(), [webhook("wh", events=frozenset({EventKind.PROMOTION}))], NOW) == []


def attempted(attempts: int) -> Delivery:
    return Delivery(
        id="d", webhook_id="wh", event_id="e", event_type="t", subject="s", payload="{}", created_at=NOW,
        next_attempt_at=NOW, attempts=attempts,
    )  # fmt: skip


def test_a_2xx_answer_delivers() -> None:
    done = after_attempt(attempted(1), 204, None, NOW, POLICY)
    assert (done.state, done.last_status, done.delivered_at, done.last_error) == (
        DeliveryState.DELIVERED,
        204,
        NOW,
        None,
    )


def test_a_failure_is_retried_after_the_backoff() -> None:
    first = after_attempt(attempted(1), 500, "HTTP 500", NOW, POLICY)
    second = after_attempt(attempted(2), None, "could not connect", NOW, POLICY)
    assert (first.state, first.last_status, first.last_error) == (DeliveryState.PENDING, 500, "HTTP 500")
    assert first.next_attempt_at == NOW + timedelta(seconds=10)
    assert (second.next_attempt_at, second.last_status) == (NOW + timedelta(seconds=20), None)


def test_the_last_failed_attempt_gives_up_with_a_short_error() -> None:
    given_up = after_attempt(attempted(3), 503, "x" * 1000, NOW, POLICY)
    assert given_up.state is DeliveryState.FAILED and len(given_up.last_error or "") == 200


# real deliveries


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next of `answers` (then 204)."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.answers.pop(0) if self.answers else 204
        if status in (301, 302, 307):
            return web.Response(status=status, headers={"Location": "/elsewhere"})
        return web.Response(status=status)

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    app.router.add_post("/elsewhere", found.handle)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    try:
        yield found
    finally:
        await found.server.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlWebhookStore]:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    migrate(url)
    access = open_access_store(url)
    await access.create_account(Account(name="acme", created_at=NOW, quota_bytes=1))
    await access.close()
    webhooks = open_webhook_store(url)
    try:
        yield webhooks
    finally:
        await webhooks.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def deliver(store: SqlWebhookStore, clock: FakeClock, session: aiohttp.ClientSession, url: str) -> Delivery:
    """Publish a push to a new webhook at `url`, run one round of deliveries, and return the delivery."""
    await store.create_webhook(webhook("wh_1", url))
    deliverer = WebhookDeliverer(store, store, clock, KEY, POLICY)
    await deliverer.publish(event())
    await deliverer.deliver_due(session)
    (delivery,) = await store.deliveries("wh_1", 10)
    return delivery


async def test_a_delivery_is_posted_signed_and_recorded(
    store: SqlWebhookStore, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    delivery = await deliver(store, FakeClock(), session, receiver.url())

    ((headers, body),) = receiver.received
    secret = derive_secret(KEY, "wh_1", "salt-wh_1")
    assert headers["Shipshape-Signature"] == signature(secret, body)
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert (headers["Shipshape-Webhook-Id"], headers["Shipshape-Delivery"]) == ("wh_1", delivery.id)
    assert json.loads(body)["id"] == delivery.event_id
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.delivered_at) == (
        DeliveryState.DELIVERED, 1, 204, NOW,
    )  # fmt: skip


async def test_a_failed_delivery_is_retried_when_due_with_the_same_body(
    store: SqlWebhookStore, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    receiver.answers = [500]
    failed = await deliver(store, clock, session, receiver.url())
    assert (failed.state, failed.last_status, failed.last_error) == (
        DeliveryState.PENDING,
        500,
        "HTTP 500 Internal Server Error",
    )

    deliverer = WebhookDeliverer(store, store, clock, KEY, POLICY)
    await deliverer.deliver_due(session)  # not due yet
    assert len(receiver.received) == 1
    clock.current += timedelta(seconds=10)
    await deliverer.deliver_due(session)

    (first, second) = receiver.received
    assert first[1] == second[1] and first[0]["Shipshape-Signature"] == second[0]["Shipshape-Signature"]
    (delivered,) = await store.deliveries("wh_1", 10)
    assert (delivered.state, delivered.attempts) == (DeliveryState.DELIVERED, 2)


async def test_redirects_are_not_followed(
    store: SqlWebhookStore, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.answers = [302]
    delivery = await deliver(store, FakeClock(), session, receiver.url())

    assert len(receiver.received) == 1
    assert delivery.state is DeliveryState.PENDING and delivery.last_status == 302
    assert "redirects are not followed" in (delivery.last_error or "")


async def test_an_unreachable_receiver_is_an_error_without_a_status(
    store: SqlWebhookStore, session: aiohttp.ClientSession
) -> None:
    delivery = await deliver(store, FakeClock(), session, "http://127.0.0.1:9/hook?token=s3cret")

    assert delivery.last_status is None and (delivery.last_error or "").startswith("could not connect")
    assert "s3cret" not in (delivery.last_error or "")


async def test_delivery_gives_up_after_the_last_attempt(
    store: SqlWebhookStore, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    receiver.answers = [500, 502, 503]
    await deliver(store, clock, session, receiver.url())
    deliverer = WebhookDeliverer(store, store, clock, KEY, POLICY)
    for _ in range(3):
        clock.current += timedelta(hours=1)
        await deliverer.deliver_due(session)

    assert len(receiver.received) == 3
    (delivery,) = await store.deliveries("wh_1", 10)
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.FAILED, 3, 503)


async def test_publishing_wakes_the_running_loop(store: SqlWebhookStore, receiver: Receiver) -> None:
    await store.create_webhook(webhook("wh_1", receiver.url()))
    # A poll interval longer than the test's patience: only the wake-up can deliver in time.
    deliverer = WebhookDeliverer(store, store, FakeClock(), KEY, DeliveryPolicy(poll_interval=60, allow_private=True))
    loop = asyncio.create_task(deliverer.run())
    try:
        await deliverer.publish(event())
        await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_publishing_never_raises(store: SqlWebhookStore) -> None:
    await store.close()  # every query now fails
    deliverer = WebhookDeliverer(store, store, FakeClock(), KEY, POLICY)

    await deliverer.publish(event())


async def test_a_hanging_receiver_does_not_hold_up_other_webhooks(store: SqlWebhookStore, receiver: Receiver) -> None:
    released = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await released.wait()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hang)
    hanging = TestServer(app, host="127.0.0.1")
    await hanging.start_server()
    try:
        await store.create_webhook(webhook("wh_hang", str(hanging.make_url("/hook")), registry="acme-prod"))
        await store.create_webhook(webhook("wh_ok", receiver.url(), registry="acme-dev"))
        # The attempt timeout is longer than the test's patience: only concurrent attempts deliver in time.
        deliverer = WebhookDeliverer(
            store, store, FakeClock(), KEY, DeliveryPolicy(timeout=60, batch=4, allow_private=True)
        )
        for _ in range(8):
            await deliverer.publish(event(registry="acme-prod"))
        loop = asyncio.create_task(deliverer.run())
        try:
            await deliverer.publish(event(registry="acme-dev"))
            await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
        finally:
            loop.cancel()
            with pytest.raises(asyncio.CancelledError):
                await loop
    finally:
        released.set()
        await hanging.close()


async def test_private_addresses_are_refused_unless_allowed(store: SqlWebhookStore, receiver: Receiver) -> None:
    urls = (receiver.url(), "http://169.254.169.254/latest/meta-data", "http://[::ffff:10.0.0.1]/", "http://localhost/")
    for number, url in enumerate(urls):
        await store.create_webhook(webhook(f"wh_{number}", url))
    deliverer = WebhookDeliverer(store, store, FakeClock(), KEY, DeliveryPolicy(max_attempts=1))
    await deliverer.publish(event())
    connector = aiohttp.TCPConnector(**connector_options(allow_private=False))
    async with aiohttp.ClientSession(connector=connector) as session:
        await deliverer.deliver_due(session)
    assert receiver.received == []
    deliveries = [d for number in range(len(urls)) for d in await store.deliveries(f"wh_{number}", 5)]
    assert [d.state for d in deliveries] == [DeliveryState.FAILED] * len(urls)
    for delivery in deliveries:
        assert "is not a public address" in (delivery.last_error or "")
        assert "--webhook-allow-private" in (delivery.last_error or "")


def test_only_globally_routable_unicast_addresses_are_public() -> None:
    for private in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1%eth0", "fc00::1",
                    "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1", "100.64.0.1", "not-an-ip"):  # fmt: skip
        assert not is_public(private), private
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"):
        assert is_public(public), public
