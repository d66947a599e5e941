"""The initial schema: repositories, blobs and their links, manifests and their references, tags, uploads.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Types are spelled out here rather than imported from tables.py: a migration must not change when the
# tables later do.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
TAG = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")
DIGEST = sa.String(160)
MEDIA_TYPE = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_repositories"),
        sa.UniqueConstraint("name", name="uq_repositories_name"),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_blobs"),
    )
    op.create_table(
        "repository_blobs",
        sa.Column("repository_id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "digest", name="pk_repository_blobs"),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["repositories.id"], name="fk_repository_blobs_repository_id_repositories"
        ),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name="fk_repository_blobs_digest_blobs"),
    )
    op.create_index("ix_repository_blobs_digest", "repository_blobs", ["digest"])
    op.create_table(
        "manifests",
        sa.Column("id", ID, nullable=False),
        sa.Column("repository_id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("media_type", MEDIA_TYPE, nullable=False),
        sa.Column("artifact_type", MEDIA_TYPE, nullable=True),
        sa.Column("subject_digest", DIGEST, nullable=True),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_manifests"),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"], name="fk_manifests_repository_id_repositories"),
        sa.UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_id_digest"),
    )
    op.create_index("ix_manifests_repository_id_subject_digest", "manifests", ["repository_id", "subject_digest"])
    op.create_table(
        "manifest_blobs",
        sa.Column("manifest_id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("repository_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("manifest_id", "digest", name="pk_manifest_blobs"),
        sa.ForeignKeyConstraint(
            ["manifest_id"], ["manifests.id"], name="fk_manifest_blobs_manifest_id_manifests", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name="fk_manifest_blobs_digest_blobs"),
    )
    op.create_index("ix_manifest_blobs_repository_id_digest", "manifest_blobs", ["repository_id", "digest"])
    op.create_index("ix_manifest_blobs_digest", "manifest_blobs", ["digest"])
    op.create_table(
        "manifest_children",
        sa.Column("manifest_id", ID, nullable=False),
        sa.Column("child_digest", DIGEST, nullable=False),
        sa.Column("repository_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("manifest_id", "child_digest", name="pk_manifest_children"),
        sa.ForeignKeyConstraint(
            ["manifest_id"], ["manifests.id"], name="fk_manifest_children_manifest_id_manifests", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_manifest_children_repository_id_child_digest", "manifest_children", ["repository_id", "child_digest"]
    )
    op.create_table(
        "tags",
        sa.Column("repository_id", ID, nullable=False),
        sa.Column("name", TAG, nullable=False),
        sa.Column("manifest_digest", DIGEST, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "name", name="pk_tags"),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"], name="fk_tags_repository_id_repositories"),
        sa.ForeignKeyConstraint(
            ["repository_id", "manifest_digest"],
            ["manifests.repository_id", "manifests.digest"],
            name="fk_tags_repository_id_manifest_digest_manifests",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_tags_repository_id_manifest_digest", "tags", ["repository_id", "manifest_digest"])
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_upload_sessions"),
    )
    op.create_index("ix_upload_sessions_updated_at", "upload_sessions", ["updated_at"])


def downgrade() -> None:
    for index, table in (
        ("ix_upload_sessions_updated_at", "upload_sessions"),
        ("ix_tags_repository_id_manifest_digest", "tags"),
        ("ix_manifest_children_repository_id_child_digest", "manifest_children"),
        ("ix_manifest_blobs_digest", "manifest_blobs"),
        ("ix_manifest_blobs_repository_id_digest", "manifest_blobs"),
        ("ix_manifests_repository_id_subject_digest", "manifests"),
        ("ix_repository_blobs_digest", "repository_blobs"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "upload_sessions",
        "tags",
        "manifest_children",
        "manifest_blobs",
        "manifests",
        "repository_blobs",
        "blobs",
        "repositories",
    ):
        op.drop_table(table)
