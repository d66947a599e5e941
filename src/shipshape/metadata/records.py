"""SQL for what a change records alongside it, in its transaction: audit events and owed webhook deliveries."""

from __future__ import annotations

from sqlalchemy import Connection

from shipshape.metadata import audit, webhooks
from shipshape.ports import Alongside


def write(connection: Connection, alongside: Alongside) -> None:
    for event in alongside.audit:
        audit.record(connection, event)
    webhooks.enqueue(connection, alongside.deliveries)
