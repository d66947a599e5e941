"""Registry policies (a JSON document per registry, filled with its environment's preset) and manifest provenance.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")

# The environment presets as they were when this migration was written: existing registries get them, written out,
# so that a later change of the presets in code does not silently change a registry's rules.
_PRESETS: dict[str, dict[str, object]] = {
    "development": {
        "tag_mutability": "mutable",
        "mutable_tags": [],
        "denied_tags": [],
        "allowed_tags": [],
        "manifest_creators": "any",
        "promotion_sources": [],
        "require_signature": False,
    },
    "staging": {
        "tag_mutability": "immutable",
        "mutable_tags": [],
        "denied_tags": ["latest"],
        "allowed_tags": [],
        "manifest_creators": "ci-or-promotion",
        "promotion_sources": ["env:development"],
        "require_signature": False,
    },
    "production": {
        "tag_mutability": "immutable",
        "mutable_tags": [],
        "denied_tags": ["latest", "dev", "test", "stable"],
        "allowed_tags": ["semver", "date", "commit"],
        "manifest_creators": "ci-or-promotion",
        "promotion_sources": ["env:staging"],
        "require_signature": False,
    },
}


def upgrade() -> None:
    with op.batch_alter_table("registries") as table:
        table.add_column(sa.Column("policy", sa.JSON(), nullable=True))
    registries = sa.table("registries", sa.column("environment", sa.String()), sa.column("policy", sa.JSON()))
    for environment, preset in _PRESETS.items():
        op.execute(registries.update().where(registries.c.environment == environment).values(policy=preset))
    with op.batch_alter_table("manifests") as table:
        # How the manifest arrived in its repository: "push" or "promotion", by whom, and from where.
        table.add_column(sa.Column("arrived_via", sa.String(16), nullable=False, server_default="push"))
        table.add_column(sa.Column("arrived_by", sa.Text(), nullable=True))
        table.add_column(sa.Column("arrived_credential", NAME, nullable=True))
        table.add_column(sa.Column("promoted_from", sa.Text(), nullable=True))
        # Pushed by a `ci` credential, or promoted from a manifest that was: what `ci-or-promotion` registries take.
        table.add_column(sa.Column("built_by_ci", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("manifests") as table:
        table.drop_column("built_by_ci")
        table.drop_column("promoted_from")
        table.drop_column("arrived_credential")
        table.drop_column("arrived_by")
        table.drop_column("arrived_via")
    with op.batch_alter_table("registries") as table:
        table.drop_column("policy")
