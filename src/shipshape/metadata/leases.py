"""SQL for job leases: a background job that must run in one process at a time holds its row while it works."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, or_, select, update

from shipshape.metadata import conflicts
from shipshape.metadata.tables import job_leases


def acquire(connection: Connection, job: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take the lease of `job` for `holder` until `until` if it is free, expired or already `holder`'s."""
    inserted = connection.execute(
        conflicts.insert(connection, job_leases)
        .values(name=job, holder=holder, expires_at=until, started_at=now)
        .on_conflict_do_nothing()
        .returning(job_leases.c.name)
    ).scalar_one_or_none()
    if inserted is not None:
        return True
    taken = connection.execute(
        update(job_leases)
        .where(job_leases.c.name == job, or_(job_leases.c.expires_at <= now, job_leases.c.holder == holder))
        .values(holder=holder, expires_at=until, started_at=now)
    ).rowcount
    return bool(taken)


def take_over(connection: Connection, job: str, old_holder: str, holder: str, now: datetime, until: datetime) -> bool:
    """Move the lease of `job` from `old_holder` to `holder`, if `old_holder` still holds it."""
    taken = connection.execute(
        update(job_leases)
        .where(job_leases.c.name == job, job_leases.c.holder == old_holder)
        .values(holder=holder, expires_at=until, started_at=now)
    ).rowcount
    return bool(taken)


def renew(connection: Connection, job: str, holder: str, until: datetime) -> bool:
    """Move the lease's end to `until` if `holder` still holds it."""
    renewed = connection.execute(
        update(job_leases).where(job_leases.c.name == job, job_leases.c.holder == holder).values(expires_at=until)
    ).rowcount
    return bool(renewed)


def release(connection: Connection, job: str, holder: str) -> None:
    connection.execute(delete(job_leases).where(job_leases.c.name == job, job_leases.c.holder == holder))


def holder_of(connection: Connection, job: str, now: datetime) -> tuple[str, datetime] | None:
    """Who holds the lease of `job` now, and since when; None when it is free."""
    row = connection.execute(
        select(job_leases.c.holder, job_leases.c.started_at).where(
            job_leases.c.name == job, job_leases.c.expires_at > now
        )
    ).first()
    return None if row is None else (row.holder, row.started_at)
