"""The `AccessStore` contract, run against SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text

import shipshape.metadata.migrations
from shipshape.domain import media_types as mt
from shipshape.domain.access import (
    Account,
    Action,
    AuditEvent,
    Credential,
    CredentialKind,
    Environment,
    Member,
    Registry,
    Role,
    Scope,
    SecretHash,
)
from shipshape.domain.digests import Digest
from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.domain.manifests import Manifest, parse_manifest
from shipshape.domain.policies import preset
from shipshape.metadata import SqlMetadataStore, open_metadata_store
from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.metadata.engine import database_url as sqlalchemy_url
from shipshape.metadata.migrate import migrate
from shipshape.metadata.tables import metadata
from shipshape.ports import AccessStore
from tests.contract.conftest import head_revision

NOW = datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)
ACCESS_TABLES = [
    "accounts",
    "registries",
    "members",
    "credentials",
    "credential_scopes",
    "credential_secrets",
    "login_failures",
    "audit_events",
]


@pytest.fixture
async def access_store(migrated_url: str) -> AsyncIterator[SqlAccessStore]:
    """A store on a fresh, migrated database (the same one `metadata_store` opens, when a test asks for both)."""
    store = open_access_store(migrated_url)
    try:
        yield store
    finally:
        await store.close()


# Factories


def account(name: str = "acme", *, quota_bytes: int = 5 * 1024**3, at: datetime = NOW) -> Account:
    return Account(name=name, created_at=at, quota_bytes=quota_bytes)


def registry(
    name: str = "acme-dev",
    account: str = "acme",
    environment: Environment = Environment.DEVELOPMENT,
    *,
    public: bool = False,
) -> Registry:
    # As stored: with its environment's preset written out.
    return Registry(name=name, account=account, environment=environment, public=public, policy=preset(environment))


def member(username: str = "alice", account: str = "acme", role: Role = Role.DEVELOPER) -> Member:
    return Member(username=username, account=account, role=role)


def sha256_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def credential(
    username: str = "acme-dev+ci",
    account: str = "acme",
    *,
    name: str = "ci",
    kind: CredentialKind = CredentialKind.CI,
    scopes: tuple[Scope, ...] = (Scope("acme-dev", frozenset({Action.PULL, Action.PUSH})),),
    secrets: tuple[SecretHash, ...] | None = None,
    **fields: Any,
) -> Credential:
    return Credential(
        username=username,
        name=name,
        account=account,
        kind=kind,
        scopes=scopes,
        expires_at=NOW + timedelta(days=90),
        created_at=NOW,
        created_by="admin",
        secrets=secrets if secrets is not None else (SecretHash(sha256_of(f"{username}/secret")),),
        **fields,
    )


def event(
    at: datetime = NOW,
    *,
    account: str | None = "acme",
    registry: str | None = "acme-dev",
    action: str = "manifest.push",
    target: str = "acme-dev/web/api:v1",
    **fields: Any,
) -> AuditEvent:
    values: dict[str, Any] = {"actor": "alice", "result": "success", "remote": "192.0.2.7", **fields}
    return AuditEvent(time=at, account=account, registry=registry, action=action, target=target, **values)


async def seed(store: AccessStore, *names: str) -> None:
    """Accounts `names` (default: acme)."""
    for name in names or ("acme",):
        await store.create_account(account(name))


@contextmanager
def database(url: str) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused operation changed nothing."""
    with database(url) as engine, engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }


def digest_of(seed: str) -> str:
    return str(Digest.of(seed.encode()))


def empty_index() -> Manifest:
    """A manifest that references nothing, so it can be stored without pushing blobs first."""
    document = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    return parse_manifest(json.dumps(document).encode(), mt.OCI_INDEX)


# Accounts


async def test_create_account_then_get_returns_it(access_store: AccessStore) -> None:
    await access_store.create_account(account("acme", quota_bytes=123 * 1024**3))

    assert await access_store.get_account("acme") == account("acme", quota_bytes=123 * 1024**3)


async def test_account_created_at_comes_back_in_utc(access_store: AccessStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    await access_store.create_account(account(at=NOW.astimezone(tokyo)))

    found = await access_store.get_account("acme")

    assert found is not None
    assert found.created_at == NOW
    assert found.created_at.utcoffset() == timedelta(0)


async def test_account_credential_lifetimes_round_trip(access_store: AccessStore) -> None:
    custom = replace(account(), credential_lifetime=timedelta(days=7), credential_max_lifetime=timedelta(days=30))
    await access_store.create_account(custom)
    assert await access_store.get_account("acme") == custom


async def test_get_unknown_account_is_none(access_store: AccessStore) -> None:
    await seed(access_store)

    assert await access_store.get_account("beta") is None


async def test_list_accounts_sorts_by_name_in_byte_order(access_store: AccessStore) -> None:
    await seed(access_store, "beta", "acme-b", "Zulu", "acme")

    assert [found.name for found in await access_store.list_accounts()] == ["Zulu", "acme", "acme-b", "beta"]


async def test_create_duplicate_account_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match="account 'acme' already exists"):
        await access_store.create_account(account("acme", quota_bytes=1))

    assert snapshot(migrated_url) == before


