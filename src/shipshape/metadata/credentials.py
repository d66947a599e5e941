"""SQL for credentials: machine identities with scopes (registries, repository globs, actions) and secret hashes.

A credential is read in one statement (its row joined with its scopes and its secrets), so a read never mixes the
state before and after a concurrent rotate, reset or revoke.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from shipshape.domain.access import Action, Credential, CredentialKind, Scope, SecretHash
from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.metadata import accounts, tables, usernames
from shipshape.metadata.tables import credential_scopes, credential_secrets, credentials

T = TypeVar("T")

_matching_secret = credential_secrets.alias("matching_secret")
# One row per (scope, secret) pair of each credential: a handful, since a credential has few of either.
_SELECT = (
    select(
        credentials.c.id,
        credentials.c.username,
        credentials.c.name,
        tables.accounts.c.name.label("account"),
        credentials.c.kind,
        credentials.c.expires_at,
        credentials.c.created_at,
        credentials.c.created_by,
        credentials.c.last_used_at,
        credentials.c.revoked_at,
        credentials.c.rotated_at,
        credential_scopes.c.position.label("scope_position"),
        credential_scopes.c.registry,
        credential_scopes.c.repositories,
        credential_scopes.c.actions,
        credential_secrets.c.position.label("secret_position"),
        credential_secrets.c.sha256,
        credential_secrets.c.valid_until,
    )
    .select_from(
        credentials.join(tables.accounts, tables.accounts.c.id == credentials.c.account_id)
        .outerjoin(credential_scopes, credential_scopes.c.credential_id == credentials.c.id)
        .outerjoin(credential_secrets, credential_secrets.c.credential_id == credentials.c.id)
    )
    .order_by(credentials.c.username, credential_scopes.c.position, credential_secrets.c.position)
)


def create(connection: Connection, credential: Credential) -> None:
    """Record a new credential; raise `NameUnknown` for an unknown account, `Conflict` if the username is taken."""
    account_id = accounts.require_id(connection, credential.account)
    usernames.claim(connection, credential.username)
    credential_id = connection.execute(
        insert(credentials)
        .values(
            username=credential.username,
            name=credential.name,
            account_id=account_id,
            kind=credential.kind.value,
            expires_at=credential.expires_at,
            created_at=credential.created_at,
            created_by=credential.created_by,
            last_used_at=credential.last_used_at,
            revoked_at=credential.revoked_at,
            rotated_at=credential.rotated_at,
        )
        .returning(credentials.c.id)
    ).scalar_one()
    if credential.scopes:
        connection.execute(
            insert(credential_scopes),
            [
                {
                    "credential_id": credential_id,
                    "position": position,
                    "registry": scope.registry,
                    "repositories": scope.repositories,
                    "actions": _actions_text(scope.actions),
                }
                for position, scope in enumerate(credential.scopes)
            ],
        )
    _insert_secrets(connection, credential_id, credential)


def get(connection: Connection, username: str) -> Credential | None:
    found = _read(connection, credentials.c.username == username)
    return found[0] if found else None


def by_secret(connection: Connection, sha256: str) -> Credential | None:
    """The credential holding a secret whose SHA-256 (hex) is `sha256`, whether or not that secret is still valid."""
    owner = select(_matching_secret.c.credential_id).where(_matching_secret.c.sha256 == sha256).scalar_subquery()
    found = _read(connection, credentials.c.id == owner)
    return found[0] if found else None


def list_by_username(connection: Connection, account: str) -> list[Credential]:
    """Credentials of `account`, by username in byte order."""
    return _read(connection, tables.accounts.c.name == account)


def save(connection: Connection, credential: Credential) -> None:
    """Replace the secrets, expiry, revocation, rotation and last-used times of the stored credential of that
    username."""
    credential_id = connection.execute(
        select(credentials.c.id).where(credentials.c.username == credential.username).with_for_update()
    ).scalar_one_or_none()
    if credential_id is None:
        raise NameUnknown(
            f"credential {credential.username!r} does not exist", detail={"username": credential.username}
        )
    connection.execute(
        update(credentials)
        .where(credentials.c.id == credential_id)
        .values(
            expires_at=credential.expires_at,
            revoked_at=credential.revoked_at,
            last_used_at=credential.last_used_at,
            rotated_at=credential.rotated_at,
        )
    )
    connection.execute(delete(credential_secrets).where(credential_secrets.c.credential_id == credential_id))
    _insert_secrets(connection, credential_id, credential)


def record_use(connection: Connection, username: str, now: datetime) -> None:
    """Move the credential's last-used time forward to `now`; an earlier `now` or an unknown username is ignored."""
    connection.execute(
        update(credentials)
        .where(
            credentials.c.username == username,
            or_(credentials.c.last_used_at.is_(None), credentials.c.last_used_at < now),
        )
        .values(last_used_at=now)
    )


def _insert_secrets(connection: Connection, credential_id: int, credential: Credential) -> None:
    if not credential.secrets:
        return
    rows = [
        {"credential_id": credential_id, "position": at, "sha256": secret.sha256, "valid_until": secret.valid_until}
        for at, secret in enumerate(credential.secrets)
    ]
    try:
        connection.execute(insert(credential_secrets), rows)
    except IntegrityError:
        # Only the unique index on sha256 can refuse these rows. Raising rolls the whole change back.
        raise Conflict(
            f"a secret given for credential {credential.username!r} is already stored (for it or another credential):"
            " generate a new secret",
            detail={"username": credential.username},
        ) from None


def _read(connection: Connection, condition: ColumnElement[bool]) -> list[Credential]:
    found: list[Credential] = []
    group: list[Any] = []
    for row in connection.execute(_SELECT.where(condition)):
        if group and group[0].id != row.id:
            found.append(_credential(group))
            group = []
        group.append(row)
    if group:
        found.append(_credential(group))
    return found


def _credential(rows: Sequence[Any]) -> Credential:
    """One credential from its joined rows, which repeat each scope once per secret and each secret once per scope."""
    first = rows[0]
    scopes: dict[int, Scope] = {}
    secrets: dict[int, SecretHash] = {}
    for row in rows:
        if row.scope_position is not None:
            scopes[row.scope_position] = Scope(
                registry=row.registry, actions=_actions(row.actions), repositories=row.repositories
            )
        if row.secret_position is not None:
            secrets[row.secret_position] = SecretHash(sha256=row.sha256, valid_until=row.valid_until)
    return Credential(
        username=first.username,
        name=first.name,
        account=first.account,
        kind=CredentialKind(first.kind),
        scopes=_in_order(scopes),
        expires_at=first.expires_at,
        created_at=first.created_at,
        created_by=first.created_by,
        last_used_at=first.last_used_at,
        revoked_at=first.revoked_at,
        secrets=_in_order(secrets),
        rotated_at=first.rotated_at,
    )


def _in_order(by_position: dict[int, T]) -> tuple[T, ...]:
    return tuple(by_position[position] for position in sorted(by_position))


def _actions_text(actions: Iterable[Action]) -> str:
    # In the enum's order, so equal sets are stored alike.
    chosen = set(actions)
    return ",".join(action.value for action in Action if action in chosen)


def _actions(text: str) -> frozenset[Action]:
    return frozenset(Action(value) for value in text.split(",") if value)
