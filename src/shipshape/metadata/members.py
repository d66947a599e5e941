"""SQL for members: humans of one account, with a role and an Argon2id password hash."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from shipshape.domain.access import Member, Role
from shipshape.domain.errors import NameUnknown
from shipshape.metadata import accounts, tables, usernames
from shipshape.metadata.tables import members

_COLUMNS = (members.c.username, tables.accounts.c.name, members.c.role)
_SELECT = select(*_COLUMNS).join_from(members, tables.accounts, tables.accounts.c.id == members.c.account_id)


def add(connection: Connection, member: Member, password_hash: str, now: datetime) -> None:
    """Record a new member; raise `NameUnknown` for an unknown account, `Conflict` if the username is taken."""
    account_id = accounts.require_id(connection, member.account)
    usernames.claim(connection, member.username)
    connection.execute(
        insert(members).values(
            username=member.username,
            account_id=account_id,
            role=member.role.value,
            password_hash=password_hash,
            created_at=now,
        )
    )


def get(connection: Connection, username: str) -> tuple[Member, str] | None:
    """The member and their password hash."""
    row = connection.execute(_SELECT.add_columns(members.c.password_hash).where(members.c.username == username)).first()
    if row is None:
        return None
    *member, password_hash = row
    return _member(member), password_hash


def set_password(connection: Connection, username: str, password_hash: str) -> None:
    """Replace the member's password hash; raise `NameUnknown` if there is no such member."""
    changed = connection.execute(
        update(members).where(members.c.username == username).values(password_hash=password_hash)
    ).rowcount
    if not changed:
        raise NameUnknown(f"member {username!r} does not exist", detail={"username": username})


def list_by_username(connection: Connection, account: str) -> list[Member]:
    """Members of `account`, by username in byte order."""
    rows = connection.execute(_SELECT.where(tables.accounts.c.name == account).order_by(members.c.username))
    return [_member(row) for row in rows]


def remove(connection: Connection, account: str, username: str) -> None:
    """Delete the member of `account`; raise `NameUnknown` if `account` has no such member."""
    account_id = select(tables.accounts.c.id).where(tables.accounts.c.name == account).scalar_subquery()
    removed = connection.execute(
        delete(members).where(members.c.username == username, members.c.account_id == account_id)
    ).rowcount
    if not removed:
        raise NameUnknown(
            f"account {account!r} has no member {username!r}: `shipshape member list` shows who it has",
            detail={"account": account, "username": username},
        )


def _member(row: Sequence[Any]) -> Member:
    username, account, role = row
    return Member(username=username, account=account, role=Role(role))