async def test_create_account_rejects_a_naive_datetime(access_store: AccessStore, migrated_url: str) -> None:
    before = snapshot(migrated_url)

    with pytest.raises(ValueError, match="naive datetime"):
        await access_store.create_account(account(at=NOW.replace(tzinfo=None)))

    assert snapshot(migrated_url) == before


# Registries


async def test_changing_a_policy_stores_it_and_returns_the_registry_as_it_was(access_store: AccessStore) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-x", environment=Environment.PRODUCTION), NOW)

    before, policy = await access_store.change_registry_policy(
        "acme-x", lambda current: current.updated({"require_signature": True})
    )

    assert before == registry("acme-x", environment=Environment.PRODUCTION)
    assert policy.require_signature and policy.denied_tags == preset(Environment.PRODUCTION).denied_tags
    found = await access_store.get_registry("acme-x")
    assert found is not None and found.policy == policy
    with pytest.raises(NameUnknown):
        await access_store.change_registry_policy("nope", lambda current: current)


async def test_concurrent_policy_changes_of_different_fields_both_stay(migrated_url: str) -> None:
    stores = [open_access_store(migrated_url) for _ in range(2)]
    try:
        await seed(stores[0])
        await stores[0].create_registry(registry("acme-x", environment=Environment.STAGING), NOW)
        changes = [{"require_signature": True}, {"mutable_tags": ["dev-*"]}, {"denied_tags": ["latest", "tmp-*"]}]
        await asyncio.gather(
            *(
                stores[n % 2].change_registry_policy("acme-x", lambda current, c=c: current.updated(c))
                for n, c in enumerate(changes * 3)
            )
        )
        found = await stores[1].get_registry("acme-x")
        assert found is not None and found.policy is not None
        assert found.policy.require_signature and found.policy.mutable_tags == ("dev-*",)
        assert found.policy.denied_tags == ("latest", "tmp-*")
    finally:
        for store in stores:
            await store.close()


@pytest.mark.parametrize("environment", list(Environment))
@pytest.mark.parametrize("public", [False, True])
async def test_create_registry_then_get_returns_it(
    access_store: AccessStore, environment: Environment, public: bool
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-x", environment=environment, public=public), NOW)

    found = await access_store.get_registry("acme-x")

    assert found == registry("acme-x", environment=environment, public=public)
    assert found is not None
    assert type(found.environment) is Environment


async def test_create_registry_for_an_unknown_account_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match=r"account 'beta' does not exist.*shipshape account create beta"):
        await access_store.create_registry(registry("beta-dev", "beta"), NOW)

    assert snapshot(migrated_url) == before


async def test_create_duplicate_registry_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store, "acme", "beta")
    await access_store.create_registry(registry("shared", "acme"), NOW)
    before = snapshot(migrated_url)

    # Registry names are unique on the server, not per account: they are the first component of every path.
    with pytest.raises(Conflict, match="registry 'shared' already exists"):
        await access_store.create_registry(registry("shared", "beta", Environment.PRODUCTION), NOW)

    assert snapshot(migrated_url) == before
    assert await access_store.get_registry("shared") == registry("shared", "acme")


async def test_get_unknown_registry_is_none(access_store: AccessStore) -> None:
    assert await access_store.get_registry("nowhere") is None


async def test_list_registries_of_an_account_or_of_all_sorted_by_name(access_store: AccessStore) -> None:
    await seed(access_store, "acme", "beta")
    for name, owner in [("acme-prod", "acme"), ("beta-dev", "beta"), ("acme-dev", "acme"), ("acme.b", "acme")]:
        await access_store.create_registry(registry(name, owner), NOW)

    assert [found.name for found in await access_store.list_registries("acme")] == ["acme-dev", "acme-prod", "acme.b"]
    assert [found.name for found in await access_store.list_registries("beta")] == ["beta-dev"]
    assert await access_store.list_registries("nobody") == []
    everything = await access_store.list_registries(None)
    assert [(found.name, found.account) for found in everything] == [
        ("acme-dev", "acme"),
        ("acme-prod", "acme"),
        ("acme.b", "acme"),
        ("beta-dev", "beta"),
    ]


async def test_delete_registry_removes_it(access_store: AccessStore) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-dev"), NOW)
    await access_store.create_registry(registry("acme-prod"), NOW)

    await access_store.delete_registry("acme-dev")

    assert await access_store.get_registry("acme-dev") is None
    assert [found.name for found in await access_store.list_registries(None)] == ["acme-prod"]


async def test_delete_registry_frees_its_name(access_store: AccessStore) -> None:
    await seed(access_store, "acme", "beta")
    await access_store.create_registry(registry("shared", "acme"), NOW)
    await access_store.delete_registry("shared")

    await access_store.create_registry(registry("shared", "beta"), NOW)

    assert await access_store.get_registry("shared") == registry("shared", "beta")


