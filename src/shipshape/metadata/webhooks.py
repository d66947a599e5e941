"""SQL for webhooks and their deliveries: who hears which events, and the queue of bodies owed to them.

Deliveries are claimed with a lease (`claim_due`) so that several server processes on one database never send the
same delivery at the same time; a process that dies mid-delivery leaves the row to be claimed again once the lease
runs out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.domain.events import EventKind
from shipshape.domain.webhooks import Delivery, DeliveryState, Webhook
from shipshape.metadata import accounts, tables
from shipshape.metadata.tables import webhook_deliveries as deliveries
from shipshape.metadata.tables import webhooks

_WEBHOOKS = select(
    webhooks.c.id,
    tables.accounts.c.name,
    webhooks.c.registry,
    webhooks.c.url,
    webhooks.c.events,
    webhooks.c.salt,
    webhooks.c.created_at,
    webhooks.c.created_by,
).join_from(webhooks, tables.accounts, tables.accounts.c.id == webhooks.c.account_id)
_DELIVERIES = select(
    deliveries.c.id,
    deliveries.c.webhook_id,
    deliveries.c.event_id,
    deliveries.c.event_type,
    deliveries.c.subject,
    deliveries.c.payload,
    deliveries.c.created_at,
    deliveries.c.next_attempt_at,
    deliveries.c.state,
    deliveries.c.attempts,
    deliveries.c.last_status,
    deliveries.c.last_error,
    deliveries.c.delivered_at,
)
_PENDING = DeliveryState.PENDING.value


# Webhooks


def create(connection: Connection, webhook: Webhook) -> None:
    """Record a new webhook; raise `NameUnknown` for an unknown account, `Conflict` if the id is taken."""
    account_id = accounts.require_id(connection, webhook.account)
    if connection.execute(select(webhooks.c.id).where(webhooks.c.id == webhook.id)).first() is not None:
        raise Conflict(f"webhook {webhook.id!r} already exists", detail={"webhook": webhook.id})
    connection.execute(
        insert(webhooks).values(
            id=webhook.id,
            account_id=account_id,
            registry=webhook.registry,
            url=webhook.url,
            events=",".join(sorted(kind.value for kind in webhook.events)),
            salt=webhook.salt,
            created_at=webhook.created_at,
            created_by=webhook.created_by,
        )
    )


def get(connection: Connection, webhook_id: str) -> Webhook | None:
    row = connection.execute(_WEBHOOKS.where(webhooks.c.id == webhook_id)).first()
    return None if row is None else _webhook(row)


def list_for(connection: Connection, account: str | None, registry: str | None) -> list[Webhook]:
    """Webhooks of `account` and of `registry` (None: any), oldest first."""
    statement = _WEBHOOKS.order_by(webhooks.c.created_at, webhooks.c.id)
    if account is not None:
        statement = statement.where(tables.accounts.c.name == account)
    if registry is not None:
        statement = statement.where(webhooks.c.registry == registry)
    return [_webhook(row) for row in connection.execute(statement)]


def subscribers(connection: Connection, account: str, registry: str) -> list[Webhook]:
    """The webhooks that may hear an event of `registry` in `account`: the account's and the registry's own."""
    statement = _WEBHOOKS.where(
        tables.accounts.c.name == account, or_(webhooks.c.registry.is_(None), webhooks.c.registry == registry)
    ).order_by(webhooks.c.created_at, webhooks.c.id)
    return [_webhook(row) for row in connection.execute(statement)]


def remove(connection: Connection, webhook_id: str) -> None:
    """Delete the webhook and its deliveries; raise `NameUnknown` if there is no such webhook."""
    connection.execute(delete(deliveries).where(deliveries.c.webhook_id == webhook_id))
    if not connection.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount:
        raise NameUnknown(
            f"webhook {webhook_id!r} does not exist: see `shipshape webhook list`", detail={"webhook": webhook_id}
        )


# Deliveries


def enqueue(connection: Connection, owed: Iterable[Delivery]) -> None:
    rows = [
        {
            "id": d.id, "webhook_id": d.webhook_id, "event_id": d.event_id, "event_type": d.event_type,
            "subject": d.subject, "payload": d.payload, "state": d.state.value, "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at, "claim": None, "last_status": d.last_status,
            "last_error": d.last_error, "created_at": d.created_at, "delivered_at": d.delivered_at,
        }
        for d in owed
    ]  # fmt: skip
    if rows:
        connection.execute(insert(deliveries), rows)


def forget_finished(connection: Connection, before: datetime) -> int:
    """Delete delivered and failed deliveries created before `before`; how many."""
    finished = deliveries.c.state != _PENDING
    return connection.execute(delete(deliveries).where(finished, deliveries.c.created_at < before)).rowcount


def any_due(connection: Connection, now: datetime) -> bool:
    """Whether some pending delivery is due at `now`."""
    due = select(deliveries.c.id).where(deliveries.c.state == _PENDING, deliveries.c.next_attempt_at <= now)
    return connection.execute(due.limit(1)).first() is not None


def claim_due(connection: Connection, now: datetime, lease_until: datetime, claim: str, limit: int) -> list[Delivery]:
    """Claim up to `limit` pending deliveries due at `now`: count an attempt and hide them until `lease_until`."""
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.state == _PENDING, deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)  # SQLite's writers take turns (BEGIN IMMEDIATE) instead
    ids = list(connection.execute(due).scalars())
    if not ids:
        return []
    # The conditions again: a row another process claimed meanwhile has moved on and is left alone.
    connection.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids), deliveries.c.state == _PENDING, deliveries.c.next_attempt_at <= now)
        .values(next_attempt_at=lease_until, claim=claim, attempts=deliveries.c.attempts + 1)
    )
    claimed = _DELIVERIES.where(deliveries.c.id.in_(ids), deliveries.c.claim == claim)
    return [_delivery(row) for row in connection.execute(claimed.order_by(deliveries.c.next_attempt_at))]


def finish(connection: Connection, attempt: Delivery, claim: str) -> bool:
    """Record how the claimed `attempt` went (its state, status, error and next time); False if the claim was lost."""
    recorded = connection.execute(
        update(deliveries)
        .where(deliveries.c.id == attempt.id, deliveries.c.claim == claim)
        .values(
            state=attempt.state.value,
            next_attempt_at=attempt.next_attempt_at,
            last_status=attempt.last_status,
            last_error=attempt.last_error,
            delivered_at=attempt.delivered_at,
            claim=None,
        )
    ).rowcount
    return bool(recorded)


def newest_first(connection: Connection, webhook_id: str, limit: int) -> list[Delivery]:
    statement = (
        _DELIVERIES.where(deliveries.c.webhook_id == webhook_id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(limit)
    )
    return [_delivery(row) for row in connection.execute(statement)]


def _webhook(row: Sequence[Any]) -> Webhook:
    webhook_id, account, registry, url, events, salt, created_at, created_by = row
    return Webhook(
        id=webhook_id,
        account=account,
        registry=registry,
        url=url,
        events=frozenset(EventKind(name) for name in events.split(",") if name),
        salt=salt,
        created_at=created_at,
        created_by=created_by,
    )


def _delivery(row: Sequence[Any]) -> Delivery:
    (delivery_id, webhook_id, event_id, event_type, subject, payload, created_at, next_attempt_at, state, attempts,
     last_status, last_error, delivered_at) = row  # fmt: skip
    return Delivery(
        id=delivery_id, webhook_id=webhook_id, event_id=event_id, event_type=event_type, subject=subject,
        payload=payload, created_at=created_at, next_attempt_at=next_attempt_at, state=DeliveryState(state),
        attempts=attempts, last_status=last_status, last_error=last_error, delivered_at=delivered_at,
    )  # fmt: skip
