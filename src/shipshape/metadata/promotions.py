"""SQL for promotion: the same manifests, by digest, in another repository, without copying a byte.

A promotion links the blobs into the target repository and stores the manifests there: the manifest itself, every
manifest an index lists (recursively), and the referrers (signatures, SBOMs, attestations) of all of them. All in
one transaction, so a refused or failed promotion leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from shipshape.domain.errors import ManifestUnknown, Unsupported
from shipshape.domain.manifests import parse_manifest
from shipshape.domain.records import Arrival, PromotedImage, Provenance
from shipshape.metadata import blob_links, manifests, repositories, tables, tags
from shipshape.ports import TagMoveGuard

MAX_PROMOTED_MANIFESTS = 1000  # an index with its images and their referrers; far beyond any real image


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    digest: str
    media_type: str
    payload: bytes
    built_by_ci: bool


def promote(
    connection: Connection,
    source: str,
    digest: str,
    target: str,
    tag: str | None,
    now: datetime,
    provenance: Provenance,
    may_move_tag: TagMoveGuard | None,
) -> PromotedImage:
    """Put `source@digest` (with its children and referrers) into `target` and point `tag` at it."""
    source_id = repositories.id_of(connection, source)
    root = _manifest(connection, source_id, digest) if source_id is not None else None
    if source_id is None or root is None:
        raise ManifestUnknown(f"manifest {digest} is not in repository {source}", detail={"digest": digest})
    closure = _closure(connection, source_id, root)
    blobs = _blobs(connection, [stored.id for stored in closure])
    for blob, _size in blobs:
        blob_links.link_stored(connection, target, blob, now)
    for stored in closure:
        arrival = Provenance(
            via=Arrival.PROMOTION,
            actor=provenance.actor,
            credential=provenance.credential,
            promoted_from=f"{source}@{stored.digest}",
            built_by_ci=stored.built_by_ci,  # CI built it, whoever promotes it
        )
        manifest = parse_manifest(stored.payload, stored.media_type, stored.digest.partition(":")[0])
        manifests.put(connection, target, manifest, None, now, arrival)
    if tag is not None:
        target_id = repositories.ensure(connection, target)
        tags.point(connection, target_id, tag, digest, now, may_move_tag)
    return PromotedImage(digest=digest, manifests=len(closure), blobs=len(blobs))


def _closure(connection: Connection, repository_id: int, root: _Stored) -> list[_Stored]:
    """`root`, the manifests it lists and the referrers of each, in an order the target accepts: listed manifests
    before the index that lists them."""
    ordered: list[_Stored] = []
    seen: set[str] = set()

    def visit(stored: _Stored) -> None:
        if stored.digest in seen:
            return
        seen.add(stored.digest)
        if len(seen) > MAX_PROMOTED_MANIFESTS:
            raise Unsupported(f"the image has more than {MAX_PROMOTED_MANIFESTS} manifests; promote it in parts")
        for child in _children(connection, repository_id, stored.id):
            visit(child)
        ordered.append(stored)
        for referrer in _referrers(connection, repository_id, stored.digest):
            visit(referrer)

    visit(root)
    return ordered


_SELECT = select(
    tables.manifests.c.id,
    tables.manifests.c.digest,
    tables.manifests.c.media_type,
    tables.manifests.c.payload,
    tables.manifests.c.built_by_ci,
)


def _manifest(connection: Connection, repository_id: int, digest: str) -> _Stored | None:
    row = connection.execute(
        _SELECT.where(tables.manifests.c.repository_id == repository_id, tables.manifests.c.digest == digest)
    ).first()
    return None if row is None else _Stored(*row)


def _children(connection: Connection, repository_id: int, manifest_id: int) -> list[_Stored]:
    children = tables.manifest_children
    rows = connection.execute(
        _SELECT.join(
            children,
            (children.c.repository_id == tables.manifests.c.repository_id)
            & (children.c.child_digest == tables.manifests.c.digest),
        )
        .where(children.c.manifest_id == manifest_id, tables.manifests.c.repository_id == repository_id)
        .order_by(tables.manifests.c.digest)
    )
    return [_Stored(*row) for row in rows]


def _referrers(connection: Connection, repository_id: int, subject: str) -> list[_Stored]:
    rows = connection.execute(
        _SELECT.where(
            tables.manifests.c.repository_id == repository_id, tables.manifests.c.subject_digest == subject
        ).order_by(tables.manifests.c.created_at, tables.manifests.c.id)
    )
    return [_Stored(*row) for row in rows]


def _blobs(connection: Connection, manifest_ids: list[int]) -> list[tuple[str, int]]:
    """The distinct blobs (digest, size) the manifests reference."""
    rows = connection.execute(
        select(tables.blobs.c.digest, tables.blobs.c.size)
        .join(tables.manifest_blobs, tables.manifest_blobs.c.digest == tables.blobs.c.digest)
        .where(tables.manifest_blobs.c.manifest_id.in_(manifest_ids))
        .distinct()
        .order_by(tables.blobs.c.digest)
    )
    return [(digest, size) for digest, size in rows]