async def test_delete_unknown_registry_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-dev"), NOW)
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match="registry 'acme-prod' does not exist"):
        await access_store.delete_registry("acme-prod")

    assert snapshot(migrated_url) == before


async def test_delete_registry_holding_a_manifest_raises_conflict_and_changes_nothing(
    access_store: AccessStore, metadata_store: SqlMetadataStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-dev"), NOW)
    await metadata_store.put_manifest("acme-dev/web/api", empty_index(), "v1", NOW)
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match=r"registry 'acme-dev' still holds images in repository 'acme-dev/web/api'"):
        await access_store.delete_registry("acme-dev")

    assert snapshot(migrated_url) == before
    assert await access_store.get_registry("acme-dev") == registry("acme-dev")


async def test_delete_registry_is_refused_while_its_root_repository_holds_a_manifest(
    access_store: AccessStore, metadata_store: SqlMetadataStore
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-dev"), NOW)
    await metadata_store.put_manifest("acme-dev", empty_index(), "v1", NOW)

    with pytest.raises(Conflict, match="repository 'acme-dev'"):
        await access_store.delete_registry("acme-dev")


async def test_delete_registry_holding_only_blobs_succeeds_and_leaves_them_to_garbage_collection(
    access_store: AccessStore, metadata_store: SqlMetadataStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-dev"), NOW)
    await access_store.create_registry(registry("acme-stage"), NOW)
    await metadata_store.link_blob("acme-dev/web/api", digest_of("layer"), 10)
    await metadata_store.link_blob("acme-dev", digest_of("root"), 10)
    await metadata_store.link_blob("acme-stage/web/api", digest_of("layer"), 10)

    await access_store.delete_registry("acme-dev")

    assert await access_store.get_registry("acme-dev") is None
    assert await metadata_store.linked_blob_size("acme-dev/web/api", digest_of("layer")) is None
    assert await metadata_store.linked_blob_size("acme-dev", digest_of("root")) is None
    assert await metadata_store.linked_blob_size("acme-stage/web/api", digest_of("layer")) == 10
    assert len(snapshot(migrated_url)["blobs"]) == 2  # the bytes are garbage collection's to free


async def test_delete_registry_ignores_repositories_of_registries_sharing_a_prefix(
    access_store: AccessStore, metadata_store: SqlMetadataStore
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme_dev"), NOW)
    # `_` matches any character in LIKE, `-`, `.` and `0` sort right around `/`: none of these is in `acme_dev`.
    others = ["acme-dev/app", "acmexdev/app", "acme_dev-2/app", "acme_dev.x", "acme_dev0/app", "acme_de/v"]
    for repository in others:
        await metadata_store.put_manifest(repository, empty_index(), "v1", NOW)
        await metadata_store.link_blob(repository, digest_of("layer"), 10)

    await access_store.delete_registry("acme_dev")

    assert await access_store.get_registry("acme_dev") is None
    for repository in others:
        assert await metadata_store.linked_blob_size(repository, digest_of("layer")) == 10


async def test_delete_registry_succeeds_once_its_repositories_are_emptied(
    access_store: AccessStore, metadata_store: SqlMetadataStore
) -> None:
    await seed(access_store)
    await access_store.create_registry(registry("acme-dev"), NOW)
    await metadata_store.put_manifest("acme-dev/web/api", empty_index(), "v1", NOW)
    await metadata_store.delete_manifest("acme-dev/web/api", str(empty_index().digest))

    await access_store.delete_registry("acme-dev")

    assert await access_store.get_registry("acme-dev") is None


# Members


@pytest.mark.parametrize("role", list(Role))
async def test_add_member_then_get_returns_it_with_its_password_hash(access_store: AccessStore, role: Role) -> None:
    await seed(access_store)
    await access_store.add_member(member("alice", role=role), "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", NOW)

    found = await access_store.get_member("alice")

    assert found == (member("alice", role=role), "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
    assert found is not None
    assert type(found[0].role) is Role


async def test_get_unknown_member_is_none(access_store: AccessStore) -> None:
    assert await access_store.get_member("nobody") is None


async def test_add_member_to_an_unknown_account_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match="account 'beta' does not exist"):
        await access_store.add_member(member("bob", "beta"), "hash", NOW)

    assert snapshot(migrated_url) == before


async def test_add_duplicate_member_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store, "acme", "beta")
    await access_store.add_member(member("alice", "acme"), "hash", NOW)
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match="username 'alice' is already taken by a member"):
        await access_store.add_member(member("alice", "beta", Role.OWNER), "other", NOW)

    assert snapshot(migrated_url) == before


async def test_add_member_named_like_a_credential_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.create_credential(credential("robot"))
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match=r"username 'robot' is already taken by a credential.*choose another"):
        await access_store.add_member(member("robot"), "hash", NOW)

    assert snapshot(migrated_url) == before
    assert await access_store.get_member("robot") is None


