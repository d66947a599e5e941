"""SQL for manifests and what they reference: blobs (image manifests), child manifests (indexes), a subject."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, and_, bindparam, delete, insert, select

from shipshape.domain.errors import ChildManifestUnknown, Conflict, ManifestBlobUnknown, ManifestUnknown
from shipshape.domain.manifests import Descriptor, Manifest
from shipshape.domain.records import ManifestDeletion, Provenance, StoredManifest
from shipshape.metadata import conflicts, repositories, tables, tags
from shipshape.metadata.statements import PerLength, Statement, names, values
from shipshape.metadata.tables import manifest_blobs, manifest_children, manifests, repository_blobs
from shipshape.ports import ManifestDeleteGuard, TaggingGuard, TagMoveGuard

_COLUMNS = (
    manifests.c.digest,
    manifests.c.media_type,
    manifests.c.payload,
    manifests.c.artifact_type,
    manifests.c.subject_digest,
    manifests.c.annotations,
    manifests.c.created_at,
)
# The two reads of every pull, one indexed query each; `hot_reads` runs them.
BY_DIGEST = (
    select(*_COLUMNS)
    .join_from(manifests, tables.repositories, tables.repositories.c.id == manifests.c.repository_id)
    .where(tables.repositories.c.name == bindparam("repository"), manifests.c.digest == bindparam("digest"))
)
BY_TAG = (
    select(*_COLUMNS)
    .select_from(
        tables.tags.join(tables.repositories, tables.repositories.c.id == tables.tags.c.repository_id).join(
            manifests,
            and_(
                manifests.c.repository_id == tables.tags.c.repository_id,
                manifests.c.digest == tables.tags.c.manifest_digest,
            ),
        )
    )
    .where(tables.repositories.c.name == bindparam("repository"), tables.tags.c.name == bindparam("tag"))
)
_BY_SUBJECT = (
    select(*_COLUMNS)
    .join_from(manifests, tables.repositories, tables.repositories.c.id == manifests.c.repository_id)
    .where(tables.repositories.c.name == bindparam("repository"), manifests.c.subject_digest == bindparam("subject"))
    .order_by(manifests.c.created_at, manifests.c.id)
)
_LISTING_INDEX = (
    select(manifests.c.digest)
    .join_from(manifest_children, manifests, manifests.c.id == manifest_children.c.manifest_id)
    .where(
        manifest_children.c.repository_id == bindparam("repository_id"),
        manifest_children.c.child_digest == bindparam("digest"),
    )
    .limit(1)
)
# A row may vanish between an INSERT that found it and the SELECT that reads its id (a concurrent delete
# committed in between); the INSERT is then tried again, a few times at most.
_INSERT_ATTEMPTS = 3


def referrers(connection: Connection, repository: str, subject: str) -> list[StoredManifest]:
    """Manifests of `repository` whose subject is `subject`, oldest first."""
    rows = connection.execute(_BY_SUBJECT, {"repository": repository, "subject": subject})
    return [stored(repository, row) for row in rows]


def put(
    connection: Connection,
    repository: str,
    manifest: Manifest,
    tag: str | None,
    now: datetime,
    provenance: Provenance | None = None,
    may_move_tag: TagMoveGuard | None = None,
    may_tag: TaggingGuard | None = None,
) -> None:
    """Store `manifest` unless it is stored already, then point `tag` at it; refuse dangling references."""
    repository_id = repositories.ensure(connection, repository)
    # The checks lock what they find (FOR SHARE on PostgreSQL; SQLite's write lock covers all), so a concurrent
    # unlink_blob or delete_manifest waits for this transaction and then sees the new references.
    _require_blobs(connection, repository, repository_id, manifest.blobs)
    _require_children(connection, repository, repository_id, manifest.children)
    _insert(connection, repository_id, manifest, now, provenance or Provenance())
    if tag is not None and may_tag is not None:
        # Locked FOR SHARE: deleting one of these referrers (a signature) waits for this push, then sees its tag.
        may_tag(_referrer_types(connection, repository_id, str(manifest.digest), lock=True))
    if tag is not None:
        tags.point(connection, repository_id, tag, str(manifest.digest), now, may_move_tag)


def remove(connection: Connection, repository: str, digest: str, may_delete: ManifestDeleteGuard | None = None) -> None:
    """Delete the manifest, its tags and its references; refuse while an index of the repository lists it, or
    when `may_delete`, shown what the deletion changes, raises."""
    repository_id = repositories.id_of(connection, repository)
    deleted = None
    tagged: list[str] = []
    if repository_id is not None and may_delete is not None:
        # Lock the manifest first: a push tagging it holds it FOR SHARE until it commits, so the tags read next
        # include that push's tag (on PostgreSQL; SQLite's write lock already serialises the two).
        connection.execute(
            select(manifests.c.id)
            .where(manifests.c.repository_id == repository_id, manifests.c.digest == digest)
            .with_for_update()
        )
        tagged = tags.pointing_at(connection, repository_id, digest)
    if repository_id is not None:
        # Delete first, check after: the delete locks the row, so an index being pushed that lists it (and reads
        # it FOR SHARE) commits before the check below, and the check sees it. Tags and references cascade.
        deleted = connection.execute(
            delete(manifests)
            .where(manifests.c.repository_id == repository_id, manifests.c.digest == digest)
            .returning(manifests.c.artifact_type, manifests.c.subject_digest)
        ).first()
    if repository_id is None or deleted is None:
        raise ManifestUnknown(f"manifest {digest} is not in repository {repository}", detail={"digest": digest})
    index = connection.execute(_LISTING_INDEX, {"repository_id": repository_id, "digest": digest}).scalar()
    if index is not None:
        # Raising rolls the delete back.
        raise Conflict(
            f"manifest {digest} is listed by index {index} in repository {repository}: delete the index first",
            detail={"digest": digest, "index": index},
        )
    if may_delete is not None:
        artifact_type, subject = deleted
        may_delete(_deletion(connection, repository_id, digest, tagged, artifact_type, subject))


def _deletion(
    connection: Connection, repository_id: int, digest: str, tagged: list[str], artifact_type: str | None,
    subject: str | None,
) -> ManifestDeletion:  # fmt: skip
    """What deleting `digest` changes, read after its row is deleted (and locked): a push tagging its subject that
    read it FOR SHARE has committed by now, so its tag is seen."""
    if subject is None:
        return ManifestDeletion(digest, tagged, artifact_type, None)
    return ManifestDeletion(
        digest=digest,
        tags=tagged,
        artifact_type=artifact_type,
        subject=subject,
        subject_tags=tags.pointing_at(connection, repository_id, subject),
        other_referrer_types=_referrer_types(connection, repository_id, subject, lock=False),
    )


_REFERRER_TYPES = select(manifests.c.artifact_type).where(
    manifests.c.repository_id == bindparam("repository_id"), manifests.c.subject_digest == bindparam("subject")
)
_LOCKED_REFERRER_TYPES = Statement(_REFERRER_TYPES.with_for_update(read=True))


def _referrer_types(connection: Connection, repository_id: int, subject: str, *, lock: bool) -> list[str | None]:
    """The artifact types of the manifests whose subject is `subject`."""
    parameters = {"repository_id": repository_id, "subject": subject}
    if lock:
        return [row[0] for row in _LOCKED_REFERRER_TYPES.rows(connection, parameters)]
    return list(connection.scalars(_REFERRER_TYPES, parameters))


def _require_blobs(
    connection: Connection, repository: str, repository_id: int, descriptors: Sequence[Descriptor]
) -> None:
    missing = _first_missing(connection, _PRESENT_BLOBS, repository_id, descriptors)
    if missing is not None:
        raise ManifestBlobUnknown(
            f"manifest references blob {missing}, which is not in repository {repository}:"
            " push the blob (or mount it) before the manifest",
            detail={"digest": missing},
        )


def _require_children(
    connection: Connection, repository: str, repository_id: int, descriptors: Sequence[Descriptor]
) -> None:
    missing = _first_missing(connection, _PRESENT_MANIFESTS, repository_id, descriptors)
    if missing is not None:
        raise ChildManifestUnknown(
            f"index lists manifest {missing}, which is not in repository {repository}:"
            " push the manifests an index lists before the index",
            detail={"digest": missing},
        )


def _present(repository_column: ColumnElement[int], digest_column: ColumnElement[str]) -> PerLength:
    def build(length: int) -> Statement:
        listed = [bindparam(name, type_=digest_column.type) for name in names("digest", length)]
        return Statement(
            select(digest_column)
            .where(repository_column == bindparam("repository_id"), digest_column.in_(listed))
            .order_by(digest_column)
            .with_for_update(read=True)
        )

    return PerLength(build)


_PRESENT_BLOBS = _present(repository_blobs.c.repository_id, repository_blobs.c.digest)
_PRESENT_MANIFESTS = _present(manifests.c.repository_id, manifests.c.digest)


def _first_missing(
    connection: Connection, present: PerLength, repository_id: int, descriptors: Sequence[Descriptor]
) -> str | None:
    """The first digest of `descriptors` the repository lacks in `present`'s table, locking the rows it finds
    (FOR SHARE on PostgreSQL) so that a concurrent unlink or delete waits for this transaction."""
    wanted = _unique_digests(descriptors)
    if not wanted:
        return None
    parameters = {"repository_id": repository_id, **values("digest", wanted)}
    found = {row[0] for row in present(len(wanted)).rows(connection, parameters)}
    return next((digest for digest in wanted if digest not in found), None)


def _insert(
    connection: Connection, repository_id: int, manifest: Manifest, now: datetime, provenance: Provenance
) -> None:
    digest = str(manifest.digest)
    row = {
        "arrived_via": provenance.via.value,
        "arrived_by": provenance.actor,
        "arrived_credential": provenance.credential,
        "promoted_from": provenance.promoted_from,
        "built_by_ci": provenance.built_by_ci,
        "repository_id": repository_id,
        "digest": digest,
        "media_type": manifest.media_type,
        "artifact_type": manifest.artifact_type,
        "subject_digest": manifest.subject.digest if manifest.subject is not None else None,
        "annotations": manifest.annotations,
        "payload": manifest.payload,
        "created_at": now,
    }
    for _ in range(_INSERT_ATTEMPTS):
        inserted = _INSERT_MANIFEST.scalar(connection, row)
        if inserted is not None:
            _insert_references(connection, repository_id, int(inserted), manifest)
            return
        # Stored already (same digest): lock it so that a concurrent delete cannot remove it under the tag.
        if _EXISTING.scalar(connection, {"repository_id": repository_id, "digest": digest}) is not None:
            return
    raise Conflict(f"manifest {digest} is being deleted while pushed again: retry the push", detail={"digest": digest})


_MANIFEST_COLUMNS = [
    "arrived_via", "arrived_by", "arrived_credential", "promoted_from", "built_by_ci", "repository_id", "digest",
    "media_type", "artifact_type", "subject_digest", "annotations", "payload", "created_at",
]  # fmt: skip
_INSERT_MANIFEST = Statement(
    conflicts.per_dialect(lambda insert: insert(manifests).on_conflict_do_nothing().returning(manifests.c.id)),
    _MANIFEST_COLUMNS,
)
_EXISTING = Statement(
    select(manifests.c.id)
    .where(manifests.c.repository_id == bindparam("repository_id"), manifests.c.digest == bindparam("digest"))
    .with_for_update(read=True)
)


def _blob_references(length: int) -> Statement:
    # The sizes come from the blobs' rows (the descriptors' could lie); every blob has one, as it is linked.
    listed = [bindparam(name, type_=tables.blobs.c.digest.type) for name in names("digest", length)]
    return Statement(
        insert(manifest_blobs)
        .from_select(
            ["manifest_id", "repository_id", "digest", "size"],
            select(
                bindparam("manifest_id", type_=Integer),
                bindparam("repository_id", type_=Integer),
                tables.blobs.c.digest,
                tables.blobs.c.size,
            )
            .where(tables.blobs.c.digest.in_(listed))
            .order_by(tables.blobs.c.digest),
        )
        .returning(manifest_blobs.c.digest)
    )


_INSERT_BLOB_REFERENCES = PerLength(_blob_references)


def _insert_references(connection: Connection, repository_id: int, manifest_id: int, manifest: Manifest) -> None:
    digests = _unique_digests(manifest.blobs)
    if digests:
        parameters = {"manifest_id": manifest_id, "repository_id": repository_id, **values("digest", digests)}
        inserted = _INSERT_BLOB_REFERENCES(len(digests)).rows(connection, parameters)
        if len(inserted) != len(digests):
            raise Conflict(f"a blob of manifest {manifest.digest} was garbage-collected while pushed: retry the push")
    child_rows = [
        {"manifest_id": manifest_id, "repository_id": repository_id, "child_digest": digest}
        for digest in _unique_digests(manifest.children)
    ]
    if child_rows:
        connection.execute(insert(manifest_children), child_rows)


def _unique_digests(descriptors: Sequence[Descriptor]) -> list[str]:
    # A digest may appear twice (the OCI empty blob as config and layer); sorted, so locks are taken in one order.
    return sorted({descriptor.digest for descriptor in descriptors})


def stored(repository: str, row: Sequence[Any]) -> StoredManifest:
    """A row of `BY_TAG`, `BY_DIGEST` or the referrers query as a record."""
    digest, media_type, payload, artifact_type, subject, annotations, created_at = row
    return StoredManifest(
        repository=repository,
        digest=digest,
        media_type=media_type,
        payload=payload,
        artifact_type=artifact_type,
        subject=subject,
        annotations=dict(annotations),
        created_at=created_at,
    )
