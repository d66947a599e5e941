"""Storage lifecycle: blob states for online garbage collection, pull tracking, retention rules, job leases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# Types are spelled out here rather than imported from tables.py: a migration must not change when the
# tables later do.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
ENUM = sa.String(16)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("blobs") as blobs:
        blobs.add_column(sa.Column("state", ENUM, nullable=False, server_default="stored"))
    op.create_index("ix_blobs_state", "blobs", ["state"])
    with op.batch_alter_table("manifests") as manifests:
        manifests.add_column(sa.Column("pull_count", sa.BigInteger(), nullable=False, server_default="0"))
        manifests.add_column(sa.Column("last_pulled_at", TIMESTAMP, nullable=True))
    op.create_table(
        "manifest_pulls",
        sa.Column("manifest_id", ID, nullable=False),
        sa.Column("puller", NAME, nullable=False),
        sa.Column("pull_count", sa.BigInteger(), nullable=False),
        sa.Column("last_pulled_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("manifest_id", "puller", name="pk_manifest_pulls"),
        sa.ForeignKeyConstraint(
            ["manifest_id"], ["manifests.id"], name="fk_manifest_pulls_manifest_id_manifests", ondelete="CASCADE"
        ),
    )
    # No registry that exists today starts expiring images on upgrade: NULL means no retention rules.
    with op.batch_alter_table("registries") as registries:
        registries.add_column(sa.Column("retention", sa.JSON(), nullable=True))
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_leases"),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
    with op.batch_alter_table("registries") as registries:
        registries.drop_column("retention")
    op.drop_table("manifest_pulls")
    with op.batch_alter_table("manifests") as manifests:
        manifests.drop_column("last_pulled_at")
        manifests.drop_column("pull_count")
    op.drop_index("ix_blobs_state", table_name="blobs")
    with op.batch_alter_table("blobs") as blobs:
        blobs.drop_column("state")
