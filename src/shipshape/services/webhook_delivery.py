"""The `EventSink` behind webhooks: publishing queues one delivery per webhook hearing the event, and a background
loop in every server process claims due deliveries, POSTs them signed, and retries failures with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp

from shipshape import __version__
from shipshape.domain import cloudevents
from shipshape.domain.events import RegistryEvent
from shipshape.domain.webhooks import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_DELAY,
    MAX_RETRY_DELAY,
    Delivery,
    DeliveryState,
    Webhook,
    derive_secret,
    matches,
    retry_delay,
    signature,
)
from shipshape.ports import Clock, DeliveryQueue, Epoch, WebhookStore
from shipshape.services.webhook_addresses import (
    PrivateAddress,
    connector_options,
    is_ip_literal,
    is_public,
    refusal,
)

log = logging.getLogger("shipshape.webhooks")

MAX_ERROR = 200  # characters of `last_error` kept


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard to try: attempts, backoff, the request timeout, and how often to look for due deliveries."""

    retry_delay: timedelta = DEFAULT_RETRY_DELAY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_delay: timedelta = MAX_RETRY_DELAY
    timeout: float = 10.0  # seconds per request
    lease: timedelta = timedelta(seconds=60)  # longer than a request may take, so a claim outlives its attempt
    poll_interval: float = 1.0  # seconds: other processes' new deliveries are seen this late at most
    batch: int = 16
    # Attempts in flight at once per process, each its own task: a receiver that hangs holds its own attempts for
    # `timeout`, not everyone else's deliveries.
    concurrency: int = 32
    allow_private: bool = False  # send to loopback, link-local and private addresses too (see webhook_addresses)


def owed_deliveries(event: RegistryEvent, webhooks: Sequence[Webhook], now: datetime) -> list[Delivery]:
    """One delivery, due at `now`, for every webhook among `webhooks` that hears `event`; one CloudEvent id."""
    hearing = [webhook for webhook in webhooks if matches(webhook, event)]
    if not hearing:
        return []
    event_id = str(uuid.uuid4())
    document = cloudevents.cloud_event(event, event_id)
    payload = cloudevents.encode(document)
    return [
        Delivery(
            id="dlv_" + uuid.uuid4().hex,
            webhook_id=webhook.id,
            event_id=event_id,
            event_type=document["type"],
            subject=document["subject"],
            payload=payload,
            created_at=now,
            next_attempt_at=now,
        )
        for webhook in hearing
    ]


def after_attempt(
    delivery: Delivery, status: int | None, error: str | None, now: datetime, policy: DeliveryPolicy
) -> Delivery:
    """`delivery` once its attempt (number `delivery.attempts`) answered `status` or failed with `error`."""
    attempted = replace(delivery, last_status=status, last_error=None if error is None else error[:MAX_ERROR])
    if status is not None and 200 <= status < 300:
        return replace(attempted, state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=now)
    if delivery.attempts >= policy.max_attempts:
        return replace(attempted, state=DeliveryState.FAILED, next_attempt_at=now)
    wait = retry_delay(delivery.attempts, policy.retry_delay, policy.max_delay)
    return replace(attempted, state=DeliveryState.PENDING, next_attempt_at=now + wait)


