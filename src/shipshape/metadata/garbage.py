"""SQL for online garbage collection: links no manifest references, then blobs nothing links, then their bytes.

Three steps, each safe while pushes, pulls, mounts and promotions go on:

1. `drop_unreferenced_links`: a link (a blob visible in a repository) that no manifest of the repository
   references and that is older than the grace period is deleted. Delete first, check after, as every delete here
   does: a manifest being pushed holds its links FOR SHARE, so the delete waits for it and the check then sees it.
2. `mark_unlinked_blobs`: a stored blob that no repository links is marked `deleting`. From then on a mount or a
   promotion refuses it, and an upload of the same digest revives it (and puts its bytes back if needed).
3. `forget_blob`: with the row locked FOR UPDATE (so no link can be added meanwhile) and no link found, the bytes
   are deleted, then the row. A crash after the bytes went leaves a `deleting` row, never a stored one without
   bytes; the next run finishes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, tuple_, update

from shipshape.metadata import conflicts
from shipshape.metadata.blob_links import DELETING, STORED
from shipshape.metadata.tables import blobs, manifest_blobs, repository_blobs, upload_sessions

Link = tuple[int, str]  # (repository id, digest)

_UNREFERENCED_LINK = ~exists().where(
    manifest_blobs.c.repository_id == repository_blobs.c.repository_id,
    manifest_blobs.c.digest == repository_blobs.c.digest,
)
_UNLINKED_BLOB = ~exists().where(repository_blobs.c.digest == blobs.c.digest)


def unreferenced_links(connection: Connection, before: datetime, after: Link | None, limit: int) -> list[Link]:
    """Links older than `before` that no manifest of their repository references, in key order after `after`."""
    statement = (
        select(repository_blobs.c.repository_id, repository_blobs.c.digest)
        .where(repository_blobs.c.created_at < before, _UNREFERENCED_LINK)
        .order_by(repository_blobs.c.repository_id, repository_blobs.c.digest)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(tuple_(repository_blobs.c.repository_id, repository_blobs.c.digest) > after)
    return [(int(repository_id), digest) for repository_id, digest in connection.execute(statement)]


def drop_unreferenced_links(connection: Connection, links: Sequence[Link], before: datetime) -> int:
    """Delete those of `links` still older than `before` and unreferenced; returns how many went."""
    if not links:
        return 0
    key = tuple_(repository_blobs.c.repository_id, repository_blobs.c.digest)
    deleted = connection.execute(
        delete(repository_blobs)
        .where(key.in_(links), repository_blobs.c.created_at < before)
        .returning(repository_blobs.c.repository_id, repository_blobs.c.digest, repository_blobs.c.created_at)
    ).all()
    if not deleted:
        return 0
    # Check after: a manifest that referenced one of them committed while the delete waited for its lock.
    referenced = {
        (repository_id, digest)
        for repository_id, digest in connection.execute(
            select(manifest_blobs.c.repository_id, manifest_blobs.c.digest).where(
                tuple_(manifest_blobs.c.repository_id, manifest_blobs.c.digest).in_(
                    [(row.repository_id, row.digest) for row in deleted]
                )
            )
        )
    }
    restore = [
        {"repository_id": row.repository_id, "digest": row.digest, "created_at": row.created_at}
        for row in deleted
        if (row.repository_id, row.digest) in referenced
    ]
    if restore:
        connection.execute(insert(repository_blobs), restore)
    return len(deleted) - len(restore)


def unlinked_blobs(connection: Connection, after: str | None, limit: int) -> list[tuple[str, int]]:
    """Stored blobs no repository links (digest, size), in digest order after `after`."""
    statement = (
        select(blobs.c.digest, blobs.c.size)
        .where(blobs.c.state == STORED, _UNLINKED_BLOB)
        .order_by(blobs.c.digest)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(blobs.c.digest > after)
    return [(digest, int(size)) for digest, size in connection.execute(statement)]


def mark_unlinked_blobs(connection: Connection, digests: Sequence[str]) -> list[str]:
    """Mark those of `digests` that are still stored and unlinked `deleting`; returns the marked ones."""
    if not digests:
        return []
    marked = set(
        connection.scalars(
            update(blobs)
            .where(blobs.c.digest.in_(digests), blobs.c.state == STORED, _UNLINKED_BLOB)
            .values(state=DELETING)
            .returning(blobs.c.digest)
        )
    )
    # Check after: a mount or promotion that linked one committed while the update waited for its lock.
    linked = set(connection.scalars(select(repository_blobs.c.digest).where(repository_blobs.c.digest.in_(marked))))
    if linked:
        connection.execute(update(blobs).where(blobs.c.digest.in_(linked)).values(state=STORED))
    return sorted(marked - linked)


def deleting_blobs(connection: Connection, after: str | None, limit: int) -> list[tuple[str, int]]:
    """Blobs marked `deleting` (digest, size), by this run or a run that crashed, in digest order after `after`."""
    statement = select(blobs.c.digest, blobs.c.size).where(blobs.c.state == DELETING).order_by(blobs.c.digest)
    if after is not None:
        statement = statement.where(blobs.c.digest > after)
    return [(digest, int(size)) for digest, size in connection.execute(statement.limit(limit))]


def forget_blob(connection: Connection, digest: str, delete_bytes: Callable[[], None]) -> bool:
    """Delete the bytes, then the row, of a blob still marked `deleting` and unlinked; False if it no longer is."""
    state = connection.execute(
        select(blobs.c.state).where(blobs.c.digest == digest).with_for_update()
    ).scalar_one_or_none()
    if state != DELETING:
        return False  # revived by an upload, or forgotten by another run
    if connection.execute(select(exists().where(repository_blobs.c.digest == digest))).scalar_one():
        # Never expected (every link path refuses a blob being deleted); keep it rather than lose it.
        connection.execute(update(blobs).where(blobs.c.digest == digest).values(state=STORED))
        return False
    delete_bytes()
    connection.execute(delete(blobs).where(blobs.c.digest == digest))
    return True


def known_blobs(connection: Connection, digests: Sequence[str]) -> set[str]:
    """Which of `digests` have a row (stored or deleting)."""
    if not digests:
        return set()
    return set(connection.scalars(select(blobs.c.digest).where(blobs.c.digest.in_(digests))))


def known_uploads(connection: Connection, upload_ids: Sequence[str]) -> set[str]:
    """Which of `upload_ids` are sessions in progress."""
    if not upload_ids:
        return set()
    return set(connection.scalars(select(upload_sessions.c.id).where(upload_sessions.c.id.in_(upload_ids))))


def adopt_orphans(connection: Connection, found: Sequence[tuple[str, int]], now: datetime) -> list[str]:
    """Record bytes no row knows (left by a crash) as `deleting`, so that `forget_blob` takes them with the row
    locked: an upload committing the same digest concurrently then revives the row instead of losing its bytes."""
    adopted = []
    for digest, size in found:
        inserted = connection.execute(
            conflicts.insert(connection, blobs)
            .values(digest=digest, size=size, created_at=now, state=DELETING)
            .on_conflict_do_nothing()
            .returning(blobs.c.digest)
        ).scalar_one_or_none()
        if inserted is not None:
            adopted.append(inserted)
    return adopted


def collectable(connection: Connection, before: datetime) -> tuple[int, int]:
    """How many blobs a run with cutoff `before` would delete, and their bytes (without orphaned bytes)."""
    link = repository_blobs.alias("link")
    kept_link = exists().where(
        link.c.digest == blobs.c.digest,
        or_(
            link.c.created_at >= before,
            exists().where(
                manifest_blobs.c.repository_id == link.c.repository_id, manifest_blobs.c.digest == link.c.digest
            ),
        ),
    )
    count, size = connection.execute(
        select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)).where(
            or_(blobs.c.state == DELETING, and_(blobs.c.state == STORED, ~kept_link))
        )
    ).one()
    return int(count), int(size)
