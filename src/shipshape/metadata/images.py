"""SQL for showing an image: the manifest with its provenance and tags, and the manifests an index lists."""

from __future__ import annotations

from sqlalchemy import Connection, and_, select

from shipshape.domain.names import Reference
from shipshape.domain.records import Arrival, Provenance, Pulls, StoredManifest
from shipshape.metadata import manifests, pulls
from shipshape.metadata.tables import manifest_children, repositories, tags
from shipshape.metadata.tables import manifests as table
from shipshape.ports import ImageRecord

# The columns `manifests.stored` reads, in its order.
_MANIFEST = (
    table.c.digest,
    table.c.media_type,
    table.c.payload,
    table.c.artifact_type,
    table.c.subject_digest,
    table.c.annotations,
    table.c.created_at,
)
_PROVENANCE = (
    table.c.arrived_via,
    table.c.arrived_by,
    table.c.arrived_credential,
    table.c.promoted_from,
    table.c.built_by_ci,
)
# One indexed lookup each: repositories by name, manifests by (repository_id, digest), tags by primary key.
_PULLS = (table.c.pull_count, table.c.last_pulled_at)
_IN_REPOSITORY = select(table.c.repository_id, table.c.id, *_MANIFEST, *_PROVENANCE, *_PULLS).join_from(
    table, repositories, repositories.c.id == table.c.repository_id
)
_BY_TAG = _IN_REPOSITORY.join(
    tags, and_(tags.c.repository_id == table.c.repository_id, tags.c.manifest_digest == table.c.digest)
)
_parent = table.alias("parent")
# The index by (repository_id, digest), its children by manifest_id, each child by (repository_id, digest).
_CHILDREN = (
    select(*_MANIFEST)
    .select_from(
        _parent.join(repositories, repositories.c.id == _parent.c.repository_id)
        .join(manifest_children, manifest_children.c.manifest_id == _parent.c.id)
        .join(
            table,
            and_(
                table.c.repository_id == manifest_children.c.repository_id,
                table.c.digest == manifest_children.c.child_digest,
            ),
        )
    )
    .order_by(table.c.digest)
)


def record(connection: Connection, repository: str, reference: Reference) -> ImageRecord | None:
    """The manifest `reference` names in `repository`, with its provenance and the tags pointing at it."""
    if reference.digest is not None:
        query = _IN_REPOSITORY.where(repositories.c.name == repository, table.c.digest == str(reference.digest))
    else:
        query = _BY_TAG.where(repositories.c.name == repository, tags.c.name == reference.tag)
    row = connection.execute(query).first()
    if row is None:
        return None
    repository_id, manifest_id, *columns = row
    stored = manifests.stored(repository, columns[: len(_MANIFEST)])
    via, actor, credential, promoted_from, built_by_ci, pull_count, last_pulled_at = columns[len(_MANIFEST) :]
    names = connection.scalars(
        select(tags.c.name)
        .where(tags.c.repository_id == repository_id, tags.c.manifest_digest == stored.digest)
        .order_by(tags.c.name)
    )
    return ImageRecord(
        manifest=stored,
        provenance=Provenance(Arrival(via), actor, credential, promoted_from, bool(built_by_ci)),
        tags=tuple(names),
        pulls=Pulls(int(pull_count), last_pulled_at, tuple(pulls.pullers(connection, manifest_id))),
    )


def children(connection: Connection, repository: str, digest: str) -> list[StoredManifest]:
    """The manifests index `digest` lists that `repository` stores (all of them: an index is refused otherwise)."""
    rows = connection.execute(_CHILDREN.where(repositories.c.name == repository, _parent.c.digest == digest))
    return [manifests.stored(repository, row) for row in rows]
