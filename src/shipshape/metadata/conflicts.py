"""INSERT … ON CONFLICT, which SQLAlchemy spells per dialect, for the two databases the store runs on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")
InsertFactory = Callable[[Table], postgresql.Insert | sqlite.Insert]


def insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that offers `on_conflict_do_nothing` and `on_conflict_do_update`."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def per_dialect(build: Callable[[InsertFactory], T]) -> Callable[[Connection], T]:
    """The statement `build(insert)` makes, built once per dialect: for the writes of every push, whose
    parameters are bound at execution. Building an upsert costs more than running it (its `excluded` alias
    copies every column of the table), so the statements of hot writes are built once."""
    built: dict[str, T] = {}

    def statement(connection: Connection) -> T:
        name = connection.dialect.name
        found = built.get(name)
        if found is None:
            found = built[name] = build(postgresql.insert if name == "postgresql" else sqlite.insert)
        return found

    return statement
