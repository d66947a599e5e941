"""Usage: daily usage snapshots per account and registry, and the usage alert level already raised.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as accounts:
        accounts.add_column(sa.Column("usage_alert_level", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "usage_snapshots",
        sa.Column("account", NAME, nullable=False),
        sa.Column("registry", NAME, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "registry", "day", name="pk_usage_snapshots"),
    )


def downgrade() -> None:
    op.drop_table("usage_snapshots")
    with op.batch_alter_table("accounts") as accounts:
        accounts.drop_column("usage_alert_level")
