"""Credentials record when their current secret was issued by a rotation or reset (the readiness checklist's
credential age), filled in for existing credentials from the audit trail.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("credentials") as credentials:
        credentials.add_column(sa.Column("rotated_at", TIMESTAMP, nullable=True))
    # Every rotation and reset so far is in the audit trail (append-only): the latest successful one per credential.
    op.execute(
        """
        UPDATE credentials SET rotated_at = (
            SELECT MAX(audit_events.time) FROM audit_events
            WHERE audit_events.credential = credentials.username
              AND audit_events.action IN ('credential.rotate', 'credential.reset')
              AND audit_events.result = 'success'
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("credentials") as credentials:
        credentials.drop_column("rotated_at")
