"""SQL for registries: the first path component of every repository, owned by one account, in one environment.

Not to be confused with `repositories`, which records the repositories themselves (`acme-prod/web/api`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, or_, select, update

from shipshape.domain.access import Environment, Registry
from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.domain.policies import RegistryPolicy, policy_from_document
from shipshape.domain.retention import retention_preset
from shipshape.metadata import accounts, conflicts, repositories, tables
from shipshape.metadata.statements import Statement
from shipshape.metadata.tables import registries, repository_blobs, upload_sessions

_COLUMNS = (
    registries.c.name,
    tables.accounts.c.name,
    registries.c.environment,
    registries.c.public,
    registries.c.policy,
)
_SELECT = select(*_COLUMNS).join_from(registries, tables.accounts, tables.accounts.c.id == registries.c.account_id)


def create(connection: Connection, registry: Registry, now: datetime) -> None:
    """Record a new registry; raise `NameUnknown` for an unknown account, `Conflict` if the name is taken."""
    account_id = accounts.require_id(connection, registry.account)
    inserted = connection.execute(
        conflicts.insert(connection, registries)
        .values(
            name=registry.name,
            account_id=account_id,
            environment=registry.environment.value,
            public=registry.public,
            policy=registry.rules.document(),  # written out, so that a later change of the presets changes nothing
            retention=retention_preset(registry.environment).document(),
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(registries.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        raise Conflict(
            f"registry {registry.name!r} already exists: registry names are unique on the server, choose another",
            detail={"registry": registry.name},
        )


def get(connection: Connection, name: str) -> Registry | None:
    row = connection.execute(_SELECT.where(registries.c.name == name)).first()
    return None if row is None else _registry(row)


def list_by_name(connection: Connection, account: str | None) -> list[Registry]:
    """Registries of `account` (every account's when None), by name in byte order."""
    statement = _SELECT.order_by(registries.c.name)
    if account is not None:
        statement = statement.where(tables.accounts.c.name == account)
    return [_registry(row) for row in connection.execute(statement)]


def change_policy(
    connection: Connection, name: str, change: Callable[[RegistryPolicy], RegistryPolicy]
) -> tuple[Registry, RegistryPolicy]:
    """Replace the registry's policy with `change(current)`, the row locked meanwhile so that concurrent changes of
    different fields do not undo each other; the registry as it was and the new policy. `NameUnknown` if absent."""
    row = connection.execute(_SELECT.where(registries.c.name == name).with_for_update(of=registries)).first()
    if row is None:
        raise NameUnknown(f"registry {name!r} does not exist", detail={"registry": name})
    before = _registry(row)
    policy = change(before.rules)
    connection.execute(update(registries).where(registries.c.name == name).values(policy=policy.document()))
    return before, policy


_PRESENT = Statement(
    select(registries.c.name).where(registries.c.name == bindparam("registry_name")).with_for_update(read=True)
)


def require_present(connection: Connection, name: str) -> None:
    """Raise `NameUnknown` unless registry `name` exists; on PostgreSQL its row stays locked (FOR SHARE) until the
    transaction ends, so `remove` waits for it and then finds what it added (SQLite's write lock covers both)."""
    if _PRESENT.first(connection, {"registry_name": name}) is None:
        raise NameUnknown(
            f"registry {name!r} was deleted while this push ran: create it again first", detail={"registry": name}
        )


def remove(connection: Connection, name: str) -> None:
    """Delete the registry; raise `NameUnknown` if absent and `Conflict` while a repository in it holds content."""
    # Delete first, check after, as the other deletes do: raising rolls the delete back.
    deleted = connection.execute(delete(registries).where(registries.c.name == name)).rowcount
    if not deleted:
        raise NameUnknown(f"registry {name!r} does not exist", detail={"registry": name})
    occupied = _first_repository(connection, name)
    if occupied is not None:
        raise Conflict(
            f"registry {name!r} still holds images in repository {occupied!r}: delete them first"
            f" (`shipshape image list {name}`, `shipshape image delete`), then the registry",
            detail={"registry": name, "repository": occupied},
        )
    # What its repositories still link (blobs of deleted images, pushes never finished) is garbage collection's to
    # free; the uploads in progress end here.
    in_registry = select(tables.repositories.c.id).where(_in_registry(name))
    connection.execute(delete(repository_blobs).where(repository_blobs.c.repository_id.in_(in_registry)))
    connection.execute(delete(upload_sessions).where(_upload_in_registry(name)))
    # Its webhooks go with it (their deliveries cascade), and so do the credentials' scopes on it: a registry later
    # created with the name starts clean, and no credential made for this one may use that one.
    connection.execute(delete(tables.webhooks).where(tables.webhooks.c.registry == name))
    connection.execute(delete(tables.credential_scopes).where(tables.credential_scopes.c.registry == name))


def _first_repository(connection: Connection, registry: str) -> str | None:
    """The first repository (in byte order) of `registry` holding content: `registry` itself or `registry/…`."""
    name = tables.repositories.c.name
    return connection.execute(
        select(name).where(_in_registry(registry), repositories.HOLDS_CONTENT).order_by(name).limit(1)
    ).scalar_one_or_none()


def _in_registry(registry: str) -> ColumnElement[bool]:
    """Repository rows of `registry`: `registry` itself or `registry/…`."""
    return in_registry(tables.repositories.c.name, registry)


def _upload_in_registry(registry: str) -> ColumnElement[bool]:
    return in_registry(upload_sessions.c.repository, registry)


def in_registry(name: ColumnElement[str], registry: str) -> ColumnElement[bool]:
    """Whether the repository path `name` is in `registry`. A range rather than LIKE: registry names may contain
    `_`, a LIKE wildcard, and a range uses the name's index on both databases. Every name starting with `registry/`
    sorts between `registry/` and `registry0` ('/' + 1)."""
    return or_(name == registry, and_(name >= f"{registry}/", name < f"{registry}0"))


def _registry(row: Sequence[Any]) -> Registry:
    name, account, environment, public, policy = row
    return Registry(
        name=name,
        account=account,
        environment=Environment(environment),
        public=bool(public),
        policy=None if policy is None else policy_from_document(policy),
    )


def retention(connection: Connection, name: str) -> dict[str, Any] | None:
    """The registry's retention document (None: no rules); `NameUnknown` if there is no such registry."""
    row = connection.execute(select(registries.c.retention).where(registries.c.name == name)).first()
    if row is None:
        raise NameUnknown(f"registry {name!r} does not exist", detail={"registry": name})
    return None if row.retention is None else dict(row.retention)


def set_retention(connection: Connection, name: str, document: dict[str, Any] | None) -> None:
    """Replace the registry's retention document (None: no rules); `NameUnknown` if there is no such registry."""
    changed = connection.execute(
        update(registries).where(registries.c.name == name).values(retention=document)
    ).rowcount
    if not changed:
        raise NameUnknown(f"registry {name!r} does not exist", detail={"registry": name})


def with_retention(connection: Connection) -> list[str]:
    """Names of the registries that have retention rules, sorted."""
    return list(
        connection.scalars(
            select(registries.c.name).where(registries.c.retention.isnot(None)).order_by(registries.c.name)
        )
    )
