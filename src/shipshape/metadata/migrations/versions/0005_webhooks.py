"""Webhooks per account or registry, and the deliveries owed to them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# Types are spelled out here rather than imported from tables.py: a migration must not change when the
# tables later do.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
ENUM = sa.String(16)
FREE_TEXT = sa.Text()
WEBHOOK_ID = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)

_INDEXES = (
    ("ix_webhooks_account_id", "webhooks", ["account_id"]),
    ("ix_webhook_deliveries_state_next_attempt_at", "webhook_deliveries", ["state", "next_attempt_at"]),
    ("ix_webhook_deliveries_webhook_id_created_at", "webhook_deliveries", ["webhook_id", "created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", WEBHOOK_ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("registry", NAME, nullable=True),
        sa.Column("url", FREE_TEXT, nullable=False),
        sa.Column("events", sa.String(128), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_webhooks_account_id_accounts"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", WEBHOOK_ID, nullable=False),
        sa.Column("webhook_id", WEBHOOK_ID, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject", FREE_TEXT, nullable=False),
        sa.Column("payload", FREE_TEXT, nullable=False),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("claim", sa.String(64), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", FREE_TEXT, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name="fk_webhook_deliveries_webhook_id_webhooks",
            ondelete="CASCADE",
        ),
    )
    for index, table, columns in _INDEXES:
        op.create_index(index, table, columns)


def downgrade() -> None:
    for index, table, _columns in reversed(_INDEXES):
        op.drop_index(index, table_name=table)
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
