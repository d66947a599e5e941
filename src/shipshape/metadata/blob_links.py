"""SQL for blobs and their links into repositories: a repository may serve only the blobs linked into it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select

from shipshape.domain.errors import BlobUnknown, Conflict
from shipshape.metadata import conflicts, repositories, tables
from shipshape.metadata.tables import blobs, manifest_blobs, manifests, repository_blobs

# The blob read of every pull, one indexed query; `hot_reads` runs it.
LINKED_SIZE = (
    select(blobs.c.size)
    .select_from(
        repository_blobs.join(tables.repositories, tables.repositories.c.id == repository_blobs.c.repository_id).join(
            blobs, blobs.c.digest == repository_blobs.c.digest
        )
    )
    .where(tables.repositories.c.name == bindparam("repository"), repository_blobs.c.digest == bindparam("digest"))
)
_REPOSITORIES_WITH = (
    select(tables.repositories.c.name)
    .join_from(repository_blobs, tables.repositories, tables.repositories.c.id == repository_blobs.c.repository_id)
    .where(repository_blobs.c.digest == bindparam("digest"))
    .order_by(tables.repositories.c.name)
    .limit(bindparam("limit"))
)
_REFERENCING_MANIFEST = (
    select(manifests.c.digest)
    .join_from(manifest_blobs, manifests, manifests.c.id == manifest_blobs.c.manifest_id)
    .where(manifest_blobs.c.repository_id == bindparam("repository_id"), manifest_blobs.c.digest == bindparam("digest"))
    .limit(1)
)


def repositories_with(connection: Connection, digest: str, limit: int) -> list[str]:
    """Repositories `digest` is linked into, in byte order, at most `limit`."""
    return list(connection.scalars(_REPOSITORIES_WITH, {"digest": digest, "limit": limit}))


def link(connection: Connection, repository: str, digest: str, size: int, now: datetime) -> None:
    """Record the blob if new and link it into `repository`; doing it again changes nothing."""
    connection.execute(
        conflicts.insert(connection, blobs).values(digest=digest, size=size, created_at=now).on_conflict_do_nothing()
    )
    repository_id = repositories.ensure(connection, repository)
    connection.execute(
        conflicts.insert(connection, repository_blobs)
        .values(repository_id=repository_id, digest=digest, created_at=now)
        .on_conflict_do_nothing()
    )


def unlink(connection: Connection, repository: str, digest: str) -> None:
    """Remove the link, refusing while a manifest of the repository references the blob."""
    repository_id = repositories.id_of(connection, repository)
    removed = 0
    if repository_id is not None:
        # Delete first, check after: the delete locks the link row, so a manifest being pushed that holds it
        # (put_manifest reads it FOR SHARE) commits before the check below, and the check sees it.
        removed = connection.execute(
            delete(repository_blobs).where(
                repository_blobs.c.repository_id == repository_id, repository_blobs.c.digest == digest
            )
        ).rowcount
    if not removed:
        raise BlobUnknown(f"blob {digest} is not in repository {repository}", detail={"digest": digest})
    referrer = connection.execute(
        _REFERENCING_MANIFEST, {"repository_id": repository_id, "digest": digest}
    ).scalar_one_or_none()
    if referrer is not None:
        # Raising rolls the delete back.
        raise Conflict(
            f"blob {digest} is referenced by manifest {referrer} in repository {repository}: delete the manifest first",
            detail={"digest": digest, "manifest": referrer},
        )
