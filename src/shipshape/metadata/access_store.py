"""`SqlAccessStore`: the `AccessStore` port on SQLite or PostgreSQL, with blocking SQL kept off the event loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from shipshape.domain.access import Account, AuditEvent, Credential, Member, Registry
from shipshape.domain.policies import RegistryPolicy
from shipshape.metadata import accounts, audit, credentials, epochs, logins, members, registries
from shipshape.metadata.database import Database, open_database
from shipshape.metadata.engine import require_aware


class SqlAccessStore:
    """Accounts, registries, members, credentials, failed logins and the audit trail, in the metadata database.

    Queries run off the event loop (see `database`). Few are on the path of every request: services cache what
    they read (see `services.authentication`).
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._read = database.read
        self._write = database.write

    # Accounts

    async def create_account(self, account: Account) -> None:
        require_aware(account.created_at)
        await self._write(lambda connection: accounts.create(connection, account))

    async def get_account(self, name: str) -> Account | None:
        return await self._read(lambda connection: accounts.get(connection, name))

    async def set_account_quota(self, name: str, quota_bytes: int) -> Account:
        return await self._write(lambda connection: accounts.set_quota(connection, name, quota_bytes))

    async def list_accounts(self) -> list[Account]:
        return await self._read(accounts.list_all)

    # Registries

    async def create_registry(self, registry: Registry, now: datetime) -> None:
        require_aware(now)
        await self._write(lambda connection: registries.create(connection, registry, now))

    async def get_registry(self, name: str) -> Registry | None:
        return await self._read(lambda connection: registries.get(connection, name))

    async def list_registries(self, account: str | None) -> list[Registry]:
        return await self._read(lambda connection: registries.list_by_name(connection, account))

    async def change_registry_policy(
        self, name: str, change: Callable[[RegistryPolicy], RegistryPolicy]
    ) -> tuple[Registry, RegistryPolicy]:
        return await self._write(lambda connection: registries.change_policy(connection, name, change))

    async def delete_registry(self, name: str) -> None:
        await self._write(lambda connection: registries.remove(connection, name))

    async def retention_document(self, name: str) -> dict[str, Any] | None:
        return await self._read(lambda connection: registries.retention(connection, name))

    async def set_retention_document(self, name: str, document: dict[str, Any] | None) -> None:
        await self._write(lambda connection: registries.set_retention(connection, name, document))

    async def registries_with_retention(self) -> list[str]:
        return await self._read(registries.with_retention)

    # Members

    async def add_member(self, member: Member, password_hash: str, now: datetime) -> None:
        require_aware(now)
        await self._write(lambda connection: members.add(connection, member, password_hash, now))

    async def get_member(self, username: str) -> tuple[Member, str] | None:
        return await self._read(lambda connection: members.get(connection, username))

    async def set_member_password(self, username: str, password_hash: str) -> None:
        await self._write(lambda connection: members.set_password(connection, username, password_hash))

    async def list_members(self, account: str) -> list[Member]:
        return await self._read(lambda connection: members.list_by_username(connection, account))

    async def remove_member(self, account: str, username: str) -> None:
        await self._write(lambda connection: members.remove(connection, account, username))

    # Credentials

    async def create_credential(self, credential: Credential) -> None:
        _require_aware_credential(credential)
        await self._write(lambda connection: credentials.create(connection, credential))

    async def get_credential(self, username: str) -> Credential | None:
        return await self._read(lambda connection: credentials.get(connection, username))

    async def find_credential_by_secret(self, sha256: str) -> Credential | None:
        """The credential one of whose secrets hashes to `sha256` (hex), valid or not: the caller checks validity."""
        return await self._read(lambda connection: credentials.by_secret(connection, sha256))

    async def list_credentials(self, account: str) -> list[Credential]:
        return await self._read(lambda connection: credentials.list_by_username(connection, account))

    async def save_credential(self, credential: Credential) -> None:
        """Replace the stored secrets, expiry, revocation, rotation and last-used times of an existing credential,
        atomically.

        The expiry too, because rotating or resetting may renew it (`domain.credentials.rotate`). Raises
        `NameUnknown` if there is no credential of that username, `Conflict` if a secret hash is already stored.
        The other fields of `credential` (name, account, kind, scopes, creation) are ignored.
        """
        _require_aware_credential(credential)
        await self._write(lambda connection: credentials.save(connection, credential))

    async def record_credential_use(self, username: str, now: datetime) -> None:
        """Move the credential's last-used time forward to `now`, touching nothing else.

        Unlike `save_credential` with a changed `last_used_at`, this cannot undo a rotate, reset or revoke that
        committed after the credential was read.
        """
        require_aware(now)
        await self._write(lambda connection: credentials.record_use(connection, username, now))

    # Failed logins

    async def record_login_failure(self, identity: str, remote: str | None, now: datetime) -> None:
        require_aware(now)
        await self._write(lambda connection: logins.record(connection, identity, remote, now))

    async def login_failures_since(self, identity: str, remote: str | None, since: datetime) -> tuple[int, int]:
        """Failures at or after `since` for this identity, and from this client address (0 when `remote` is None)."""
        require_aware(since)
        return await self._read(lambda connection: logins.count_since(connection, identity, remote, since))

    # EpochCounter

    async def epoch(self, name: str) -> int:
        return await self._read(lambda connection: epochs.current(connection, name))

    async def advance_epoch(self, name: str) -> None:
        await self._write(lambda connection: epochs.advance(connection, name))

    async def clear_login_failures(self, identity: str) -> None:
        """Reset the count of `identity`; its failures still count against the addresses they came from."""
        await self._write(lambda connection: logins.clear(connection, identity))

    async def forget_login_failures_before(self, before: datetime) -> int:
        """Delete failures older than `before` (no window counts them any more); return how many."""
        require_aware(before)
        return await self._write(lambda connection: logins.forget_before(connection, before))

    # Audit

    async def record_audit(self, event: AuditEvent) -> None:
        require_aware(event.time)
        await self._write(lambda connection: audit.record(connection, event))

    async def audit_events(
        self, account: str | None, registry: str | None, since: datetime | None, limit: int
    ) -> list[AuditEvent]:
        """Newest first; events of equal time in the reverse of the order they were recorded."""
        if since is not None:
            require_aware(since)
        return await self._read(lambda connection: audit.newest_first(connection, account, registry, since, limit))

    async def close(self) -> None:
        """Give back this store's share of the database (the last share closes it)."""
        await self._database.close()


def _require_aware_credential(credential: Credential) -> None:
    moments: Iterable[datetime | None] = (
        credential.expires_at,
        credential.created_at,
        credential.last_used_at,
        credential.revoked_at,
        credential.rotated_at,
        *(secret.valid_until for secret in credential.secrets),
    )
    for moment in moments:
        if moment is not None:
            require_aware(moment)


def open_access_store(url: str, *, threads: int = 2, database: Database | None = None) -> SqlAccessStore:
    """A store on `url` (`sqlite:///path` or `postgresql://…`), the metadata database `migrate(url)` has brought
    to the current schema; on `database`'s connections when given (the server's, shared by all its stores), else
    on its own with `threads` threads."""
    return SqlAccessStore((database or open_database(url, threads=threads)).share())
