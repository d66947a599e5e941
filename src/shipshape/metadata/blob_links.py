"""SQL for blobs and their links into repositories: a repository may serve only the blobs linked into it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select, update

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


# Makes an upload's bytes the blob's, inside the transaction that records the blob (see `link`).
CommitBytes = Callable[[], None]
STORED, DELETING = "stored", "deleting"
_LINK_ATTEMPTS = 3


def link(
    connection: Connection, repository: str, digest: str, size: int, now: datetime, commit: CommitBytes | None = None
) -> None:
    """Record blob `digest` (if new) and link it into `repository` (created if new), marking the link fresh; doing
    it again changes nothing else.

    `commit` puts an upload's bytes in place. It is called with the blob's row locked whenever the bytes may be
    missing: the blob is new, or garbage collection had marked it for deletion (and may have deleted its bytes).
    Garbage collection deletes bytes only with the row locked and marked `deleting` (`shipshape.metadata.garbage`),
    so whichever of the two locks the row first, the bytes are there when this transaction commits. Without
    `commit` the caller vouches that the bytes are stored.
    """
    for _ in range(_LINK_ATTEMPTS):
        created = connection.execute(
            conflicts.insert(connection, blobs)
            .values(digest=digest, size=size, created_at=now, state=STORED)
            .on_conflict_do_nothing()
            .returning(blobs.c.digest)
        ).scalar_one_or_none()
        state = STORED if created is not None else _locked_state(connection, digest, share=False)
        if state == DELETING:
            connection.execute(update(blobs).where(blobs.c.digest == digest).values(state=STORED))
        if state is not None:
            if (created is not None or state == DELETING) and commit is not None:
                commit()
            _link_row(connection, repository, digest, now)
            return
        # The row vanished between the INSERT that found it and the SELECT (garbage collection committed): again.
    raise Conflict(f"blob {digest} is being garbage-collected while pushed: retry the push", detail={"digest": digest})


def link_stored(connection: Connection, repository: str, digest: str, now: datetime) -> None:
    """Link a blob that is stored already into `repository` (a mount, a promotion); `BlobUnknown` when it is not
    (garbage collection is deleting it)."""
    # FOR SHARE: garbage collection's FOR UPDATE waits for this transaction, and then sees the new link.
    if _locked_state(connection, digest, share=True) != STORED:
        raise BlobUnknown(
            f"blob {digest} is not stored (garbage collection is removing it): push it again",
            detail={"digest": digest},
        )
    _link_row(connection, repository, digest, now)


def _locked_state(connection: Connection, digest: str, *, share: bool) -> str | None:
    """The blob's state, its row locked against garbage collection's FOR UPDATE: FOR SHARE, or FOR NO KEY UPDATE
    when the caller may change the state (PostgreSQL; SQLite's writers take turns anyway).

    Never plain FOR UPDATE: a manifest being pushed holds its links FOR SHARE and then takes FOR KEY SHARE on the
    blobs it references (the foreign key check). An upload holding FOR UPDATE on a blob while it refreshes a link
    that manifest holds would wait for the manifest, which waits for it: a deadlock. FOR NO KEY UPDATE does not
    block the key share, so the manifest commits and the upload goes on."""
    return connection.execute(
        select(blobs.c.state).where(blobs.c.digest == digest).with_for_update(read=share, key_share=not share)
    ).scalar_one_or_none()


def _link_row(connection: Connection, repository: str, digest: str, now: datetime) -> None:
    repository_id = repositories.ensure(connection, repository)
    connection.execute(
        conflicts.insert(connection, repository_blobs)
        .values(repository_id=repository_id, digest=digest, created_at=now)
        .on_conflict_do_update(index_elements=["repository_id", "digest"], set_={"created_at": now})
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
