"""Bring a metadata database to the newest schema; run at server start-up, safe when processes start together.

Alembic is imported only when a database lacks a migration: a server restarting on an up-to-date database does
not carry its modules (about 10 MB of a process's memory) for the rest of its life.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from shipshape.metadata.engine import SQLITE_BUSY_TIMEOUT_MS, database_url, postgres_engine, sqlite_engine

_SCRIPTS = Path(__file__).parent / "migrations"
# Any constant the application owns; PostgreSQL advisory locks are keyed by one 64-bit integer.
_ADVISORY_LOCK_KEY = 0x5368_6970_7368_6170  # "Shipshap"


def head_revision() -> str:
    """The newest migration's revision: migrations are `NNNN_what.py` with revision "NNNN" (a test checks it)."""
    return max(path.name.split("_", 1)[0] for path in (_SCRIPTS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]


def migrate(url: str) -> None:
    """Apply every migration `url` lacks, in one transaction; a database already at head is left alone."""
    parsed = database_url(url)
    postgres = parsed.get_backend_name() == "postgresql"
    engine = (
        postgres_engine(parsed, autocommit=False, pool_size=1)
        if postgres
        # BEGIN IMMEDIATE: a second process waits for the first to finish, then finds nothing to do.
        else sqlite_engine(parsed, begin="BEGIN IMMEDIATE", busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=1)
    )
    try:
        with engine.connect() as connection:
            if _at_head(connection):
                return
        from alembic import command
        from alembic.config import Config

        with engine.begin() as connection:
            if postgres:
                # Released at commit; a second process waits here, then finds nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            config = Config()
            config.set_main_option("script_location", str(_SCRIPTS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
