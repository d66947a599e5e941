"""Accounts set their credentials' default and maximum lifetimes (90 and 365 days unless changed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

DAY = 86_400


def upgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.add_column(
            sa.Column("credential_lifetime_seconds", sa.BigInteger(), nullable=False, server_default=str(90 * DAY))
        )
        table.add_column(
            sa.Column("credential_max_lifetime_seconds", sa.BigInteger(), nullable=False, server_default=str(365 * DAY))
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.drop_column("credential_max_lifetime_seconds")
        table.drop_column("credential_lifetime_seconds")