async def test_set_member_password_replaces_the_hash(access_store: AccessStore) -> None:
    await seed(access_store)
    await access_store.add_member(member("alice"), "old", NOW)
    await access_store.add_member(member("bob"), "bobs", NOW)

    await access_store.set_member_password("alice", "new")

    assert await access_store.get_member("alice") == (member("alice"), "new")
    assert await access_store.get_member("bob") == (member("bob"), "bobs")


async def test_set_password_of_an_unknown_member_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.create_credential(credential("robot"))
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match="member 'robot' does not exist"):
        await access_store.set_member_password("robot", "new")

    assert snapshot(migrated_url) == before


async def test_list_members_of_an_account_sorted_by_username(access_store: AccessStore) -> None:
    await seed(access_store, "acme", "beta")
    for username, owner in [("carol", "acme"), ("Bob", "acme"), ("alice", "acme"), ("dave", "beta")]:
        await access_store.add_member(member(username, owner), "hash", NOW)

    assert [found.username for found in await access_store.list_members("acme")] == ["Bob", "alice", "carol"]
    assert await access_store.list_members("beta") == [member("dave", "beta")]
    assert await access_store.list_members("nobody") == []


async def test_remove_member_deletes_only_that_member(access_store: AccessStore) -> None:
    await seed(access_store)
    await access_store.add_member(member("alice"), "hash", NOW)
    await access_store.add_member(member("bob"), "hash", NOW)

    await access_store.remove_member("acme", "alice")

    assert await access_store.get_member("alice") is None
    assert await access_store.list_members("acme") == [member("bob")]


async def test_remove_member_frees_the_username_for_a_credential(access_store: AccessStore) -> None:
    await seed(access_store)
    await access_store.add_member(member("deploy"), "hash", NOW)
    await access_store.remove_member("acme", "deploy")

    await access_store.create_credential(credential("deploy"))

    assert await access_store.get_credential("deploy") is not None


@pytest.mark.parametrize(("owner", "username"), [("acme", "nobody"), ("beta", "alice"), ("nowhere", "alice")])
async def test_remove_member_absent_from_the_account_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str, owner: str, username: str
) -> None:
    await seed(access_store, "acme", "beta")
    await access_store.add_member(member("alice", "acme"), "hash", NOW)
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match=f"account '{owner}' has no member '{username}'"):
        await access_store.remove_member(owner, username)

    assert snapshot(migrated_url) == before


# Credentials


async def test_create_credential_then_get_round_trips_every_field(access_store: AccessStore) -> None:
    await seed(access_store)
    created = credential(
        "acme-dev+deployer",
        name="deployer",
        kind=CredentialKind.SERVICE,
        scopes=(
            Scope("acme-prod", frozenset({Action.PULL})),
            Scope("acme-dev", frozenset(Action), repositories="web/*"),
            Scope("acme-dev", frozenset({Action.DELETE, Action.PULL}), repositories="tools/[a-c]?-*"),
            Scope("acme-stage", frozenset()),
        ),
        secrets=(
            SecretHash(sha256_of("new")),
            SecretHash(sha256_of("old"), valid_until=NOW + timedelta(hours=24)),
        ),
        last_used_at=NOW + timedelta(minutes=5),
        revoked_at=NOW + timedelta(days=1),
    )

    await access_store.create_credential(created)

    found = await access_store.get_credential("acme-dev+deployer")
    assert found == created
    assert found is not None
    assert type(found.kind) is CredentialKind
    assert all(type(action) is Action for scope in found.scopes for action in scope.actions)
    assert found.expires_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("kind", list(CredentialKind))
async def test_create_credential_without_scopes_or_secrets_round_trips(
    access_store: AccessStore, kind: CredentialKind
) -> None:
    await seed(access_store)
    created = credential("bare", kind=kind, scopes=(), secrets=())

    await access_store.create_credential(created)

    assert await access_store.get_credential("bare") == created


async def test_credential_times_come_back_in_utc(access_store: AccessStore) -> None:
    await seed(access_store)
    west = timezone(timedelta(hours=-7))
    created = credential(secrets=(SecretHash(sha256_of("s"), valid_until=NOW.astimezone(west)),))
    await access_store.create_credential(replace(created, expires_at=NOW.astimezone(west)))

    found = await access_store.get_credential(created.username)

    assert found is not None
    assert found.expires_at == NOW
    assert found.expires_at.tzinfo == UTC
    assert found.secrets[0].valid_until is not None
    assert found.secrets[0].valid_until.tzinfo == UTC


async def test_get_unknown_credential_is_none(access_store: AccessStore) -> None:
    await seed(access_store)
    await access_store.add_member(member("alice"), "hash", NOW)

    assert await access_store.get_credential("alice") is None
    assert await access_store.get_credential("nobody") is None


async def test_create_credential_for_an_unknown_account_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match="account 'beta' does not exist"):
        await access_store.create_credential(credential("beta-dev+ci", "beta"))

    assert snapshot(migrated_url) == before


async def test_create_duplicate_credential_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store, "acme", "beta")
    await access_store.create_credential(credential("robot", "acme"))
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match="username 'robot' is already taken by a credential"):
        await access_store.create_credential(credential("robot", "beta", secrets=(SecretHash(sha256_of("x")),)))

    assert snapshot(migrated_url) == before


