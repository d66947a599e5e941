"""SQL for the inventory of a registry or repository: every manifest with its tags, references and pulls, read in
a few set queries (no query per manifest), for listings and retention."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select

from shipshape.domain.records import StoredImage
from shipshape.metadata.registries import in_registry
from shipshape.metadata.tables import manifest_blobs, manifest_children, manifests, repositories, tags


def images(connection: Connection, registry: str, repository: str | None = None) -> list[StoredImage]:
    """Every manifest of `registry` (or only of its repository `repository`, a full path), by repository, then
    newest first."""
    scope: ColumnElement[bool] = (
        repositories.c.name == repository if repository is not None else in_registry(repositories.c.name, registry)
    )
    rows = connection.execute(
        select(
            manifests.c.id, repositories.c.name, manifests.c.digest, manifests.c.media_type, manifests.c.created_at,
            manifests.c.pull_count, manifests.c.last_pulled_at, manifests.c.subject_digest,
        )
        .join_from(manifests, repositories, repositories.c.id == manifests.c.repository_id)
        .where(scope)
    ).all()  # fmt: skip
    if not rows:
        return []
    in_scope = select(repositories.c.id).where(scope)
    tagged: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
    for name, tag, digest, updated in connection.execute(
        select(repositories.c.name, tags.c.name, tags.c.manifest_digest, tags.c.updated_at)
        .join_from(tags, repositories, repositories.c.id == tags.c.repository_id)
        .where(tags.c.repository_id.in_(in_scope))
    ):
        tagged[(name, digest)].append((tag, updated))
    referenced: dict[int, dict[str, int]] = defaultdict(dict)
    for manifest_id, digest, size in connection.execute(
        # One scan of the covering index (see the table), no lookup per blob.
        select(manifest_blobs.c.manifest_id, manifest_blobs.c.digest, manifest_blobs.c.size).where(
            manifest_blobs.c.repository_id.in_(in_scope)
        )
    ):
        referenced[manifest_id][digest] = int(size)
    listed: dict[int, list[str]] = defaultdict(list)
    for manifest_id, child in connection.execute(
        select(manifest_children.c.manifest_id, manifest_children.c.child_digest).where(
            manifest_children.c.repository_id.in_(in_scope)
        )
    ):
        listed[manifest_id].append(child)
    found = []
    for manifest_id, name, digest, media_type, created_at, pull_count, last_pulled_at, subject in rows:
        its_tags = tagged.get((name, digest), [])
        found.append(
            StoredImage(
                repository=name,
                digest=digest,
                media_type=media_type,
                tags=tuple(sorted(tag for tag, _ in its_tags)),
                pushed_at=created_at,
                tagged_at=max((updated for _, updated in its_tags), default=None),
                pull_count=int(pull_count),
                last_pulled_at=last_pulled_at,
                subject=subject,
                children=tuple(sorted(listed.get(manifest_id, []))),
                blobs=referenced.get(manifest_id, {}),
            )
        )
    found.sort(key=lambda image: (image.repository, -image.last_pushed_at.timestamp(), image.digest))
    return found


def blobs_referenced_outside(connection: Connection, registry: str, digests: list[str]) -> set[str]:
    """Which of `digests` a manifest outside `registry` references (deleting the registry's would not free them)."""
    outside = select(repositories.c.id).where(~in_registry(repositories.c.name, registry))
    found: set[str] = set()
    for start in range(0, len(digests), 500):
        found |= set(
            connection.scalars(
                select(manifest_blobs.c.digest)
                .where(
                    manifest_blobs.c.digest.in_(digests[start : start + 500]),
                    manifest_blobs.c.repository_id.in_(outside),
                )
                .distinct()
            )
        )
    return found
