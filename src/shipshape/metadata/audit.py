"""SQL for the audit trail: append-only events, read newest first, filtered by account, registry and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from shipshape.domain.access import AuditEvent
from shipshape.metadata.statements import Statement
from shipshape.metadata.tables import audit_events

# Names are indexed columns of a bounded size; a longer one can only be what a client sent (say, the registry of a
# refused push to a path that names none) and is cut to fit rather than losing the event.
_LONGEST_NAME = 255
_COLUMNS = (
    audit_events.c.time,
    audit_events.c.account,
    audit_events.c.actor,
    audit_events.c.action,
    audit_events.c.target,
    audit_events.c.result,
    audit_events.c.remote,
    audit_events.c.credential,
    audit_events.c.registry,
    audit_events.c.detail,
)


_INSERT = Statement(
    insert(audit_events),
    ["time", "account", "registry", "actor", "credential", "action", "target", "result", "remote", "detail"],
)


def record(connection: Connection, event: AuditEvent) -> None:
    row = {
        "time": event.time,
        "account": _fit(event.account),
        "registry": _fit(event.registry),
        "actor": event.actor,
        "credential": _fit(event.credential),
        "action": event.action,
        "target": event.target,
        "result": event.result,
        "remote": event.remote,
        "detail": dict(event.detail),
    }
    _INSERT.run(connection, row)


def newest_first(
    connection: Connection, account: str | None, registry: str | None, since: datetime | None, limit: int
) -> list[AuditEvent]:
    """Events matching every filter given (None: any), at or after `since`, newest first, at most `limit`."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    # Equal times (a coarse clock, a batch) keep the order they were recorded in, reversed.
    statement = select(*_COLUMNS).order_by(audit_events.c.time.desc(), audit_events.c.id.desc()).limit(limit)
    if account is not None:
        statement = statement.where(audit_events.c.account == account)
    if registry is not None:
        statement = statement.where(audit_events.c.registry == registry)
    if since is not None:
        statement = statement.where(audit_events.c.time >= since)
    return [_event(row) for row in connection.execute(statement)]


def _fit(name: str | None) -> str | None:
    return None if name is None else name[:_LONGEST_NAME]


def _event(row: Sequence[Any]) -> AuditEvent:
    time, account, actor, action, target, result, remote, credential, registry, detail = row
    return AuditEvent(
        time=time,
        account=account,
        actor=actor,
        action=action,
        target=target,
        result=result,
        remote=remote,
        credential=credential,
        registry=registry,
        detail=dict(detail),
    )
