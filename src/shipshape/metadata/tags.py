"""SQL for tags: names in a repository pointing at one of its manifests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Executable, bindparam, delete, select, update

from shipshape.domain.errors import Conflict, ManifestUnknown
from shipshape.metadata import conflicts, repositories, tables
from shipshape.metadata.statements import Statement
from shipshape.metadata.tables import tags
from shipshape.ports import TagMoveGuard


def _upsert(insert: conflicts.InsertFactory) -> Executable:
    statement = insert(tags)  # the values are the parameters of each execution
    return statement.on_conflict_do_update(
        index_elements=[tags.c.repository_id, tags.c.name],
        set_={"manifest_digest": statement.excluded.manifest_digest, "updated_at": statement.excluded.updated_at},
        # updated_at says when the tag last moved: pushing the same digest again is not a move.
        where=tags.c.manifest_digest != statement.excluded.manifest_digest,
    )


_COLUMNS = ["repository_id", "name", "manifest_digest", "updated_at"]
_UPSERT = Statement(conflicts.per_dialect(_upsert), _COLUMNS)
_INSERT_NEW = Statement(
    conflicts.per_dialect(lambda insert: insert(tags).on_conflict_do_nothing().returning(tags.c.name)), _COLUMNS
)
_CURRENT = Statement(
    select(tags.c.manifest_digest)
    .where(tags.c.repository_id == bindparam("repository_id"), tags.c.name == bindparam("name"))
    .with_for_update()
)
_MOVE = Statement(  # its parameters are not named after columns: in an UPDATE those names are SQLAlchemy's
    update(tags)
    .where(tags.c.repository_id == bindparam("in_repository"), tags.c.name == bindparam("tag"))
    .values(manifest_digest=bindparam("new_digest"), updated_at=bindparam("moved_at", type_=tags.c.updated_at.type))
)


def point(
    connection: Connection,
    repository_id: int,
    tag: str,
    digest: str,
    now: datetime,
    may_move: TagMoveGuard | None = None,
) -> None:
    """Point `tag` at manifest `digest`, creating the tag or moving it; a move is first shown to `may_move`."""
    row = {"repository_id": repository_id, "name": tag, "manifest_digest": digest, "updated_at": now}
    if may_move is None:
        _UPSERT.run(connection, row)
        return
    # Insert if absent, else lock the tag and let the guard judge the move: two pushes racing to set a new
    # tag cannot both win, because the second one finds the first one's row.
    if _INSERT_NEW.first(connection, row) is not None:
        return
    current = _CURRENT.scalar(connection, row)
    if current is None:
        raise Conflict(f"tag {tag} was deleted while this push moved it: retry the push", detail={"tag": tag})
    if current == digest:
        return
    may_move(current)
    _MOVE.run(connection, {"in_repository": repository_id, "tag": tag, "new_digest": digest, "moved_at": now})


def pointing_at(connection: Connection, repository_id: int, digest: str) -> list[str]:
    """The tags pointing at manifest `digest`, locked until the transaction ends (FOR UPDATE on PostgreSQL)."""
    return list(
        connection.scalars(
            select(tags.c.name)
            .where(tags.c.repository_id == repository_id, tags.c.manifest_digest == digest)
            .order_by(tags.c.name)
            .with_for_update()
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
