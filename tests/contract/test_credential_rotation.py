"""When a credential's current secret was issued (`rotated_at`): stored and read back, and filled in from the audit
trail by the migration that added it (0008), for credentials rotated or reset before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.metadata.migrate import migrate
from tests.contract.test_access_store import NOW, credential, event, move_to_revision, registry, seed


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[SqlAccessStore]:
    opened = open_access_store(migrated_url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_rotated_at_is_stored_on_creation_and_on_save(store: SqlAccessStore) -> None:
    await seed(store)
    await store.create_registry(registry(), NOW)
    fresh = credential()
    await store.create_credential(fresh)
    assert (await store.get_credential(fresh.username)) == fresh
    assert fresh.rotated_at is None

    rotated = replace(fresh, rotated_at=NOW + timedelta(days=3))
    await store.save_credential(rotated)

    assert (await store.get_credential(fresh.username)) == rotated
    assert [c.rotated_at for c in await store.list_credentials("acme")] == [NOW + timedelta(days=3)]


async def test_the_migration_takes_the_last_successful_rotation_or_reset_from_the_audit_trail(
    migrated_url: str,
) -> None:
    store = open_access_store(migrated_url)
    try:
        await seed(store)
        await store.create_registry(registry(), NOW)
        for username in ("acme-dev+ci", "acme-dev+pull", "acme-dev+quiet"):
            await store.create_credential(credential(username, name=username.split("+")[1]))
        history = [
            (NOW + timedelta(days=1), "acme-dev+ci", "credential.rotate", "success"),
            (NOW + timedelta(days=2), "acme-dev+ci", "credential.reset", "success"),
            (NOW + timedelta(days=3), "acme-dev+ci", "credential.rotate", "denied"),
            (NOW + timedelta(days=4), "acme-dev+ci", "credential.revoke", "success"),
            (NOW + timedelta(days=5), "acme-dev+pull", "credential.rotate", "success"),
            (NOW + timedelta(days=6), "acme-dev+quiet", "credential.create", "success"),
        ]
        for at, username, action, result in history:
            await store.record_audit(event(at, action=action, target=username, credential=username, result=result))
    finally:
        await store.close()
    move_to_revision(migrated_url, "0007", down=True)

    migrate(migrated_url)

    store = open_access_store(migrated_url)
    try:
        found = {c.username: c.rotated_at for c in await store.list_credentials("acme")}
    finally:
        await store.close()
    assert found == {
        "acme-dev+ci": NOW + timedelta(days=2),
        "acme-dev+pull": NOW + timedelta(days=5),
        "acme-dev+quiet": None,
    }
