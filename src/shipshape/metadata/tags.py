"""SQL for tags: names in a repository pointing at one of its manifests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from shipshape.domain.errors import ManifestUnknown
from shipshape.metadata import conflicts, repositories, tables
from shipshape.metadata.tables import tags


def point(connection: Connection, repository_id: int, tag: str, digest: str, now: datetime) -> None:
    """Point `tag` at manifest `digest`, creating the tag or moving it."""
    statement = conflicts.insert(connection, tags).values(
        repository_id=repository_id, name=tag, manifest_digest=digest, updated_at=now
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[tags.c.repository_id, tags.c.name],
            set_={"manifest_digest": statement.excluded.manifest_digest, "updated_at": statement.excluded.updated_at},
            # updated_at says when the tag last moved: pushing the same digest again is not a move.
            where=tags.c.manifest_digest != statement.excluded.manifest_digest,
        )
    )


def remove(connection: Connection, repository: str, tag: str) -> None:
    """Delete the tag, not its manifest."""
    repository_id = repositories.id_of(connection, repository)
    removed = 0
    if repository_id is not None:
        removed = connection.execute(
            delete(tags).where(tags.c.repository_id == repository_id, tags.c.name == tag)
        ).rowcount
    if not removed:
        raise ManifestUnknown(f"tag {tag} is not in repository {repository}", detail={"tag": tag})


def list_names(connection: Connection, repository: str, last: str | None, limit: int | None) -> list[str]:
    """Tags of `repository` in byte order, after `last`, at most `limit` (None: all)."""
    statement = (
        select(tags.c.name)
        .join_from(tags, tables.repositories, tables.repositories.c.id == tags.c.repository_id)
        .where(tables.repositories.c.name == repository)
        .order_by(tags.c.name)
    )
    if last is not None:
        statement = statement.where(tags.c.name > last)
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        statement = statement.limit(limit)
    return list(connection.scalars(statement))