async def test_create_credential_named_like_a_member_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.add_member(member("alice"), "hash", NOW)
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match=r"username 'alice' is already taken by a member.*share one namespace"):
        await access_store.create_credential(credential("alice"))

    assert snapshot(migrated_url) == before
    assert await access_store.get_credential("alice") is None


async def test_create_credential_reusing_a_stored_secret_hash_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.create_credential(credential("first", secrets=(SecretHash(sha256_of("same")),)))
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match=r"already stored.*generate a new secret"):
        await access_store.create_credential(credential("second", secrets=(SecretHash(sha256_of("same")),)))

    assert snapshot(migrated_url) == before
    assert await access_store.get_credential("second") is None


async def test_create_credential_rejects_a_naive_datetime(access_store: AccessStore, migrated_url: str) -> None:
    await seed(access_store)
    before = snapshot(migrated_url)
    naive = NOW.replace(tzinfo=None)

    with pytest.raises(ValueError, match="naive datetime"):
        await access_store.create_credential(credential(secrets=(SecretHash(sha256_of("s"), valid_until=naive),)))
    with pytest.raises(ValueError, match="naive datetime"):
        await access_store.create_credential(replace(credential(), expires_at=naive))

    assert snapshot(migrated_url) == before


async def test_list_credentials_of_an_account_sorted_by_username_each_with_its_own_scopes_and_secrets(
    access_store: AccessStore,
) -> None:
    await seed(access_store, "acme", "beta")
    created = [
        credential(
            f"acme-dev+{name}",
            name=name,
            scopes=tuple(Scope(f"acme-{n}", frozenset({Action.PULL})) for n in range(count)),
            secrets=tuple(
                SecretHash(sha256_of(f"{name}/{n}"), valid_until=NOW + timedelta(hours=n)) for n in range(count)
            ),
        )
        for name, count in [("zeta", 3), ("alpha", 0), ("mid", 2), ("Beta", 1)]
    ]
    for each in created:
        await access_store.create_credential(each)
    await access_store.create_credential(credential("beta-dev+ci", "beta"))

    listed = await access_store.list_credentials("acme")

    assert listed == sorted(created, key=lambda each: each.username.encode())
    assert [found.username for found in await access_store.list_credentials("beta")] == ["beta-dev+ci"]
    assert await access_store.list_credentials("nobody") == []


async def test_save_credential_replaces_secrets_expiry_revocation_and_last_use(access_store: AccessStore) -> None:
    await seed(access_store)
    created = credential(secrets=(SecretHash(sha256_of("first")),))
    await access_store.create_credential(created)
    await access_store.create_credential(credential("other"))
    rotated = replace(
        created,
        secrets=(SecretHash(sha256_of("second")), SecretHash(sha256_of("first"), valid_until=NOW + timedelta(hours=1))),
        last_used_at=NOW + timedelta(minutes=1),
        expires_at=NOW + timedelta(days=365),  # rotating may renew the credential
    )

    await access_store.save_credential(rotated)
    assert await access_store.get_credential(created.username) == rotated

    revoked = replace(rotated, secrets=(), revoked_at=NOW + timedelta(minutes=2), last_used_at=None)
    await access_store.save_credential(revoked)
    assert await access_store.get_credential(created.username) == revoked
    assert await access_store.get_credential("other") == credential("other")


async def test_save_credential_ignores_the_fields_it_does_not_replace(access_store: AccessStore) -> None:
    await seed(access_store, "acme", "beta")
    created = credential()
    await access_store.create_credential(created)

    await access_store.save_credential(
        replace(
            created,
            name="renamed",
            account="beta",
            kind=CredentialKind.PULL,
            scopes=(),
            created_at=NOW - timedelta(days=1000),
            created_by="mallory",
            revoked_at=NOW,
        )
    )

    assert await access_store.get_credential(created.username) == replace(created, revoked_at=NOW)


async def test_save_unknown_credential_raises_name_unknown_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    await access_store.add_member(member("alice"), "hash", NOW)
    before = snapshot(migrated_url)

    with pytest.raises(NameUnknown, match="credential 'alice' does not exist"):
        await access_store.save_credential(credential("alice"))

    assert snapshot(migrated_url) == before


async def test_save_credential_with_another_credentials_secret_raises_conflict_and_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await seed(access_store)
    mine = credential("mine", secrets=(SecretHash(sha256_of("mine")),))
    await access_store.create_credential(mine)
    await access_store.create_credential(credential("theirs", secrets=(SecretHash(sha256_of("theirs")),)))
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match="credential 'mine'"):
        await access_store.save_credential(
            replace(mine, secrets=(SecretHash(sha256_of("theirs")),), revoked_at=NOW, last_used_at=NOW)
        )

    assert snapshot(migrated_url) == before


