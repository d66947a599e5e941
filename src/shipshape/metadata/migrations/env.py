"""Alembic's entry point: runs the migrations on the connection `migrate()` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from shipshape.metadata.engine import database_url
from shipshape.metadata.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters tables by copying them; batch mode writes migrations that way.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported: run shipshape.metadata.migrate(url)")

_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    # Alembic's own command line (e.g. `alembic revision --autogenerate`) with sqlalchemy.url set.
    _engine = create_engine(database_url(context.config.get_main_option("sqlalchemy.url") or ""))
    try:
        with _engine.begin() as _new_connection:
            _run(_new_connection)
    finally:
        _engine.dispose()
