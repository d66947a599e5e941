"""SQL for pull tracking: counts and last-pulled times per manifest and per puller, written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, case, literal, select, tuple_, update

from shipshape.domain.records import PullCount, PullTally
from shipshape.metadata import conflicts
from shipshape.metadata.tables import UtcDateTime, manifest_pulls, manifests, repositories

# Written in one statement per this many distinct (repository, digest) keys.
_CHUNK = 500


def record(connection: Connection, tallies: Sequence[PullTally]) -> int:
    """Add `tallies` to the manifests' totals and their pullers' rows; a manifest deleted meanwhile is skipped.
    Returns how many tallies found their manifest."""
    recorded = 0
    for start in range(0, len(tallies), _CHUNK):
        chunk = tallies[start : start + _CHUNK]
        ids = _manifest_ids(connection, {(tally.repository, tally.digest) for tally in chunk})
        for tally in chunk:
            manifest_id = ids.get((tally.repository, tally.digest))
            if manifest_id is None:
                continue
            recorded += 1
            _add(connection, manifest_id, tally)
    return recorded


def _manifest_ids(connection: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    rows = connection.execute(
        select(repositories.c.name, manifests.c.digest, manifests.c.id)
        .join_from(manifests, repositories, repositories.c.id == manifests.c.repository_id)
        .where(tuple_(repositories.c.name, manifests.c.digest).in_(sorted(keys)))
    )
    return {(name, digest): int(manifest_id) for name, digest, manifest_id in rows}


def _later(column: ColumnElement[datetime], moment: datetime) -> ColumnElement[datetime]:
    """The later of `column` (NULL: never) and `moment`."""
    at = literal(moment, UtcDateTime())
    return case((column > at, column), else_=at)


def _add(connection: Connection, manifest_id: int, tally: PullTally) -> None:
    connection.execute(
        update(manifests)
        .where(manifests.c.id == manifest_id)
        .values(
            pull_count=manifests.c.pull_count + tally.count,
            last_pulled_at=_later(manifests.c.last_pulled_at, tally.last_pulled_at),
        )
    )
    statement = conflicts.insert(connection, manifest_pulls).values(
        manifest_id=manifest_id, puller=tally.puller, pull_count=tally.count, last_pulled_at=tally.last_pulled_at
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["manifest_id", "puller"],
            set_={
                "pull_count": manifest_pulls.c.pull_count + statement.excluded.pull_count,
                "last_pulled_at": _later(manifest_pulls.c.last_pulled_at, tally.last_pulled_at),
            },
        )
    )


def pullers(connection: Connection, manifest_id: int) -> list[PullCount]:
    """Who pulled the manifest, most recent first."""
    rows = connection.execute(
        select(manifest_pulls.c.puller, manifest_pulls.c.pull_count, manifest_pulls.c.last_pulled_at)
        .where(manifest_pulls.c.manifest_id == manifest_id)
        .order_by(manifest_pulls.c.last_pulled_at.desc(), manifest_pulls.c.puller)
    )
    return [PullCount(puller, int(count), last) for puller, count, last in rows]
