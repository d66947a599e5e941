"""SQL for accounts: the tenants that own registries, members and credentials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from shipshape.domain.access import Account
from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.metadata import conflicts
from shipshape.metadata.tables import accounts

_COLUMNS = (
    accounts.c.name,
    accounts.c.quota_bytes,
    accounts.c.created_at,
    accounts.c.credential_lifetime_seconds,
    accounts.c.credential_max_lifetime_seconds,
)
_ID = select(accounts.c.id).where(accounts.c.name == bindparam("name"))


def create(connection: Connection, account: Account) -> None:
    """Record a new account; raise `Conflict` if the name is taken."""
    inserted = connection.execute(
        conflicts.insert(connection, accounts)
        .values(
            name=account.name,
            quota_bytes=account.quota_bytes,
            created_at=account.created_at,
            credential_lifetime_seconds=int(account.credential_lifetime.total_seconds()),
            credential_max_lifetime_seconds=int(account.credential_max_lifetime.total_seconds()),
        )
        .on_conflict_do_nothing()
        .returning(accounts.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict(
            f"account {account.name!r} already exists: choose another name", detail={"account": account.name}
        )


def get(connection: Connection, name: str) -> Account | None:
    row = connection.execute(select(*_COLUMNS).where(accounts.c.name == name)).first()
    return None if row is None else _account(row)


def set_quota(connection: Connection, name: str, quota_bytes: int) -> Account:
    """Change the account's storage quota; raise `NameUnknown` if there is no such account."""
    require_id(connection, name)
    connection.execute(update(accounts).where(accounts.c.name == name).values(quota_bytes=quota_bytes))
    found = get(connection, name)
    assert found is not None
    return found


def list_all(connection: Connection) -> list[Account]:
    """Every account, by name in byte order."""
    return [_account(row) for row in connection.execute(select(*_COLUMNS).order_by(accounts.c.name))]


def require_id(connection: Connection, name: str) -> int:
    """The id of account `name`; raise `NameUnknown` if there is none."""
    found = connection.execute(_ID, {"name": name}).scalar_one_or_none()
    if found is None:
        raise NameUnknown(
            f"account {name!r} does not exist: create it first with `shipshape account create {name}`",
            detail={"account": name},
        )
    return int(found)


def _account(row: Sequence[Any]) -> Account:
    name, quota_bytes, created_at, lifetime, max_lifetime = row
    return Account(
        name=name,
        quota_bytes=quota_bytes,
        created_at=created_at,
        credential_lifetime=timedelta(seconds=lifetime),
        credential_max_lifetime=timedelta(seconds=max_lifetime),
    )
