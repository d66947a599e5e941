"""SQL for failed logins, counted over a recent window per identity and per client address to slow and lock out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from shipshape.metadata.tables import login_failures

# Identities are whatever a client typed: one longer than any username (or address) is cut to the column's size,
# consistently when recording, counting and clearing, so it cannot make the insert fail.
_LONGEST = 255


def record(connection: Connection, identity: str, remote: str | None, now: datetime) -> None:
    connection.execute(insert(login_failures).values(identity=_fit(identity), remote=_fit_optional(remote), at=now))


def count_since(connection: Connection, identity: str, remote: str | None, since: datetime) -> tuple[int, int]:
    """Failures at or after `since` for `identity`, and from `remote` (0 when None), in one statement."""
    by_identity = (
        select(func.count())
        .select_from(login_failures)
        .where(login_failures.c.identity == _fit(identity), login_failures.c.at >= since)
        .scalar_subquery()
    )
    if remote is None:
        return int(connection.execute(select(by_identity)).scalar_one()), 0
    by_remote = (
        select(func.count())
        .select_from(login_failures)
        .where(login_failures.c.remote == _fit(remote), login_failures.c.at >= since)
        .scalar_subquery()
    )
    identity_count, remote_count = connection.execute(select(by_identity, by_remote)).one()
    return int(identity_count), int(remote_count)


def clear(connection: Connection, identity: str) -> None:
    """Forget the failures of `identity` (after it logged in), but not where they came from.

    Each failure still counts against its client address until it ages out: a login by the owner of an account must
    not reset the count of an address that was guessing at it.
    """
    fitted = _fit(identity)
    connection.execute(
        delete(login_failures).where(login_failures.c.identity == fitted, login_failures.c.remote.is_(None))
    )
    connection.execute(update(login_failures).where(login_failures.c.identity == fitted).values(identity=None))


def forget_before(connection: Connection, before: datetime) -> int:
    """Delete failures older than `before`, which no window counts any more; return how many."""
    return int(connection.execute(delete(login_failures).where(login_failures.c.at < before)).rowcount)


def _fit(value: str) -> str:
    return value[:_LONGEST]


def _fit_optional(value: str | None) -> str | None:
    return None if value is None else _fit(value)
