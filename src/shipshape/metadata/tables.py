"""The metadata schema as SQLAlchemy Core tables. `migrations/` creates it; queries read it from here."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Stable constraint names, so that later migrations can name what they alter on every database alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite (which drops the zone) too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware time such as Clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite makes only a column declared exactly INTEGER PRIMARY KEY an auto-incrementing rowid.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Byte order on PostgreSQL too (SQLite compares bytes by default), so listings page alike on both databases.
NAME = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
TAG = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")
DIGEST = sa.String(160)
MEDIA_TYPE = sa.String(255)
# What a client sent or a service wrote, never looked up by prefix: any length, so recording it cannot fail.
FREE_TEXT = sa.Text()

repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
)

# A blob is `stored` (its bytes are in the blob store) or `deleting`: garbage collection found it unlinked and will
# delete its bytes, then the row (`shipshape.metadata.garbage`). Only stored blobs are ever linked.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", DIGEST, primary_key=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="stored"),
    sa.Index("ix_blobs_state", "state"),
)

repository_blobs = sa.Table(
    "repository_blobs",
    metadata,
    sa.Column("repository_id", ID, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("digest", DIGEST, sa.ForeignKey("blobs.digest"), primary_key=True),
    # When the blob was last linked (an upload or mount of it again moves it): garbage collection drops a link that
    # no manifest references only once it is older than the grace period, so a push in progress keeps its blobs.
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_repository_blobs_digest", "digest"),
)

manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("repository_id", ID, sa.ForeignKey("repositories.id"), nullable=False),
    sa.Column("digest", DIGEST, nullable=False),
    sa.Column("media_type", MEDIA_TYPE, nullable=False),
    sa.Column("artifact_type", MEDIA_TYPE, nullable=True),
    sa.Column("subject_digest", DIGEST, nullable=True),
    sa.Column("annotations", sa.JSON(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Provenance: how the manifest first arrived in this repository ("push" or "promotion"), by whom, and for a
    # promotion from where (`registry/repo@digest`). A later push of the same digest does not change it.
    sa.Column("arrived_via", sa.String(16), nullable=False, server_default="push"),
    sa.Column("arrived_by", FREE_TEXT, nullable=True),
    sa.Column("arrived_credential", NAME, nullable=True),
    sa.Column("promoted_from", FREE_TEXT, nullable=True),
    # Pushed by a `ci` credential, or promoted from a manifest that was: what `ci-or-promotion` registries take.
    sa.Column("built_by_ci", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Pull tracking (`shipshape.services.pulls`): GETs of this manifest, counted in batches off the request path.
    sa.Column("pull_count", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("last_pulled_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("repository_id", "digest"),
    sa.Index("ix_manifests_repository_id_subject_digest", "repository_id", "subject_digest"),
)

# Blobs an image manifest references (config and layers): a blob listed here stays linked. repository_id
# repeats the manifest's.
manifest_blobs = sa.Table(
    "manifest_blobs",
    metadata,
    sa.Column("manifest_id", ID, sa.ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", DIGEST, sa.ForeignKey("blobs.digest"), primary_key=True),
    sa.Column("repository_id", ID, nullable=False),
    # The blob's size (which never changes), so that a registry's inventory needs no lookup per blob.
    sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"),
    # Covers a repository's references: "does a manifest of this repository reference it" is one lookup, and
    # reading all of them (with sizes) is one index scan.
    sa.Index(
        "ix_manifest_blobs_repository_id_digest_manifest_id_size", "repository_id", "digest", "manifest_id", "size"
    ),
    sa.Index("ix_manifest_blobs_digest", "digest"),
)

# Manifests an index lists: a manifest listed here cannot be deleted before its index.
manifest_children = sa.Table(
    "manifest_children",
    metadata,
    sa.Column("manifest_id", ID, sa.ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("child_digest", DIGEST, primary_key=True),
    sa.Column("repository_id", ID, nullable=False),
    sa.Index("ix_manifest_children_repository_id_child_digest", "repository_id", "child_digest"),
)

# Who pulled a manifest: a credential's or member's username, or `anonymous`; how often and when last.
manifest_pulls = sa.Table(
    "manifest_pulls",
    metadata,
    sa.Column("manifest_id", ID, sa.ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("puller", NAME, primary_key=True),
    sa.Column("pull_count", sa.BigInteger(), nullable=False),
    sa.Column("last_pulled_at", UtcDateTime(), nullable=False),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("repository_id", ID, sa.ForeignKey("repositories.id"), primary_key=True),
    sa.Column("name", TAG, primary_key=True),
    sa.Column("manifest_digest", DIGEST, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # The database itself drops a manifest's tags with it and refuses a tag on a missing manifest.
    sa.ForeignKeyConstraint(
        ["repository_id", "manifest_digest"],
        ["manifests.repository_id", "manifests.digest"],
        ondelete="CASCADE",
    ),
    sa.Index("ix_tags_repository_id_manifest_digest", "repository_id", "manifest_digest"),
)

upload_sessions = sa.Table(
    "upload_sessions",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("repository", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_upload_sessions_updated_at", "updated_at"),
)

# Access: accounts own registries, members and credentials. Enums are stored as their values (plain strings, so
# adding one needs no type migration on PostgreSQL); the modules reading them turn them back into domain enums.
ENUM = sa.String(16)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("quota_bytes", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("credential_lifetime_seconds", sa.BigInteger(), nullable=False),
    sa.Column("credential_max_lifetime_seconds", sa.BigInteger(), nullable=False),
    # The highest usage alert level (percent of the quota) already raised; back to 0 when usage falls below it.
    sa.Column("usage_alert_level", sa.Integer(), nullable=False, server_default="0"),
)

# One row per account (registry "") and per registry of it per day: the day's latest usage.
usage_snapshots = sa.Table(
    "usage_snapshots",
    metadata,
    sa.Column("account", NAME, primary_key=True),
    sa.Column("registry", NAME, primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("bytes", sa.BigInteger(), nullable=False),
)

registries = sa.Table(
    "registries",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", ENUM, nullable=False),
    sa.Column("public", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # The registry's policy document (`shipshape.domain.policies`); NULL reads as its environment's preset.
    sa.Column("policy", sa.JSON(), nullable=True),
    # The registry's retention rules (`shipshape.domain.retention`); NULL: none, nothing is ever expired.
    sa.Column("retention", sa.JSON(), nullable=True),
    sa.Index("ix_registries_account_id", "account_id"),
)

# Members and credentials share one namespace of usernames; `metadata.usernames` keeps it so across the two tables.
members = sa.Table(
    "members",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", NAME, nullable=False, unique=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("role", ENUM, nullable=False),
    sa.Column("password_hash", FREE_TEXT, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_members_account_id", "account_id"),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", NAME, nullable=False, unique=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("kind", ENUM, nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", NAME, nullable=False),
    sa.Column("last_used_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    # When a rotation or reset issued the current secret; NULL: the secret is the one it was created with.
    sa.Column("rotated_at", UtcDateTime(), nullable=True),
    sa.Index("ix_credentials_account_id", "account_id"),
)

# A scope names its registry rather than referencing its row: the credential's account decides what the name
# grants at authorization time, and deleting a registry need not rewrite credentials. `position` keeps the order.
credential_scopes = sa.Table(
    "credential_scopes",
    metadata,
    sa.Column("credential_id", ID, sa.ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("registry", NAME, nullable=False),
    sa.Column("repositories", NAME, nullable=True),
    sa.Column("actions", sa.String(64), nullable=False),
)

# Only hashes; a rotated-out secret keeps working until valid_until. Unique: a secret identifies its credential.
credential_secrets = sa.Table(
    "credential_secrets",
    metadata,
    sa.Column("credential_id", ID, sa.ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("valid_until", UtcDateTime(), nullable=True),
    sa.Index("ix_credential_secrets_sha256", "sha256", unique=True),
)

# One row per failed login; counted over a recent window per identity and per client address. A successful login
# clears the identity (sets it NULL) but keeps the address, so it does not reset the guessing address's count.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("identity", NAME, nullable=True),
    sa.Column("remote", NAME, nullable=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_login_failures_identity_at", "identity", "at"),
    sa.Index("ix_login_failures_remote_at", "remote", "at"),
    sa.Index("ix_login_failures_at", "at"),
)

# Append-only. Names are copied, not referenced: an event outlives the account, registry or credential it names.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("time", UtcDateTime(), nullable=False),
    sa.Column("account", NAME, nullable=True),
    sa.Column("registry", NAME, nullable=True),
    sa.Column("actor", FREE_TEXT, nullable=False),
    sa.Column("credential", NAME, nullable=True),
    sa.Column("action", FREE_TEXT, nullable=False),
    sa.Column("target", FREE_TEXT, nullable=False),
    sa.Column("result", FREE_TEXT, nullable=False),
    sa.Column("remote", FREE_TEXT, nullable=True),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Index("ix_audit_events_time", "time"),
    sa.Index("ix_audit_events_account_time", "account", "time"),
    sa.Index("ix_audit_events_registry_time", "registry", "time"),
)

# Webhooks: a URL that hears an account's registry events, or one registry's (`registry`, a name, as credential
# scopes name theirs). `events` is a comma-separated list of event kinds. The secret is not stored: `salt` and a key
# in the data dir derive it (`shipshape.domain.webhooks.derive_secret`).
WEBHOOK_ID = sa.String(64)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", WEBHOOK_ID, primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("registry", NAME, nullable=True),
    sa.Column("url", FREE_TEXT, nullable=False),
    sa.Column("events", sa.String(128), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", NAME, nullable=False),
    sa.Index("ix_webhooks_account_id", "account_id"),
)

# One row per (event, webhook hearing it), holding the exact body to send. A process claims due rows by moving
# `next_attempt_at` past the request's timeout and stamping `claim`; only the holder of the claim records the result.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", WEBHOOK_ID, primary_key=True),
    sa.Column("webhook_id", WEBHOOK_ID, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("subject", FREE_TEXT, nullable=False),
    sa.Column("payload", FREE_TEXT, nullable=False),
    sa.Column("state", ENUM, nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claim", sa.String(64), nullable=True),
    sa.Column("last_status", sa.Integer(), nullable=True),
    sa.Column("last_error", FREE_TEXT, nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
)

# Background jobs that must run in one process at a time (garbage collection, retention): a process holds a job while
# `expires_at` is ahead and renews it as it works; a crashed holder's lease simply runs out.
job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
)

# A counter every server process reads, whatever host it runs on: advanced whenever a secret stops being valid early
# (reset, revoke, password change), so that caches of verified logins everywhere are dropped (one row, id 1).
revocation_epoch = sa.Table(
    "revocation_epoch",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger(), nullable=False),
)
