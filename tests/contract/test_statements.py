"""`Statement`: the push's statements run on the driver's connection behave as SQLAlchemy's `execute` would,
on SQLite and on PostgreSQL: the same values stored and read back, the same exceptions, the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import IntegrityError

from shipshape.metadata import conflicts
from shipshape.metadata.engine import database_url
from shipshape.metadata.statements import MAX_KEPT_LENGTH, PerLength, Statement, names, values
from shipshape.metadata.tables import audit_events, repositories

_ROW = {
    "time": datetime(2026, 12, 7, 10, 0, tzinfo=timezone(timedelta(hours=2))),
    "account": "acme",
    "registry": "acme-dev",
    "actor": "ci",
    "credential": None,
    "action": "manifest.push",
    "target": "acme-dev/app:v1",
    "result": "success",
    "remote": "127.0.0.1",
    "detail": {"rule": "tag_mutability", "nested": [1, 2]},
}
_INSERT_AUDIT = Statement(audit_events.insert().returning(audit_events.c.id, audit_events.c.time), list(_ROW))
_CREATE_REPOSITORY = Statement(
    conflicts.per_dialect(lambda insert: insert(repositories).on_conflict_do_nothing().returning(repositories.c.id)),
    ["name"],
)
_PLAIN_CREATE = Statement(repositories.insert(), ["name"])


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    from sqlalchemy import create_engine

    engine = create_engine(database_url(migrated_url))
    yield engine
    engine.dispose()


def test_types_are_converted_both_ways_as_sqlalchemy_converts_them(engine: Engine) -> None:
    with engine.begin() as connection:
        returned = _INSERT_AUDIT.first(connection, {**_ROW, "unused": "ignored"})
    assert returned is not None
    event_id, time = returned
    assert time == _ROW["time"] and time.tzinfo is not None  # UtcDateTime's conversion, read back aware
    with engine.connect() as connection:
        stored = connection.execute(
            select(audit_events.c.time, audit_events.c.detail, audit_events.c.credential).where(
                audit_events.c.id == event_id
            )
        ).one()
    assert stored.time == _ROW["time"] and stored.time.astimezone(UTC).tzinfo == UTC
    assert stored.detail == _ROW["detail"]
    assert stored.credential is None


def test_an_upsert_spelled_per_dialect_returns_a_row_only_when_it_inserts(engine: Engine) -> None:
    with engine.begin() as connection:
        first = _CREATE_REPOSITORY.scalar(connection, {"name": "acme-dev/app"})
        again = _CREATE_REPOSITORY.scalar(connection, {"name": "acme-dev/app"})
    assert isinstance(first, int)
    assert again is None


def test_a_constraint_violation_is_raised_as_sqlalchemy_raises_it_and_rolls_back_with_the_transaction(
    engine: Engine,
) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _PLAIN_CREATE.run(connection, {"name": "acme-dev/one"})
        _PLAIN_CREATE.run(connection, {"name": "acme-dev/one"})
    with engine.connect() as connection:
        assert connection.scalars(select(repositories.c.name)).all() == []


def test_a_missing_parameter_is_refused_before_the_database_sees_it(engine: Engine) -> None:
    with pytest.raises(KeyError, match="name"), engine.begin() as connection:
        _PLAIN_CREATE.run(connection, {})


def test_a_list_parameter_is_refused_in_favour_of_one_parameter_per_element(engine: Engine) -> None:
    listing = Statement(select(repositories.c.id).where(repositories.c.name.in_(bindparam("names", expanding=True))))
    with pytest.raises(ValueError, match="give each element a parameter of its own"), engine.connect() as connection:
        listing.rows(connection, {"names": ["a"]})


@pytest.mark.parametrize("length", [1, 3, MAX_KEPT_LENGTH + 1])
def test_per_length_statements_find_every_element(engine: Engine, length: int) -> None:
    def build(count: int) -> Statement:
        listed = [bindparam(name, type_=repositories.c.name.type) for name in names("name", count)]
        return Statement(select(repositories.c.name).where(repositories.c.name.in_(listed)))

    present = PerLength(build)
    wanted = [f"acme-dev/r{n}" for n in range(length)]
    with engine.begin() as connection:
        for name in wanted[::2]:
            _PLAIN_CREATE.run(connection, {"name": name})
        found = {row[0] for row in present(length).rows(connection, values("name", wanted))}
    assert found == set(wanted[::2])
    assert (present(length) is present(length)) == (length <= MAX_KEPT_LENGTH)
