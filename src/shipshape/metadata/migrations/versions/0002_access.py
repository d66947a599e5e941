"""Access: accounts, registries, members, credentials with their scopes and secret hashes, failed logins, audit.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Types are spelled out here rather than imported from tables.py: a migration must not change when the
# tables later do.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
ENUM = sa.String(16)
FREE_TEXT = sa.Text()
SHA256 = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)

_INDEXES = (
    ("ix_registries_account_id", "registries", ["account_id"], False),
    ("ix_members_account_id", "members", ["account_id"], False),
    ("ix_credentials_account_id", "credentials", ["account_id"], False),
    ("ix_credential_secrets_sha256", "credential_secrets", ["sha256"], True),
    ("ix_login_failures_identity_at", "login_failures", ["identity", "at"], False),
    ("ix_login_failures_remote_at", "login_failures", ["remote", "at"], False),
    ("ix_login_failures_at", "login_failures", ["at"], False),
    ("ix_audit_events_time", "audit_events", ["time"], False),
    ("ix_audit_events_account_time", "audit_events", ["account", "time"], False),
    ("ix_audit_events_registry_time", "audit_events", ["registry", "time"], False),
)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
    )
    op.create_table(
        "registries",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("environment", ENUM, nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registries"),
        sa.UniqueConstraint("name", name="uq_registries_name"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_registries_account_id_accounts"),
    )
    op.create_table(
        "members",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", NAME, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("role", ENUM, nullable=False),
        sa.Column("password_hash", FREE_TEXT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.UniqueConstraint("username", name="uq_members_username"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_members_account_id_accounts"),
    )
    op.create_table(
        "credentials",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", NAME, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("username", name="uq_credentials_username"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_credentials_account_id_accounts"),
    )
    op.create_table(
        "credential_scopes",
        sa.Column("credential_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("registry", NAME, nullable=False),
        sa.Column("repositories", NAME, nullable=True),
        sa.Column("actions", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("credential_id", "position", name="pk_credential_scopes"),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name="fk_credential_scopes_credential_id_credentials",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "credential_secrets",
        sa.Column("credential_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", SHA256, nullable=False),
        sa.Column("valid_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("credential_id", "position", name="pk_credential_secrets"),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name="fk_credential_secrets_credential_id_credentials",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", ID, nullable=False),
        sa.Column("identity", NAME, nullable=True),
        sa.Column("remote", NAME, nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("time", TIMESTAMP, nullable=False),
        sa.Column("account", NAME, nullable=True),
        sa.Column("registry", NAME, nullable=True),
        sa.Column("actor", FREE_TEXT, nullable=False),
        sa.Column("credential", NAME, nullable=True),
        sa.Column("action", FREE_TEXT, nullable=False),
        sa.Column("target", FREE_TEXT, nullable=False),
        sa.Column("result", FREE_TEXT, nullable=False),
        sa.Column("remote", FREE_TEXT, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    for index, table, columns, unique in _INDEXES:
        op.create_index(index, table, columns, unique=unique)


def downgrade() -> None:
    for index, table, _columns, _unique in reversed(_INDEXES):
        op.drop_index(index, table_name=table)
    for table in (
        "audit_events",
        "login_failures",
        "credential_secrets",
        "credential_scopes",
        "credentials",
        "members",
        "registries",
        "accounts",
    ):
        op.drop_table(table)
