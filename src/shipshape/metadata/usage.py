"""SQL for storage usage: an account's distinct blobs and manifests over its registries, what one repository or
registry holds, the daily snapshots, and the alert level already raised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import ColumnElement, Connection, false, func, or_, select, update

from shipshape.domain.usage import Usage, UsageSnapshot
from shipshape.metadata import conflicts
from shipshape.metadata.registries import in_registry
from shipshape.metadata.tables import accounts, blobs, manifests, repositories, repository_blobs, usage_snapshots


def _in_any(registries: Sequence[str]) -> ColumnElement[bool]:
    if not registries:
        return false()
    return or_(*(in_registry(repositories.c.name, registry) for registry in registries))


def usage(connection: Connection, registries: Sequence[str]) -> Usage:
    """What `registries` hold together: each distinct blob and each distinct manifest once."""
    repository_ids = select(repositories.c.id).where(_in_any(registries))
    linked = select(repository_blobs.c.digest).where(repository_blobs.c.repository_id.in_(repository_ids))
    blob_count, blob_bytes = connection.execute(
        select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)).where(blobs.c.digest.in_(linked))
    ).one()
    distinct_manifests = (
        select(manifests.c.digest, func.max(func.length(manifests.c.payload)).label("size"))
        .where(manifests.c.repository_id.in_(repository_ids))
        .group_by(manifests.c.digest)
        .subquery()
    )
    manifest_count, manifest_bytes = connection.execute(
        select(func.count(), func.coalesce(func.sum(distinct_manifests.c.size), 0))
    ).one()
    return Usage(int(blob_bytes), int(blob_count), int(manifest_bytes), int(manifest_count))


def blob_counted(connection: Connection, registries: Sequence[str], digest: str) -> bool:
    """Whether a repository of `registries` links `digest` already (then storing it there again costs nothing)."""
    found = connection.execute(
        select(repositories.c.name)
        .join_from(repository_blobs, repositories, repositories.c.id == repository_blobs.c.repository_id)
        .where(repository_blobs.c.digest == digest, _in_any(registries))
        .limit(1)
    ).first()
    return found is not None


def manifest_counted(connection: Connection, registries: Sequence[str], digest: str) -> bool:
    found = connection.execute(
        select(repositories.c.name)
        .join_from(manifests, repositories, repositories.c.id == manifests.c.repository_id)
        .where(manifests.c.digest == digest, _in_any(registries))
        .limit(1)
    ).first()
    return found is not None


def linked_blobs(connection: Connection, registries: Sequence[str]) -> list[tuple[str, str, int]]:
    """(repository, digest, size) of every blob link in `registries`."""
    rows = connection.execute(
        select(repositories.c.name, blobs.c.digest, blobs.c.size)
        .join_from(repository_blobs, repositories, repositories.c.id == repository_blobs.c.repository_id)
        .join(blobs, blobs.c.digest == repository_blobs.c.digest)
        .where(_in_any(registries))
    )
    return [(name, digest, int(size)) for name, digest, size in rows]


def manifest_sizes(connection: Connection, registries: Sequence[str]) -> list[tuple[str, str, int]]:
    """(repository, digest, size of the manifest document) of every manifest in `registries`."""
    rows = connection.execute(
        select(repositories.c.name, manifests.c.digest, func.length(manifests.c.payload))
        .join_from(manifests, repositories, repositories.c.id == manifests.c.repository_id)
        .where(_in_any(registries))
    )
    return [(name, digest, int(size)) for name, digest, size in rows]


def record_snapshots(connection: Connection, account: str, day: date, totals: Mapping[str, int]) -> None:
    """The day's usage of `account` (key "") and of each registry; a later snapshot the same day replaces it."""
    for registry, used in totals.items():
        statement = conflicts.insert(connection, usage_snapshots).values(
            account=account, registry=registry, day=day, bytes=used
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[usage_snapshots.c.account, usage_snapshots.c.registry, usage_snapshots.c.day],
                set_={"bytes": statement.excluded.bytes},
            )
        )


def snapshots(connection: Connection, account: str, registry: str, since: date) -> list[UsageSnapshot]:
    rows = connection.execute(
        select(usage_snapshots.c.day, usage_snapshots.c.registry, usage_snapshots.c.bytes)
        .where(
            usage_snapshots.c.account == account,
            usage_snapshots.c.registry == registry,
            usage_snapshots.c.day >= since,
        )
        .order_by(usage_snapshots.c.day)
    )
    return [UsageSnapshot(day, name, int(used)) for day, name, used in rows]


def raise_alert_level(connection: Connection, account: str, level: int) -> bool:
    """Set the account's alert level to `level` if it was lower; True when it was (the alert is new)."""
    changed = connection.execute(
        update(accounts)
        .where(accounts.c.name == account, accounts.c.usage_alert_level < level)
        .values(usage_alert_level=level)
    ).rowcount
    return bool(changed)


def lower_alert_level(connection: Connection, account: str, level: int) -> None:
    """Usage fell: the alerts above `level` may be raised again."""
    connection.execute(
        update(accounts)
        .where(accounts.c.name == account, accounts.c.usage_alert_level > level)
        .values(usage_alert_level=level)
    )