async def test_find_credential_by_secret_finds_current_and_rotated_out_secrets(access_store: SqlAccessStore) -> None:
    await seed(access_store)
    created = credential(
        secrets=(SecretHash(sha256_of("new")), SecretHash(sha256_of("old"), valid_until=NOW + timedelta(hours=24)))
    )
    await access_store.create_credential(created)
    await access_store.create_credential(credential("other", secrets=(SecretHash(sha256_of("theirs")),)))

    assert await access_store.find_credential_by_secret(sha256_of("new")) == created
    # A rotated-out secret is found too (past its valid_until as well): the caller decides whether it still works.
    assert await access_store.find_credential_by_secret(sha256_of("old")) == created
    found = await access_store.find_credential_by_secret(sha256_of("theirs"))
    assert found is not None
    assert found.username == "other"
    assert await access_store.find_credential_by_secret(sha256_of("never issued")) is None


async def test_find_credential_by_secret_misses_a_secret_removed_by_reset(access_store: SqlAccessStore) -> None:
    await seed(access_store)
    created = credential(secrets=(SecretHash(sha256_of("old")),))
    await access_store.create_credential(created)

    await access_store.save_credential(replace(created, secrets=(SecretHash(sha256_of("new")),)))

    assert await access_store.find_credential_by_secret(sha256_of("old")) is None
    found = await access_store.find_credential_by_secret(sha256_of("new"))
    assert found is not None
    assert found.secrets == (SecretHash(sha256_of("new")),)


def test_secret_hashes_are_looked_up_through_a_unique_index(migrated_url: str) -> None:
    with database(migrated_url) as engine:
        indexes = inspect(engine).get_indexes("credential_secrets")

    [by_hash] = [index for index in indexes if index["name"] == "ix_credential_secrets_sha256"]
    assert by_hash["column_names"] == ["sha256"]
    assert by_hash["unique"]


async def test_record_credential_use_only_moves_last_use_forward(access_store: SqlAccessStore) -> None:
    await seed(access_store)
    created = credential()
    await access_store.create_credential(created)

    await access_store.record_credential_use(created.username, NOW + timedelta(minutes=5))
    await access_store.record_credential_use(created.username, NOW + timedelta(minutes=1))
    await access_store.record_credential_use("nobody", NOW)

    assert await access_store.get_credential(created.username) == replace(
        created, last_used_at=NOW + timedelta(minutes=5)
    )


async def test_record_credential_use_keeps_a_reset_that_happened_since_the_credential_was_read(
    access_store: SqlAccessStore,
) -> None:
    await seed(access_store)
    created = credential(secrets=(SecretHash(sha256_of("old")),))
    await access_store.create_credential(created)
    reset = replace(created, secrets=(SecretHash(sha256_of("new")),))

    await access_store.save_credential(reset)  # by an administrator, after a login read `created`
    await access_store.record_credential_use(created.username, NOW)  # by that login

    assert await access_store.get_credential(created.username) == replace(reset, last_used_at=NOW)


# Failed logins


async def test_login_failures_are_counted_per_identity_and_per_address_within_the_window(
    access_store: AccessStore,
) -> None:
    for minutes, identity, remote in [
        (0, "alice", "192.0.2.1"),
        (5, "alice", "192.0.2.1"),
        (10, "alice", "192.0.2.2"),
        (10, "bob", "192.0.2.1"),
        (20, "alice", None),
        (30, "carol", "192.0.2.9"),
    ]:
        await access_store.record_login_failure(identity, remote, NOW + timedelta(minutes=minutes))

    assert await access_store.login_failures_since("alice", "192.0.2.1", NOW) == (4, 3)
    # `since` is inclusive: the failures at exactly 5 and 10 minutes count.
    assert await access_store.login_failures_since("alice", "192.0.2.1", NOW + timedelta(minutes=5)) == (3, 2)
    assert await access_store.login_failures_since("alice", "192.0.2.2", NOW + timedelta(minutes=11)) == (1, 0)
    assert await access_store.login_failures_since("bob", "192.0.2.9", NOW) == (1, 1)
    assert await access_store.login_failures_since("alice", None, NOW) == (4, 0)
    assert await access_store.login_failures_since("dave", "198.51.100.1", NOW) == (0, 0)
    assert await access_store.login_failures_since("alice", "192.0.2.1", NOW + timedelta(hours=1)) == (0, 0)


async def test_clear_login_failures_resets_the_identity_but_not_the_addresses_it_was_guessed_from(
    access_store: AccessStore,
) -> None:
    for identity, remote in [("alice", "192.0.2.66"), ("alice", "192.0.2.66"), ("alice", None), ("bob", "192.0.2.66")]:
        await access_store.record_login_failure(identity, remote, NOW)

    await access_store.clear_login_failures("alice")

    assert await access_store.login_failures_since("alice", "192.0.2.66", NOW) == (0, 3)
    assert await access_store.login_failures_since("bob", None, NOW) == (1, 0)
    await access_store.record_login_failure("alice", "192.0.2.66", NOW)
    assert await access_store.login_failures_since("alice", "192.0.2.66", NOW) == (1, 4)


