"""SQL for the revocation epoch: one counter row, read by every process and advanced by each revocation."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from shipshape.metadata.tables import revocation_epoch

_ROW = 1


def current(connection: Connection) -> int:
    return int(connection.execute(select(revocation_epoch.c.value).where(revocation_epoch.c.id == _ROW)).scalar_one())


def advance(connection: Connection) -> None:
    connection.execute(
        update(revocation_epoch).where(revocation_epoch.c.id == _ROW).values(value=revocation_epoch.c.value + 1)
    )
