"""A push and the deletion of its registry happen one after the other: either the push fails and stores nothing,
or the registry stays (its deletion is refused because it now holds an image)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from shipshape.domain.access import Account, Environment, Registry
from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.metadata import blob_links
from shipshape.metadata import manifests as manifests_sql
from shipshape.metadata import registries as registries_sql
from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.ports import MetadataStore
from tests.contract.test_guarded_writes import _wait_until_blocked
from tests.contract.test_metadata_store import NOW, by_tag, database, image, link_blobs_of, snapshot


@pytest.fixture
async def access_store(migrated_url: str) -> AsyncIterator[SqlAccessStore]:
    store = open_access_store(migrated_url)
    await store.create_account(Account("acme", NOW))
    await store.create_registry(Registry("acme-dev", "acme", Environment.DEVELOPMENT), NOW)
    try:
        yield store
    finally:
        await store.close()


async def test_a_push_after_its_registry_was_deleted_stores_nothing(
    metadata_store: MetadataStore, access_store: SqlAccessStore, migrated_url: str
) -> None:
    manifest = image("one")
    await link_blobs_of(metadata_store, "acme-dev/web", manifest)
    await access_store.delete_registry("acme-dev")
    before = snapshot(migrated_url)
    with pytest.raises(NameUnknown, match="deleted while this push ran"):
        await metadata_store.put_manifest("acme-dev/web", manifest, "v1", NOW, registry="acme-dev")
    assert snapshot(migrated_url) == before


async def test_a_registry_that_a_push_reached_first_is_not_deleted(
    metadata_store: MetadataStore, access_store: SqlAccessStore
) -> None:
    manifest = image("one")
    await link_blobs_of(metadata_store, "acme-dev/web", manifest)
    await metadata_store.put_manifest("acme-dev/web", manifest, "v1", NOW, registry="acme-dev")
    with pytest.raises(Conflict, match="still holds images"):
        await access_store.delete_registry("acme-dev")
    assert await access_store.get_registry("acme-dev") is not None
    assert await metadata_store.get_manifest("acme-dev/web", by_tag("v1")) is not None


@pytest.mark.postgres
async def test_a_delete_that_starts_during_a_push_waits_for_it_and_is_refused(
    postgres_migrated_url: str,
) -> None:
    """PostgreSQL: the push's transaction holds the registry's row; the delete waits for the commit, then sees
    the image (SQLite runs one writer at a time, so the interleaving cannot happen there)."""
    access = open_access_store(postgres_migrated_url)
    try:
        await access.create_account(Account("acme", NOW))
        await access.create_registry(Registry("acme-dev", "acme", Environment.DEVELOPMENT), NOW)
    finally:
        await access.close()
    manifest = image("one")
    with database(postgres_migrated_url) as engine, engine.connect() as pusher, pusher.begin() as push_transaction:
        registries_sql.require_present(pusher, "acme-dev")  # as put_manifest(registry=...) does
        for blob in manifest.blobs:
            blob_links.link(pusher, "acme-dev/web", blob.digest, blob.size, NOW)
        manifests_sql.put(pusher, "acme-dev/web", manifest, "v1", NOW)
        with ThreadPoolExecutor(1) as pool:
            deletion = pool.submit(_delete_registry, engine)
            _wait_until_blocked(engine)
            push_transaction.commit()
            with pytest.raises(Conflict):
                deletion.result(timeout=30)


def _delete_registry(engine: Engine) -> None:
    with engine.begin() as connection:
        registries_sql.remove(connection, "acme-dev")
