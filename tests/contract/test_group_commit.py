"""The process's one writer, on SQLite and on PostgreSQL: changes committed in groups, each change on its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, event, select

from shipshape.metadata.database import Database, open_database
from shipshape.metadata.tables import repositories


def _create(name: str):  # type: ignore[no-untyped-def]
    def change(connection: Connection) -> str:
        connection.execute(repositories.insert().values(name=name))
        return name

    return change


def _create_then_fail(name: str):  # type: ignore[no-untyped-def]
    def change(connection: Connection) -> str:
        connection.execute(repositories.insert().values(name=name))
        raise LookupError(f"refused {name}")

    return change


async def _names(database: Database) -> set[str]:
    return set(await database.read(lambda connection: list(connection.scalars(select(repositories.c.name)))))


async def test_changes_waiting_together_commit_in_one_transaction_and_fail_alone(migrated_url: str) -> None:
    database = open_database(migrated_url).share()
    commits: list[int] = []
    event.listen(database.writer._engine, "commit", lambda _connection: commits.append(1))  # type: ignore[attr-defined]
    try:
        changes = [_create_then_fail(f"bad/{n}") if n % 3 == 0 else _create(f"good/{n}") for n in range(60)]
        outcomes = await asyncio.gather(*(database.write(change) for change in changes), return_exceptions=True)

        for n, outcome in enumerate(outcomes):
            if n % 3 == 0:
                assert isinstance(outcome, LookupError) and str(outcome) == f"refused bad/{n}"
            else:
                assert outcome == f"good/{n}"
        # What failed left nothing behind; what succeeded is stored, in fewer transactions than changes.
        assert await _names(database) == {f"good/{n}" for n in range(60) if n % 3}
        assert 1 <= len(commits) < 60
    finally:
        await database.close()


async def test_a_change_breaking_the_transaction_fails_its_group_and_the_next_group_works(migrated_url: str) -> None:
    database = open_database(migrated_url).share()
    try:

        def duplicate(connection: Connection) -> None:
            connection.execute(repositories.insert().values(name="twice"))
            connection.execute(repositories.insert().values(name="twice"))  # a unique violation, rolled back alone

        first = await asyncio.gather(
            database.write(_create("before")), database.write(duplicate), return_exceptions=True
        )
        assert first[0] == "before" and isinstance(first[1], Exception)
        assert await database.write(_create("after")) == "after"
        assert await _names(database) == {"before", "after"}
    finally:
        await database.close()


async def test_writers_of_two_processes_on_one_file_all_land(migrated_url: str) -> None:
    # Two databases on one file stand for two server processes: each has its own writer thread and connection,
    # and they take turns through the lock file instead of failing with "database is locked".
    first, second = open_database(migrated_url).share(), open_database(migrated_url).share()
    try:
        writes = [
            (first if n % 2 else second).write(_create(f"repo/{n}"))
            for n in range(200)
        ]  # fmt: skip
        assert await asyncio.gather(*writes) == [f"repo/{n}" for n in range(200)]
        assert await _names(first) == {f"repo/{n}" for n in range(200)}
    finally:
        await first.close()
        await second.close()


async def test_writes_queued_before_close_finish_and_later_ones_are_refused(migrated_url: str) -> None:
    database = open_database(migrated_url).share()
    # Tasks start in the order they were created: the ten writes are queued before close() begins.
    *written, _ = await asyncio.gather(*(database.write(_create(f"late/{n}")) for n in range(10)), database.close())
    assert written == [f"late/{n}" for n in range(10)]
    with pytest.raises(RuntimeError, match="closed"):
        await database.write(_create("too/late"))
    check = open_database(migrated_url).share()
    try:
        assert await _names(check) == {f"late/{n}" for n in range(10)}
    finally:
        await check.close()


async def test_a_deadlock_victim_between_two_processes_is_run_again_and_both_changes_land(
    postgres_migrated_url: str,
) -> None:
    # Two writers (two processes) lock two rows in opposite orders: PostgreSQL aborts one as the deadlock victim,
    # which the writer runs again on its own once the other has committed.
    first, second = open_database(postgres_migrated_url).share(), open_database(postgres_migrated_url).share()
    both_hold_one = threading.Barrier(2, timeout=30)
    attempts: list[str] = []

    def lock_in_order(me: str, rows: tuple[str, str]) -> Callable[[Connection], str]:
        def change(connection: Connection) -> str:
            attempts.append(me)
            renamed = repositories.update().values(name=repositories.c.name + "+")
            connection.execute(renamed.where(repositories.c.name.startswith(rows[0])))
            if attempts.count(me) == 1:
                both_hold_one.wait()
            connection.execute(renamed.where(repositories.c.name.startswith(rows[1])))
            return me

        return change

    try:
        await first.write(_create("x"))
        await first.write(_create("y"))
        outcomes = await asyncio.gather(
            first.write(lock_in_order("first", ("x", "y"))), second.write(lock_in_order("second", ("y", "x")))
        )
        assert outcomes == ["first", "second"]
        assert sorted(attempts) == ["first", "first", "second"] or sorted(attempts) == ["first", "second", "second"]
        assert await _names(first) == {"x++", "y++"}
    finally:
        await first.close()
        await second.close()


async def test_the_writer_on_postgresql_plans_each_statement_for_the_tables_as_they_are(
    postgres_migrated_url: str,
) -> None:
    # A generic plan kept from when the tables were empty made every tag's foreign-key check slower as a
    # repository grew; the writer's connection asks for custom plans, the readers keep the default.
    database = open_database(postgres_migrated_url + "?options=-c%20statement_timeout%3D60000").share()
    try:

        def settings(connection: Connection) -> tuple[str, str]:
            mode = connection.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
            timeout = connection.exec_driver_sql("SHOW statement_timeout").scalar_one()
            return mode, timeout

        assert await database.write(settings) == ("force_custom_plan", "1min")  # options of the URL kept too
        assert await database.read(settings) == ("auto", "1min")
    finally:
        await database.close()