class WebhookDeliverer:
    """The `EventSink` of the server, and the loop (`run`) that delivers what it queues."""

    def __init__(
        self,
        webhooks: WebhookStore,
        queue: DeliveryQueue,
        clock: Clock,
        key: bytes,
        policy: DeliveryPolicy | None = None,
        settings: Epoch | None = None,
    ) -> None:
        self._webhooks = webhooks
        # Who hears which registry, cached while the settings epoch stands (a webhook's creation or deletion
        # advances it); without an epoch, read on every event.
        self._settings = settings
        self._subscribers: dict[tuple[str, str], list[Webhook]] = {}
        self._seen = settings.current() if settings is not None else 0
        self._queue = queue
        self._clock = clock
        self._key = key
        self.policy = policy or DeliveryPolicy()
        self._wake = asyncio.Event()

    async def publish(self, event: RegistryEvent) -> None:
        """Queue a delivery for each webhook hearing `event` and wake the loop; never raises."""
        try:
            subscribers = await self._hearing(event.account, event.registry)
            owed = owed_deliveries(event, subscribers, self._clock.now())
            await self._queue.enqueue(owed)
        except Exception:
            log.exception("could not queue webhook deliveries", extra={"event": event.kind.value})
            return
        if owed:
            self._wake.set()

    async def owed(self, event: RegistryEvent) -> list[Delivery]:
        """The deliveries `event` owes (one per webhook hearing it), for its change to record."""
        return owed_deliveries(event, await self._hearing(event.account, event.registry), self._clock.now())

    def recorded(self) -> None:
        self._wake.set()

    async def _hearing(self, account: str, registry: str) -> list[Webhook]:
        if self._settings is None:
            return await self._webhooks.subscribers(account, registry)
        seen = self._settings.current()
        if seen != self._seen:
            self._subscribers.clear()
            self._seen = seen
        found = self._subscribers.get((account, registry))
        if found is None:
            found = await self._webhooks.subscribers(account, registry)
            if self._settings.current() == seen:  # not remembered if a change overlapped the read
                self._subscribers[(account, registry)] = found
        return found

    async def run(self) -> None:
        """Deliver due deliveries until cancelled: at once when `publish` queues some or an attempt ends, else
        every poll interval; each attempt runs as its own task, at most `policy.concurrency` at a time."""
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        in_flight: set[asyncio.Task[Delivery]] = set()
        connector = aiohttp.TCPConnector(**connector_options(self.policy.allow_private))
        async with aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), connector=connector
        ) as session:
            try:
                while True:
                    self._wake.clear()
                    pause = self.policy.poll_interval
                    free = min(self.policy.batch, self.policy.concurrency - len(in_flight))
                    if free > 0:
                        try:
                            started = self._start(session, await self._claim(free), in_flight)
                            pause = 0.0 if started == free else pause
                        except Exception:
                            log.exception("webhook deliveries failed")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), pause)
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    def _start(
        self,
        session: aiohttp.ClientSession,
        claimed: tuple[str, list[tuple[Delivery, Webhook | None]]],
        in_flight: set[asyncio.Task[Delivery]],
    ) -> int:
        claim, deliveries = claimed
        for delivery, webhook in deliveries:
            task = asyncio.create_task(self._attempt(session, webhook, delivery, claim))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            task.add_done_callback(lambda _: self._wake.set())  # a slot is free: look for more
        return len(deliveries)

    async def deliver_due(self, session: aiohttp.ClientSession) -> float:
        """Claim and send one batch of due deliveries, waiting for them; seconds until more may be due."""
        claim, claimed = await self._claim(self.policy.batch)
        if not claimed:
            return self.policy.poll_interval
        results = await asyncio.gather(
            *(self._attempt(session, webhook, delivery, claim) for delivery, webhook in claimed)
        )
        if len(claimed) == self.policy.batch:
            return 0.0
        now = self._clock.now()
        waits = [(r.next_attempt_at - now).total_seconds() for r in results if r.state is DeliveryState.PENDING]
        return max(0.0, min([self.policy.poll_interval, *waits]))

    async def _claim(self, limit: int) -> tuple[str, list[tuple[Delivery, Webhook | None]]]:
        """Claim up to `limit` due deliveries, each with its webhook (None if deleted since)."""
        claim = uuid.uuid4().hex
        now = self._clock.now()
        claimed = await self._queue.claim(now, now + self.policy.lease, claim, limit)
        webhooks = {webhook_id: await self._webhooks.get_webhook(webhook_id)
                    for webhook_id in {delivery.webhook_id for delivery in claimed}}  # fmt: skip
        return claim, [(delivery, webhooks[delivery.webhook_id]) for delivery in claimed]

    async def _attempt(
        self, session: aiohttp.ClientSession, webhook: Webhook | None, delivery: Delivery, claim: str
    ) -> Delivery:
        if webhook is None:  # deleted since the claim, and its deliveries with it
            return replace(delivery, state=DeliveryState.FAILED)
        status, error = await self._send(session, webhook, delivery)
        result = after_attempt(delivery, status, error, self._clock.now(), self.policy)
        if not await self._queue.finish(result, claim):
            log.warning("webhook delivery outlived its lease", extra={"delivery": delivery.id})
        log.info(
            "webhook delivery %s",
            result.state.value,
            extra={"webhook": webhook.id, "delivery": delivery.id, "attempt": delivery.attempts, "status": status},
        )
        return result

    async def _send(
        self, session: aiohttp.ClientSession, webhook: Webhook, delivery: Delivery
    ) -> tuple[int | None, str | None]:
        """POST the delivery's body, signed: the HTTP status, and what went wrong unless it was a 2xx."""
        body = delivery.payload.encode()
        secret = derive_secret(self._key, webhook.id, webhook.salt)
        headers = {
            "Content-Type": cloudevents.CONTENT_TYPE,
            "Shipshape-Signature": signature(secret, body),
            "Shipshape-Webhook-Id": webhook.id,
            "Shipshape-Delivery": delivery.id,
            "User-Agent": f"shipshape/{__version__}",
        }
        host = urlsplit(webhook.url).hostname or ""
        if not self.policy.allow_private and is_ip_literal(host) and not is_public(host):
            return None, refusal(host)  # aiohttp connects to an IP literal without asking the resolver
        try:
            async with session.post(webhook.url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
                reason = response.reason or ""
        except TimeoutError:
            return None, f"no answer within {self.policy.timeout:g}s"
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, PrivateAddress):
                return None, str(error.os_error)
            return None, f"could not connect: {error.os_error.strerror or type(error.os_error).__name__}"
        except (aiohttp.ClientError, ValueError) as error:
            # The message may quote the URL, which may carry the receiver's token: only the kind of failure.
            return None, f"request failed: {type(error).__name__}"
        if 200 <= status < 300:
            return status, None
        if 300 <= status < 400:
            return status, f"HTTP {status}: redirects are not followed; point the webhook at the final URL"
        return status, f"HTTP {status} {reason}".strip()
