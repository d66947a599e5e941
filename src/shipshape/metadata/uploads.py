"""SQL for upload sessions in progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from shipshape.domain.records import UploadSession
from shipshape.metadata.tables import upload_sessions

_COLUMNS = (
    upload_sessions.c.id,
    upload_sessions.c.repository,
    upload_sessions.c.created_at,
    upload_sessions.c.updated_at,
)


def create(connection: Connection, session: UploadSession) -> None:
    """Record a new session."""
    connection.execute(
        insert(upload_sessions).values(
            id=session.id,
            repository=session.repository,
            created_at=session.created_at,
            updated_at=session.updated_at,
        )
    )


def get(connection: Connection, repository: str, upload_id: str) -> UploadSession | None:
    """The session `upload_id` if it belongs to `repository`."""
    row = connection.execute(
        select(*_COLUMNS).where(upload_sessions.c.id == upload_id, upload_sessions.c.repository == repository)
    ).first()
    return None if row is None else _session(row)


def touch(connection: Connection, upload_id: str, now: datetime) -> None:
    """Mark the session active at `now`; a missing session is ignored."""
    connection.execute(update(upload_sessions).where(upload_sessions.c.id == upload_id).values(updated_at=now))


def remove(connection: Connection, upload_id: str) -> None:
    """Forget the session; a missing session is ignored."""
    connection.execute(delete(upload_sessions).where(upload_sessions.c.id == upload_id))


def idle_since(connection: Connection, before: datetime, limit: int) -> list[UploadSession]:
    """Sessions last touched before `before`, longest idle first."""
    rows = connection.execute(
        select(*_COLUMNS)
        .where(upload_sessions.c.updated_at < before)
        .order_by(upload_sessions.c.updated_at, upload_sessions.c.id)
        .limit(limit)
    )
    return [_session(row) for row in rows]


def _session(row: Sequence[Any]) -> UploadSession:
    upload_id, repository, created_at, updated_at = row
    return UploadSession(id=upload_id, repository=repository, created_at=created_at, updated_at=updated_at)
