"""Manifest references carry their blob's size, and one index covers a repository's references: the inventory of
a registry (listings, retention preview) reads them in one index scan instead of a lookup per blob, so it grows
linearly with the number of manifests.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

OLD_INDEX = ("ix_manifest_blobs_repository_id_digest", ["repository_id", "digest"])
NEW_INDEX = (
    "ix_manifest_blobs_repository_id_digest_manifest_id_size",
    ["repository_id", "digest", "manifest_id", "size"],
)


def upgrade() -> None:
    with op.batch_alter_table("manifest_blobs") as manifest_blobs:
        manifest_blobs.add_column(sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"))
    # A blob's size never changes once stored: copy it from the blob's row.
    op.execute(
        "UPDATE manifest_blobs SET size = (SELECT blobs.size FROM blobs WHERE blobs.digest = manifest_blobs.digest)"
    )
    op.drop_index(OLD_INDEX[0], table_name="manifest_blobs")
    op.create_index(NEW_INDEX[0], "manifest_blobs", NEW_INDEX[1])


def downgrade() -> None:
    op.drop_index(NEW_INDEX[0], table_name="manifest_blobs")
    op.create_index(OLD_INDEX[0], "manifest_blobs", OLD_INDEX[1])
    with op.batch_alter_table("manifest_blobs") as manifest_blobs:
        manifest_blobs.drop_column("size")
