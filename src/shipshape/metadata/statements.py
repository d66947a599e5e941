"""Statements compiled once per dialect and run on a DBAPI connection: the writes of every push (`Statement`,
inside the SQLAlchemy transaction of the change) and the reads of every pull (`compile_for`, see `hot_reads`).

SQLAlchemy's `Connection.execute` does per-call work that costs more than a small statement on SQLite: a cache
key computed from the statement's tree, an execution context, parameter processing and a result object (about
10-40 µs against 3-5 µs for the driver's own call). A push runs about ten such statements while holding the
GIL its event loop needs too; profiled under load, that per-call work was 40% of the process's busy time.
A `Statement` does it once: it compiles for the connection's dialect the first time, keeps the SQL, the order
of its parameters and the conversions of their types (SQLAlchemy's own), and then hands each call's parameters
straight to the driver, inside the SQLAlchemy transaction the change runs in. Errors are raised wrapped as
SQLAlchemy wraps them (`DBAPIError` and its kinds), so that deadlock retries and conflict handling see the
same exceptions as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

Conversion = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement's SQL for one dialect, with what running it on the driver needs."""

    sql: str
    parameters: tuple[str, ...]  # the parameters' names, in order for positional paramstyles (SQLite's qmark)
    positional: bool
    conversions: tuple[tuple[str, Callable[[Any], Any]], ...]  # parameters whose type converts the value
    results: tuple[Conversion, ...]  # one per column returned, None where the driver's value is kept
    error: type[Exception]  # the driver's base exception

    def rows(self, driver: DBAPIConnection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run on `driver` with `parameters`; the rows returned (none for a write without RETURNING)."""
        given = {name: parameters[name] for name in self.parameters}
        for name, convert in self.conversions:
            given[name] = convert(given[name])
        bound: Sequence[Any] | Mapping[str, Any] = list(given.values()) if self.positional else given
        cursor = driver.cursor()
        try:
            cursor.execute(self.sql, bound)
            found = cursor.fetchall() if cursor.description is not None else []
        except self.error as error:
            raise DBAPIError.instance(self.sql, bound, error, self.error) from error
        finally:
            cursor.close()
        if not any(self.results):
            return [tuple(row) for row in found]
        return [
            tuple(
                value if convert is None else convert(value) for convert, value in zip(self.results, row, strict=True)
            )
            for row in found
        ]

    def first(self, driver: DBAPIConnection, parameters: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(driver, parameters)
        return found[0] if found else None


def compile_for(statement: Executable, dialect: Dialect, columns: Sequence[str] | None = None) -> Compiled:
    """`statement` compiled for `dialect`, for parameters named `columns` (an INSERT's values; other statements
    name theirs by bindparam). A list parameter (an expanding `IN`) is refused: see `PerLength`."""
    compiled = statement.compile(dialect=dialect, column_keys=columns)  # type: ignore[attr-defined]
    conversions = []
    for name, bind in compiled.binds.items():
        if bind.expanding:
            raise ValueError(f"parameter {name!r} is a list (IN): give each element a parameter of its own")
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            conversions.append((name, convert))
    returned: Sequence[Any] = getattr(compiled, "returning", None) or getattr(statement, "selected_columns", None) or ()
    positions = compiled.positiontup
    return Compiled(
        sql=compiled.string,
        parameters=tuple(positions if positions is not None else compiled.binds),
        positional=positions is not None,
        conversions=tuple(conversions),
        results=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in returned),
        error=dialect.loaded_dbapi.Error,
    )


class Statement:
    """`statement` (or what a function of the connection builds: an upsert spelled per dialect), compiled once per
    dialect for parameters named `columns` (see `compile_for`), run in the transaction of the connection given."""

    def __init__(
        self, statement: Executable | Callable[[Connection], Executable], columns: Sequence[str] | None = None
    ) -> None:
        self._statement = statement
        self._columns = list(columns) if columns is not None else None
        self._compiled: dict[str, Compiled] = {}

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement with `parameters`; the rows it returns (none for a write without RETURNING)."""
        compiled = self._compiled.get(connection.dialect.name) or self._compile(connection)
        driver = connection.connection.driver_connection
        assert driver is not None, "a connection in a transaction is open"
        return compiled.rows(driver, parameters)

    def first(self, connection: Connection, parameters: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(connection, parameters)
        return found[0] if found else None

    def scalar(self, connection: Connection, parameters: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(connection, parameters)
        return None if row is None else row[0]

    def run(self, connection: Connection, parameters: Mapping[str, Any]) -> None:
        self.rows(connection, parameters)

    def _compile(self, connection: Connection) -> Compiled:
        statement = self._statement if isinstance(self._statement, Executable) else self._statement(connection)
        found = self._compiled[connection.dialect.name] = compile_for(statement, connection.dialect, self._columns)
        return found


# Lists longer than this (an image of many layers) compile their statement on each call instead of keeping it:
# lengths are chosen by clients, and the statements kept must stay few.
MAX_KEPT_LENGTH = 64


class PerLength:
    """A statement with one parameter per element of a list (an `IN (…)`), compiled once per length.

    `build(n)` makes the statement for a list of `n`, naming its parameters with `names(prefix, n)`; `values`
    names a list's elements the same way.
    """

    def __init__(self, build: Callable[[int], Statement]) -> None:
        self._build = build
        self._kept: dict[int, Statement] = {}

    def __call__(self, length: int) -> Statement:
        found = self._kept.get(length)
        if found is None:
            found = self._build(length)
            if length <= MAX_KEPT_LENGTH:
                self._kept[length] = found
        return found


def names(prefix: str, length: int) -> list[str]:
    return [f"{prefix}_{index}" for index in range(length)]


def values(prefix: str, elements: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(names(prefix, len(elements)), elements, strict=True))