async def test_clear_login_failures_of_an_identity_without_any_changes_nothing(
    access_store: AccessStore, migrated_url: str
) -> None:
    await access_store.record_login_failure("bob", "192.0.2.1", NOW)
    before = snapshot(migrated_url)

    await access_store.clear_login_failures("alice")

    assert snapshot(migrated_url) == before


async def test_login_failures_of_an_identity_longer_than_any_username_are_recorded_counted_and_cleared(
    access_store: AccessStore,
) -> None:
    garbage = "x" * 5000
    remote = "2001:db8::" + "1" * 400

    await access_store.record_login_failure(garbage, remote, NOW)
    await access_store.record_login_failure(garbage, remote, NOW)

    assert await access_store.login_failures_since(garbage, remote, NOW) == (2, 2)
    await access_store.clear_login_failures(garbage)
    assert await access_store.login_failures_since(garbage, remote, NOW) == (0, 2)


async def test_forget_login_failures_before_deletes_only_older_ones(access_store: SqlAccessStore) -> None:
    for minutes in [0, 10, 20]:
        await access_store.record_login_failure("alice", "192.0.2.1", NOW + timedelta(minutes=minutes))

    assert await access_store.forget_login_failures_before(NOW + timedelta(minutes=10)) == 1

    assert await access_store.login_failures_since("alice", "192.0.2.1", NOW - timedelta(days=1)) == (2, 2)


async def test_login_failures_reject_naive_datetimes(access_store: AccessStore, migrated_url: str) -> None:
    naive = NOW.replace(tzinfo=None)

    with pytest.raises(ValueError, match="naive datetime"):
        await access_store.record_login_failure("alice", None, naive)
    with pytest.raises(ValueError, match="naive datetime"):
        await access_store.login_failures_since("alice", None, naive)

    assert snapshot(migrated_url)["login_failures"] == []


# Audit


async def test_record_audit_round_trips_every_field_in_utc(access_store: AccessStore) -> None:
    recorded = event(
        NOW.astimezone(timezone(timedelta(hours=5, minutes=30))),
        actor="acme-dev+ci",
        credential="acme-dev+ci",
        result="denied",
        remote="2001:db8::1",
        detail={"digest": digest_of("m"), "reason": "tag is immutable", "ünïcode": "✓"},
    )

    await access_store.record_audit(recorded)

    [found] = await access_store.audit_events(None, None, None, 10)
    assert found == recorded
    assert found.time.tzinfo == UTC


async def test_record_audit_keeps_events_without_account_registry_or_remote(access_store: AccessStore) -> None:
    recorded = AuditEvent(NOW, None, "x" * 3000, "login", "x" * 3000, "failure")

    await access_store.record_audit(recorded)

    assert await access_store.audit_events(None, None, None, 10) == [recorded]


async def test_audit_events_come_newest_first_with_ties_in_reverse_recording_order(access_store: AccessStore) -> None:
    recorded = [
        event(NOW + timedelta(minutes=1), target="b"),
        event(NOW, target="a"),
        event(NOW + timedelta(minutes=2), target="c1"),
        event(NOW + timedelta(minutes=2), target="c2"),
        event(NOW + timedelta(minutes=2), target="c3"),
    ]
    for each in recorded:
        await access_store.record_audit(each)

    found = await access_store.audit_events(None, None, None, 100)

    assert [each.target for each in found] == ["c3", "c2", "c1", "b", "a"]


async def test_audit_events_filter_by_account_registry_and_since_and_limit(access_store: AccessStore) -> None:
    events = [
        event(NOW, account="acme", registry="acme-dev", target="1"),
        event(NOW + timedelta(minutes=1), account="acme", registry="acme-prod", target="2"),
        event(NOW + timedelta(minutes=2), account="beta", registry="beta-dev", target="3"),
        event(NOW + timedelta(minutes=3), account="acme", registry=None, target="4"),
        event(NOW + timedelta(minutes=4), account=None, registry=None, action="login", target="5"),
        event(NOW + timedelta(minutes=5), account="acme", registry="acme-dev", target="6"),
    ]
    for each in events:
        await access_store.record_audit(each)

    async def targets(account: str | None, registry: str | None, since: datetime | None, limit: int = 100) -> str:
        return "".join(each.target for each in await access_store.audit_events(account, registry, since, limit))

    assert await targets(None, None, None) == "654321"
    assert await targets("acme", None, None) == "6421"
    assert await targets(None, "acme-dev", None) == "61"
    assert await targets("acme", "acme-dev", None) == "61"
    assert await targets("beta", "acme-dev", None) == ""
    assert await targets(None, None, NOW + timedelta(minutes=2)) == "6543"  # inclusive
    assert await targets("acme", None, NOW + timedelta(minutes=1)) == "642"
    assert await targets(None, None, None, limit=2) == "65"
    assert await targets("acme", None, NOW, limit=3) == "642"
    assert await targets(None, None, None, limit=0) == ""
    assert await targets("nobody", None, None) == ""


async def test_audit_events_reject_a_negative_limit(access_store: AccessStore) -> None:
    with pytest.raises(ValueError, match="limit must not be negative"):
        await access_store.audit_events(None, None, None, -1)


