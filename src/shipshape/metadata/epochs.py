"""SQL for the epochs: one counter row each, read by every process and advanced by each change it stands for."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from shipshape.metadata import conflicts
from shipshape.metadata.tables import revocation_epoch as epochs

# The table's first row (migration 0010) is the revocation epoch; others are added on their first advance.
ROWS = {"revocations": 1, "settings": 2}


def current(connection: Connection, name: str) -> int:
    found = connection.execute(select(epochs.c.value).where(epochs.c.id == ROWS[name])).scalar_one_or_none()
    return int(found or 0)


def advance(connection: Connection, name: str) -> None:
    row = ROWS[name]
    advanced = connection.execute(update(epochs).where(epochs.c.id == row).values(value=epochs.c.value + 1))
    if advanced.rowcount == 0:
        connection.execute(conflicts.insert(connection, epochs).values(id=row, value=1).on_conflict_do_nothing())
