"""SQL for repositories: created on first use, listed while they hold a manifest."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, exists, select

from shipshape.metadata import conflicts
from shipshape.metadata.statements import Statement
from shipshape.metadata.tables import manifests, repositories

_ID = Statement(select(repositories.c.id).where(repositories.c.name == bindparam("name")))
_CREATE = Statement(conflicts.per_dialect(lambda insert: insert(repositories).on_conflict_do_nothing()), ["name"])

# A repository row outlives its content (rows are never deleted, so ids stay stable under concurrency);
# it counts as existing only while it holds a manifest. Blobs alone (a push in progress, or what a deleted image
# left for garbage collection) do not make it appear in the catalog.
HOLDS_CONTENT = exists().where(manifests.c.repository_id == repositories.c.id)
_EXISTS = select(exists().where(repositories.c.name == bindparam("name"), HOLDS_CONTENT))
_NAMES = select(repositories.c.name).where(HOLDS_CONTENT).order_by(repositories.c.name)


def id_of(connection: Connection, name: str) -> int | None:
    """The id of repository `name`, or None if it was never used."""
    found = _ID.scalar(connection, {"name": name})
    return None if found is None else int(found)


def ensure(connection: Connection, name: str) -> int:
    """The id of repository `name`, created if new (safe when another transaction creates it too)."""
    found = id_of(connection, name)
    if found is not None:
        return found
    _CREATE.run(connection, {"name": name})
    return int(_ID.scalar(connection, {"name": name}))


def holds_content(connection: Connection, name: str) -> bool:
    """Whether repository `name` holds a manifest."""
    return bool(connection.execute(_EXISTS, {"name": name}).scalar_one())


def list_names(connection: Connection, last: str | None, limit: int) -> list[str]:
    """Names of repositories holding something, in byte order, after `last`, at most `limit`."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    statement = _NAMES.limit(limit)
    if last is not None:
        statement = statement.where(repositories.c.name > last)
    return list(connection.scalars(statement))