async def test_record_audit_rejects_a_naive_time(access_store: AccessStore, migrated_url: str) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        await access_store.record_audit(event(NOW.replace(tzinfo=None)))

    assert snapshot(migrated_url)["audit_events"] == []


# Concurrency: several processes, each with its own store, on one database.


@asynccontextmanager
async def stores(url: str, count: int) -> AsyncIterator[list[SqlAccessStore]]:
    opened = [open_access_store(url) for _ in range(count)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


async def test_a_member_and_a_credential_racing_for_one_username_never_both_get_it(migrated_url: str) -> None:
    async with stores(migrated_url, 2) as (people, machines):
        await seed(people)
        for attempt in range(20):
            username = f"racer-{attempt}"
            results = await asyncio.gather(
                people.add_member(member(username), "hash", NOW),
                machines.create_credential(credential(username)),
                return_exceptions=True,
            )

            assert sorted(type(result).__name__ for result in results) == ["Conflict", "NoneType"]
            as_member = await people.get_member(username) is not None
            as_credential = await people.get_credential(username) is not None
            assert as_member != as_credential


async def test_accounts_racing_for_one_name_never_both_get_it(migrated_url: str) -> None:
    async with stores(migrated_url, 3) as racers:
        for attempt in range(10):
            results = await asyncio.gather(
                *(store.create_account(account(f"acme-{attempt}", quota_bytes=n)) for n, store in enumerate(racers)),
                return_exceptions=True,
            )

            assert sorted(type(result).__name__ for result in results) == ["Conflict", "Conflict", "NoneType"]


# Migration 0002


def move_to_revision(url: str, revision: str, *, down: bool = False) -> None:
    """Bring the database at `url` to `revision` exactly (`migrate` always goes to the newest)."""
    with database(url) as engine, engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(Path(shipshape.metadata.migrations.__file__).parent))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def revision_of(url: str) -> list[str]:
    with database(url) as engine, engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def table_names(url: str) -> set[str]:
    with database(url) as engine:
        return set(inspect(engine).get_table_names())


async def test_later_migrations_apply_on_top_of_a_0001_database_and_keep_its_data(database_url: str) -> None:
    move_to_revision(database_url, "0001")
    assert revision_of(database_url) == ["0001"]
    assert not table_names(database_url) & set(ACCESS_TABLES)
    # What a 0001 server stored: written as it wrote it, not through today's store.
    with database(database_url) as engine, engine.begin() as connection:
        repository_id = connection.execute(
            text("INSERT INTO repositories (name) VALUES ('acme-dev/web/api') RETURNING id")
        ).scalar_one()
        connection.execute(
            text("INSERT INTO blobs (digest, size, created_at) VALUES (:digest, 10, :now)"),
            {"digest": digest_of("layer"), "now": NOW},
        )
        connection.execute(
            text("INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (:id, :digest, :now)"),
            {"id": repository_id, "digest": digest_of("layer"), "now": NOW},
        )

    migrate(database_url)

    assert revision_of(database_url) == [head_revision()]
    assert set(ACCESS_TABLES) <= table_names(database_url)
    with database(database_url) as engine, engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    metadata_store = open_metadata_store(database_url)
    try:
        assert await metadata_store.linked_blob_size("acme-dev/web/api", digest_of("layer")) == 10
        # The blob is stored (not being collected): it links into another repository as a mount would.
        await metadata_store.link_stored_blob("acme-dev/other", digest_of("layer"))
    finally:
        await metadata_store.close()


def test_migrate_twice_leaves_the_access_tables_alone(migrated_url: str) -> None:
    with database(migrated_url) as engine, engine.begin() as connection:
        connection.execute(metadata.tables["accounts"].insert().values(name="acme", quota_bytes=1, created_at=NOW))
    before = snapshot(migrated_url)

    migrate(migrated_url)

    assert snapshot(migrated_url) == before
    assert revision_of(migrated_url) == [head_revision()]


def test_access_migrations_downgrade_to_0001(migrated_url: str) -> None:
    move_to_revision(migrated_url, "0001", down=True)

    assert revision_of(migrated_url) == ["0001"]
    assert not table_names(migrated_url) & set(ACCESS_TABLES)
    assert {"repositories", "manifests", "tags"} <= table_names(migrated_url)
    migrate(migrated_url)
    assert revision_of(migrated_url) == [head_revision()]


async def test_two_processes_making_the_first_start_at_once_create_one_admin(migrated_url: str) -> None:
    """Several server processes on one database may all find it empty: one creates `default`/`admin`."""
    from shipshape.services.bootstrap import bootstrap

    class Clock:
        def now(self) -> datetime:
            return NOW

    stores = [open_access_store(migrated_url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(bootstrap(store, Clock(), None) for store in stores))
        members = await stores[0].list_members("default")
    finally:
        for store in stores:
            await store.close()
    assert sum(result is not None for result in results) == 1
    assert [member.username for member in members] == ["admin"]
