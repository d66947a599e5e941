"""The `MetadataStore` contract, run against SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, func, select, text

from shipshape.domain import media_types as mt
from shipshape.domain.digests import Digest
from shipshape.domain.errors import (
    BlobUnknown,
    ChildManifestUnknown,
    Conflict,
    ManifestBlobUnknown,
    ManifestUnknown,
)
from shipshape.domain.manifests import Manifest, parse_manifest
from shipshape.domain.names import Reference
from shipshape.domain.records import UploadSession
from shipshape.metadata import open_metadata_store
from shipshape.metadata.engine import database_url
from shipshape.metadata.migrate import migrate
from shipshape.metadata.tables import metadata
from shipshape.ports import MetadataStore
from tests.contract.conftest import head_revision

NOW = datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


# Factories


def digest_of(seed: str) -> str:
    return str(Digest.of(seed.encode()))


def descriptor(digest: str, media_type: str = LAYER_TYPE, size: int = 1234) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def image(
    seed: str = "app",
    *,
    config: str | None = None,
    layers: Sequence[str] | None = None,
    subject: Manifest | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """An OCI image manifest; `seed` names its blobs unless they are given, and makes its digest unique."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": descriptor(config or digest_of(f"{seed}/config"), CONFIG_TYPE),
        "layers": [descriptor(layer) for layer in (layers if layers is not None else [digest_of(f"{seed}/layer")])],
        "annotations": {"seed": seed, **(annotations or {})},
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = descriptor(str(subject.digest), subject.media_type, len(subject.payload))
    # Indented, so that a store re-serialising the JSON would be caught.
    return parse_manifest(json.dumps(document, indent=3).encode(), mt.OCI_MANIFEST)


def index(*children: Manifest, seed: str = "index") -> Manifest:
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [descriptor(str(child.digest), child.media_type, len(child.payload)) for child in children],
        "annotations": {"seed": seed},
    }
    return parse_manifest(json.dumps(document).encode(), mt.OCI_INDEX)


def by_tag(tag: str) -> Reference:
    return Reference(tag=tag)


def by_digest(manifest: Manifest) -> Reference:
    return Reference(digest=manifest.digest)


async def link_blobs_of(store: MetadataStore, repository: str, manifest: Manifest) -> None:
    for blob in manifest.blobs:
        await store.link_blob(repository, blob.digest, blob.size)


async def push(
    store: MetadataStore, repository: str, manifest: Manifest, tag: str | None = None, now: datetime = NOW
) -> Manifest:
    """Link the manifest's blobs, then store it, as a client's push does."""
    await link_blobs_of(store, repository, manifest)
    await store.put_manifest(repository, manifest, tag, now)
    return manifest


def upload(upload_id: str, repository: str = "team/app", at: datetime = NOW) -> UploadSession:
    return UploadSession(id=upload_id, repository=repository, created_at=at, updated_at=at)


@contextmanager
def database(url: str) -> Iterator[Engine]:
    engine = create_engine(database_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused operation changed nothing."""
    with database(url) as engine, engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in metadata.sorted_tables
        }


def count_rows(url: str, table: str) -> int:
    with database(url) as engine, engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(metadata.tables[table])).scalar_one())


# BlobIndex


async def test_link_blob_makes_its_size_visible_in_the_repository(metadata_store: MetadataStore) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 4096)

    assert await metadata_store.linked_blob_size("team/app", digest_of("layer")) == 4096


async def test_linked_blob_size_is_none_in_a_repository_it_is_not_linked_into(
    metadata_store: MetadataStore,
) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 4096)

    assert await metadata_store.linked_blob_size("team/other", digest_of("layer")) is None
    assert await metadata_store.linked_blob_size("team/app", digest_of("another")) is None


async def test_link_blob_twice_stores_one_link(metadata_store: MetadataStore, migrated_url: str) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 4096)
    await metadata_store.link_blob("team/app", digest_of("layer"), 4096)

    assert count_rows(migrated_url, "repository_blobs") == 1
    assert count_rows(migrated_url, "blobs") == 1


async def test_link_blob_into_a_second_repository_shares_the_blob(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 4096)
    await metadata_store.link_blob("team/other", digest_of("layer"), 4096)

    assert count_rows(migrated_url, "blobs") == 1
    assert await metadata_store.linked_blob_size("team/other", digest_of("layer")) == 4096


async def test_repositories_with_blob_are_sorted_and_limited(metadata_store: MetadataStore) -> None:
    for repository in ["zeta", "alpha/b", "alpha-b", "alphaz", "beta"]:
        await metadata_store.link_blob(repository, digest_of("layer"), 10)
    await metadata_store.link_blob("unrelated", digest_of("other"), 10)

    assert await metadata_store.repositories_with_blob(digest_of("layer")) == [
        "alpha-b",
        "alpha/b",
        "alphaz",
        "beta",
        "zeta",
    ]
    assert await metadata_store.repositories_with_blob(digest_of("layer"), limit=2) == ["alpha-b", "alpha/b"]
    assert await metadata_store.repositories_with_blob(digest_of("missing")) == []


async def test_unlink_blob_removes_only_that_repositorys_link(metadata_store: MetadataStore) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 10)
    await metadata_store.link_blob("team/other", digest_of("layer"), 10)

    await metadata_store.unlink_blob("team/app", digest_of("layer"))

    assert await metadata_store.linked_blob_size("team/app", digest_of("layer")) is None
    assert await metadata_store.linked_blob_size("team/other", digest_of("layer")) == 10


async def test_unlink_blob_not_linked_raises_blob_unknown(metadata_store: MetadataStore, migrated_url: str) -> None:
    await metadata_store.link_blob("team/other", digest_of("layer"), 10)
    before = snapshot(migrated_url)

    with pytest.raises(BlobUnknown, match=digest_of("layer")):
        await metadata_store.unlink_blob("team/app", digest_of("layer"))
    with pytest.raises(BlobUnknown):
        await metadata_store.unlink_blob("team/other", digest_of("missing"))

    assert snapshot(migrated_url) == before


async def test_unlink_blob_referenced_by_a_manifest_raises_conflict_and_changes_nothing(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    manifest = await push(metadata_store, "team/app", image())
    layer = manifest.blobs[1].digest
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match=f"referenced by manifest {manifest.digest}.*delete the manifest first"):
        await metadata_store.unlink_blob("team/app", layer)

    assert snapshot(migrated_url) == before
    assert await metadata_store.linked_blob_size("team/app", layer) == 1234


async def test_unlink_blob_succeeds_once_the_referencing_manifest_is_deleted(
    metadata_store: MetadataStore,
) -> None:
    manifest = await push(metadata_store, "team/app", image())
    await metadata_store.delete_manifest("team/app", str(manifest.digest))

    await metadata_store.unlink_blob("team/app", manifest.blobs[1].digest)

    assert await metadata_store.linked_blob_size("team/app", manifest.blobs[1].digest) is None


async def test_unlink_blob_ignores_manifests_of_other_repositories(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/other", image())
    await link_blobs_of(metadata_store, "team/app", manifest)

    await metadata_store.unlink_blob("team/app", manifest.blobs[1].digest)

    assert await metadata_store.linked_blob_size("team/other", manifest.blobs[1].digest) == 1234


# ManifestIndex: put and get


async def test_put_manifest_then_get_by_digest_returns_it_byte_for_byte(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image())

    stored = await metadata_store.get_manifest("team/app", by_digest(manifest))

    assert stored is not None
    assert stored.repository == "team/app"
    assert stored.digest == str(manifest.digest)
    assert stored.media_type == mt.OCI_MANIFEST
    assert stored.payload == manifest.payload
    assert stored.created_at == NOW


async def test_put_manifest_with_a_tag_then_get_by_tag(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image(), tag="v1.0.0")

    stored = await metadata_store.get_manifest("team/app", by_tag("v1.0.0"))

    assert stored is not None
    assert stored.digest == str(manifest.digest)
    assert stored.payload == manifest.payload


async def test_put_manifest_keeps_a_large_payload_intact(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image(annotations={"big": "x" * 1_000_000}))

    stored = await metadata_store.get_manifest("team/app", by_digest(manifest))

    assert stored is not None
    assert stored.payload == manifest.payload


async def test_get_manifest_by_unknown_tag_or_digest_is_none(metadata_store: MetadataStore) -> None:
    await push(metadata_store, "team/app", image(), tag="v1")

    assert await metadata_store.get_manifest("team/app", by_tag("v2")) is None
    assert await metadata_store.get_manifest("team/app", by_digest(image("other"))) is None
    assert await metadata_store.get_manifest("nobody/here", by_tag("v1")) is None


async def test_get_manifest_does_not_see_other_repositories(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/other", image(), tag="v1")

    assert await metadata_store.get_manifest("team/app", by_tag("v1")) is None
    assert await metadata_store.get_manifest("team/app", by_digest(manifest)) is None


async def test_put_manifest_rejects_unlinked_blob(metadata_store: MetadataStore, migrated_url: str) -> None:
    manifest = image()
    await metadata_store.link_blob("team/app", manifest.blobs[0].digest, 10)  # the config, not the layer
    before = snapshot(migrated_url)

    with pytest.raises(ManifestBlobUnknown, match=manifest.blobs[1].digest) as raised:
        await metadata_store.put_manifest("team/app", manifest, "v1", NOW)

    assert raised.value.detail == {"digest": manifest.blobs[1].digest}
    assert snapshot(migrated_url) == before


async def test_put_manifest_rejects_blob_linked_only_into_another_repository(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    manifest = image()
    await link_blobs_of(metadata_store, "team/other", manifest)
    before = snapshot(migrated_url)

    with pytest.raises(ManifestBlobUnknown):
        await metadata_store.put_manifest("team/app", manifest, "v1", NOW)

    assert snapshot(migrated_url) == before
    assert not await metadata_store.repository_exists("team/app")


async def test_put_manifest_accepts_a_blob_listed_twice(metadata_store: MetadataStore) -> None:
    # The OCI empty descriptor often serves as both config and layer of an artifact.
    empty = digest_of("{}")
    manifest = image(config=empty, layers=[empty, empty])

    await push(metadata_store, "team/app", manifest)

    assert await metadata_store.get_manifest("team/app", by_digest(manifest)) is not None


async def test_put_index_rejects_unknown_child(metadata_store: MetadataStore, migrated_url: str) -> None:
    present = await push(metadata_store, "team/app", image("amd64"))
    absent = image("arm64")
    await link_blobs_of(metadata_store, "team/app", absent)
    before = snapshot(migrated_url)

    with pytest.raises(ChildManifestUnknown, match=str(absent.digest)) as raised:
        await metadata_store.put_manifest("team/app", index(present, absent), "v1", NOW)

    assert raised.value.detail == {"digest": str(absent.digest)}
    assert snapshot(migrated_url) == before


async def test_put_index_rejects_child_stored_only_in_another_repository(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    child = await push(metadata_store, "team/other", image())
    before = snapshot(migrated_url)

    with pytest.raises(ChildManifestUnknown):
        await metadata_store.put_manifest("team/app", index(child), None, NOW)

    assert snapshot(migrated_url) == before


async def test_put_index_of_stored_children_succeeds(metadata_store: MetadataStore) -> None:
    amd64 = await push(metadata_store, "team/app", image("amd64"))
    arm64 = await push(metadata_store, "team/app", image("arm64"))

    await metadata_store.put_manifest("team/app", index(amd64, arm64), "v1", NOW)

    stored = await metadata_store.get_manifest("team/app", by_tag("v1"))
    assert stored is not None
    assert stored.media_type == mt.OCI_INDEX


async def test_put_manifest_twice_stores_it_once(metadata_store: MetadataStore, migrated_url: str) -> None:
    manifest = await push(metadata_store, "team/app", image(), now=NOW)

    await metadata_store.put_manifest("team/app", manifest, None, NOW + timedelta(hours=1))

    assert count_rows(migrated_url, "manifests") == 1
    assert count_rows(migrated_url, "manifest_blobs") == 2
    stored = await metadata_store.get_manifest("team/app", by_digest(manifest))
    assert stored is not None
    assert stored.created_at == NOW


async def test_put_manifest_again_adds_a_tag(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image(), tag="v1")

    await metadata_store.put_manifest("team/app", manifest, "stable", NOW)

    assert await metadata_store.list_tags("team/app", None, None) == ["stable", "v1"]


async def test_put_manifest_moves_an_existing_tag(metadata_store: MetadataStore) -> None:
    first = await push(metadata_store, "team/app", image("first"), tag="latest")
    second = await push(metadata_store, "team/app", image("second"), tag="latest")

    stored = await metadata_store.get_manifest("team/app", by_tag("latest"))

    assert stored is not None
    assert stored.digest == str(second.digest)
    assert await metadata_store.get_manifest("team/app", by_digest(first)) is not None
    assert await metadata_store.list_tags("team/app", None, None) == ["latest"]


async def test_put_manifest_records_subject_artifact_type_and_annotations(
    metadata_store: MetadataStore,
) -> None:
    subject = await push(metadata_store, "team/app", image())
    signature = image(
        "sig", subject=subject, artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json", annotations={"k": "v"}
    )
    await push(metadata_store, "team/app", signature)

    stored = await metadata_store.get_manifest("team/app", by_digest(signature))

    assert stored is not None
    assert stored.subject == str(subject.digest)
    assert stored.artifact_type == "application/vnd.dev.cosign.artifact.sig.v1+json"
    assert stored.annotations == {"seed": "sig", "k": "v"}


async def test_put_manifest_without_artifact_type_records_the_config_media_type(
    metadata_store: MetadataStore,
) -> None:
    manifest = await push(metadata_store, "team/app", image())

    stored = await metadata_store.get_manifest("team/app", by_digest(manifest))

    assert stored is not None
    assert stored.artifact_type == CONFIG_TYPE
    assert stored.subject is None


async def test_put_manifest_rejects_a_naive_datetime(metadata_store: MetadataStore, migrated_url: str) -> None:
    manifest = image()
    await link_blobs_of(metadata_store, "team/app", manifest)
    before = snapshot(migrated_url)

    with pytest.raises(ValueError, match="timezone-aware"):
        await metadata_store.put_manifest("team/app", manifest, "v1", NOW.replace(tzinfo=None))

    assert snapshot(migrated_url) == before


async def test_manifest_created_at_comes_back_in_utc(metadata_store: MetadataStore) -> None:
    pushed_at = datetime(2025, 6, 1, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    manifest = await push(metadata_store, "team/app", image(), now=pushed_at)

    stored = await metadata_store.get_manifest("team/app", by_digest(manifest))

    assert stored is not None
    assert stored.created_at == pushed_at
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo is UTC


# ManifestIndex: delete


async def test_delete_manifest_removes_it_and_every_tag_pointing_at_it(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image(), tag="v1")
    await metadata_store.put_manifest("team/app", manifest, "stable", NOW)
    other = await push(metadata_store, "team/app", image("other"), tag="v2")

    await metadata_store.delete_manifest("team/app", str(manifest.digest))

    assert await metadata_store.get_manifest("team/app", by_digest(manifest)) is None
    assert await metadata_store.get_manifest("team/app", by_tag("v1")) is None
    assert await metadata_store.list_tags("team/app", None, None) == ["v2"]
    assert await metadata_store.get_manifest("team/app", by_digest(other)) is not None


async def test_delete_manifest_removes_its_references(metadata_store: MetadataStore, migrated_url: str) -> None:
    child = await push(metadata_store, "team/app", image())
    parent = index(child)
    await metadata_store.put_manifest("team/app", parent, None, NOW)

    await metadata_store.delete_manifest("team/app", str(parent.digest))
    await metadata_store.delete_manifest("team/app", str(child.digest))

    assert count_rows(migrated_url, "manifest_blobs") == 0
    assert count_rows(migrated_url, "manifest_children") == 0


async def test_delete_manifest_leaves_the_same_digest_in_other_repositories(
    metadata_store: MetadataStore,
) -> None:
    manifest = await push(metadata_store, "team/app", image(), tag="v1")
    await push(metadata_store, "team/other", manifest, tag="v1")

    await metadata_store.delete_manifest("team/app", str(manifest.digest))

    assert await metadata_store.get_manifest("team/other", by_tag("v1")) is not None


async def test_delete_unknown_manifest_raises_manifest_unknown(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    manifest = await push(metadata_store, "team/other", image())
    before = snapshot(migrated_url)

    with pytest.raises(ManifestUnknown, match=str(manifest.digest)):
        await metadata_store.delete_manifest("team/app", str(manifest.digest))
    with pytest.raises(ManifestUnknown):
        await metadata_store.delete_manifest("team/other", digest_of("missing"))

    assert snapshot(migrated_url) == before


async def test_delete_manifest_listed_by_an_index_raises_conflict_and_changes_nothing(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    child = await push(metadata_store, "team/app", image(), tag="amd64")
    parent = index(child)
    await metadata_store.put_manifest("team/app", parent, "v1", NOW)
    before = snapshot(migrated_url)

    with pytest.raises(Conflict, match=f"listed by index {parent.digest}.*delete the index first"):
        await metadata_store.delete_manifest("team/app", str(child.digest))

    assert snapshot(migrated_url) == before


async def test_delete_manifest_ignores_indexes_of_other_repositories(metadata_store: MetadataStore) -> None:
    child = await push(metadata_store, "team/other", image())
    await metadata_store.put_manifest("team/other", index(child), None, NOW)
    await push(metadata_store, "team/app", child)

    await metadata_store.delete_manifest("team/app", str(child.digest))

    assert await metadata_store.get_manifest("team/app", by_digest(child)) is None


async def test_delete_manifest_succeeds_once_its_index_is_deleted(metadata_store: MetadataStore) -> None:
    child = await push(metadata_store, "team/app", image())
    parent = index(child)
    await metadata_store.put_manifest("team/app", parent, None, NOW)

    await metadata_store.delete_manifest("team/app", str(parent.digest))
    await metadata_store.delete_manifest("team/app", str(child.digest))

    assert await metadata_store.get_manifest("team/app", by_digest(child)) is None


async def test_delete_index_keeps_its_children(metadata_store: MetadataStore) -> None:
    child = await push(metadata_store, "team/app", image())
    parent = index(child)
    await metadata_store.put_manifest("team/app", parent, None, NOW)

    await metadata_store.delete_manifest("team/app", str(parent.digest))

    assert await metadata_store.get_manifest("team/app", by_digest(child)) is not None


async def test_delete_tag_keeps_the_manifest(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image(), tag="v1")

    await metadata_store.delete_tag("team/app", "v1")

    assert await metadata_store.get_manifest("team/app", by_tag("v1")) is None
    assert await metadata_store.get_manifest("team/app", by_digest(manifest)) is not None


async def test_delete_unknown_tag_raises_manifest_unknown(metadata_store: MetadataStore, migrated_url: str) -> None:
    await push(metadata_store, "team/other", image(), tag="v1")
    before = snapshot(migrated_url)

    with pytest.raises(ManifestUnknown, match="tag v1"):
        await metadata_store.delete_tag("team/app", "v1")
    with pytest.raises(ManifestUnknown):
        await metadata_store.delete_tag("team/other", "v2")

    assert snapshot(migrated_url) == before


# ManifestIndex: repositories, listings, referrers


async def test_a_repository_holding_only_blobs_does_not_exist(metadata_store: MetadataStore) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 10)

    assert not await metadata_store.repository_exists("team/app")


async def test_repository_exists_once_it_holds_a_manifest(metadata_store: MetadataStore) -> None:
    await metadata_store.put_manifest("team/app", index(), None, NOW)  # an empty index needs no blobs

    assert await metadata_store.repository_exists("team/app")


async def test_unknown_repository_does_not_exist(metadata_store: MetadataStore) -> None:
    await metadata_store.link_blob("team/app", digest_of("layer"), 10)

    assert not await metadata_store.repository_exists("team/ap")
    assert not await metadata_store.repository_exists("team")


async def test_repository_left_empty_no_longer_exists(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image(), tag="v1")
    await metadata_store.delete_manifest("team/app", str(manifest.digest))
    for blob in manifest.blobs:
        await metadata_store.unlink_blob("team/app", blob.digest)

    assert not await metadata_store.repository_exists("team/app")


async def test_list_tags_sorts_in_byte_order(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image())
    names = ["b", "a", "B", "A", "_z", "v1.10", "v1.9", "v1-9", "1", "a-b", "a.b", "a_b", "ab"]
    for tag in names:
        await metadata_store.put_manifest("team/app", manifest, tag, NOW)

    assert await metadata_store.list_tags("team/app", None, None) == sorted(names)


async def test_list_tags_pages_after_last(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image())
    for tag in ["v1", "v2", "v3", "v4", "v5"]:
        await metadata_store.put_manifest("team/app", manifest, tag, NOW)

    assert await metadata_store.list_tags("team/app", None, 2) == ["v1", "v2"]
    assert await metadata_store.list_tags("team/app", "v2", 2) == ["v3", "v4"]
    assert await metadata_store.list_tags("team/app", "v4", 2) == ["v5"]
    assert await metadata_store.list_tags("team/app", "v5", 2) == []


async def test_list_tags_after_a_last_that_is_not_a_tag(metadata_store: MetadataStore) -> None:
    manifest = await push(metadata_store, "team/app", image())
    for tag in ["a", "c", "e"]:
        await metadata_store.put_manifest("team/app", manifest, tag, NOW)

    assert await metadata_store.list_tags("team/app", "b", None) == ["c", "e"]


async def test_list_tags_with_limit_zero_is_empty(metadata_store: MetadataStore) -> None:
    await push(metadata_store, "team/app", image(), tag="v1")

    assert await metadata_store.list_tags("team/app", None, 0) == []


async def test_list_tags_lists_only_that_repository(metadata_store: MetadataStore) -> None:
    await push(metadata_store, "team/app", image(), tag="mine")
    await push(metadata_store, "team/other", image(), tag="theirs")

    assert await metadata_store.list_tags("team/app", None, None) == ["mine"]
    assert await metadata_store.list_tags("nobody/here", None, None) == []


async def test_list_repositories_sorts_in_byte_order(metadata_store: MetadataStore) -> None:
    names = ["ab", "a_b", "a/b", "a.b", "a-b", "a", "b/a", "a0"]
    for name in names:
        await metadata_store.put_manifest(name, index(), None, NOW)

    assert await metadata_store.list_repositories(None, 100) == sorted(names)


async def test_list_repositories_pages_after_last(metadata_store: MetadataStore) -> None:
    for name in ["r1", "r2", "r3", "r4", "r5"]:
        await metadata_store.put_manifest(name, index(), None, NOW)

    assert await metadata_store.list_repositories(None, 2) == ["r1", "r2"]
    assert await metadata_store.list_repositories("r2", 2) == ["r3", "r4"]
    assert await metadata_store.list_repositories("r4", 2) == ["r5"]
    assert await metadata_store.list_repositories("r35", 10) == ["r4", "r5"]
    assert await metadata_store.list_repositories("r5", 2) == []


async def test_list_repositories_lists_only_repositories_holding_a_manifest(metadata_store: MetadataStore) -> None:
    await metadata_store.put_manifest("emptied", index(), None, NOW)
    await metadata_store.delete_manifest("emptied", str(index().digest))
    await metadata_store.put_manifest("manifests", index(), None, NOW)
    await metadata_store.link_blob("blobs-only", digest_of("layer"), 10)

    assert await metadata_store.list_repositories(None, 100) == ["manifests"]


async def test_list_repositories_skips_a_repository_a_refused_push_named(metadata_store: MetadataStore) -> None:
    with pytest.raises(ManifestBlobUnknown):
        await metadata_store.put_manifest("team/app", image(), "v1", NOW)

    assert await metadata_store.list_repositories(None, 100) == []


async def test_referrers_lists_manifests_with_that_subject_oldest_first(metadata_store: MetadataStore) -> None:
    subject = await push(metadata_store, "team/app", image())
    # Stored newest first, so that the order comes from created_at and not from insertion.
    sbom = await push(metadata_store, "team/app", image("sbom", subject=subject), now=NOW + timedelta(minutes=2))
    signature = await push(metadata_store, "team/app", image("sig", subject=subject), now=NOW + timedelta(minutes=1))
    await push(metadata_store, "team/app", image("unrelated"))

    referrers = await metadata_store.referrers("team/app", str(subject.digest))

    assert [stored.digest for stored in referrers] == [str(signature.digest), str(sbom.digest)]
    assert referrers[0].payload == signature.payload
    assert referrers[0].subject == str(subject.digest)
    assert referrers[0].created_at == NOW + timedelta(minutes=1)


async def test_referrers_report_artifact_type_and_annotations(metadata_store: MetadataStore) -> None:
    subject = await push(metadata_store, "team/app", image())
    await push(
        metadata_store,
        "team/app",
        image("sbom", subject=subject, artifact_type="application/spdx+json", annotations={"created": "today"}),
    )

    [referrer] = await metadata_store.referrers("team/app", str(subject.digest))

    assert referrer.artifact_type == "application/spdx+json"
    assert referrer.annotations == {"seed": "sbom", "created": "today"}
    assert referrer.repository == "team/app"


async def test_referrers_list_only_that_repository(metadata_store: MetadataStore) -> None:
    subject = await push(metadata_store, "team/app", image())
    await push(metadata_store, "team/other", subject)
    await push(metadata_store, "team/other", image("sig", subject=subject))

    assert await metadata_store.referrers("team/app", str(subject.digest)) == []
    assert len(await metadata_store.referrers("team/other", str(subject.digest))) == 1


async def test_referrers_of_a_manifest_without_any_is_empty(metadata_store: MetadataStore) -> None:
    subject = await push(metadata_store, "team/app", image())

    assert await metadata_store.referrers("team/app", str(subject.digest)) == []


async def test_referrers_of_a_subject_not_stored_are_listed(metadata_store: MetadataStore) -> None:
    # OCI lets a referrer be pushed before its subject.
    absent = image("not-pushed")
    signature = await push(metadata_store, "team/app", image("sig", subject=absent))

    [referrer] = await metadata_store.referrers("team/app", str(absent.digest))

    assert referrer.digest == str(signature.digest)


# UploadIndex


async def test_create_upload_then_get_it(metadata_store: MetadataStore) -> None:
    await metadata_store.create_upload(upload("u1"))

    assert await metadata_store.get_upload("team/app", "u1") == upload("u1")


async def test_get_upload_in_another_repository_is_none(metadata_store: MetadataStore) -> None:
    await metadata_store.create_upload(upload("u1", repository="team/app"))

    assert await metadata_store.get_upload("team/other", "u1") is None


async def test_get_unknown_upload_is_none(metadata_store: MetadataStore) -> None:
    assert await metadata_store.get_upload("team/app", "missing") is None


async def test_upload_datetimes_come_back_in_utc(metadata_store: MetadataStore) -> None:
    started = datetime(2025, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    await metadata_store.create_upload(upload("u1", at=started))

    session = await metadata_store.get_upload("team/app", "u1")

    assert session is not None
    assert session.created_at == started
    assert session.created_at.tzinfo is UTC
    assert session.updated_at.tzinfo is UTC


async def test_touch_upload_moves_updated_at_only(metadata_store: MetadataStore) -> None:
    await metadata_store.create_upload(upload("u1"))

    await metadata_store.touch_upload("u1", NOW + timedelta(seconds=30))

    assert await metadata_store.get_upload("team/app", "u1") == UploadSession(
        id="u1", repository="team/app", created_at=NOW, updated_at=NOW + timedelta(seconds=30)
    )


async def test_delete_upload_forgets_it(metadata_store: MetadataStore) -> None:
    await metadata_store.create_upload(upload("u1"))
    await metadata_store.create_upload(upload("u2"))

    await metadata_store.delete_upload("u1")

    assert await metadata_store.get_upload("team/app", "u1") is None
    assert await metadata_store.get_upload("team/app", "u2") is not None


async def test_delete_unknown_upload_is_ignored(metadata_store: MetadataStore) -> None:
    await metadata_store.delete_upload("missing")


async def test_uploads_idle_since_lists_only_older_sessions_longest_idle_first(
    metadata_store: MetadataStore,
) -> None:
    await metadata_store.create_upload(upload("fresh", at=NOW))
    await metadata_store.create_upload(upload("old", at=NOW - timedelta(hours=2)))
    await metadata_store.create_upload(upload("older", at=NOW - timedelta(hours=3)))
    await metadata_store.create_upload(upload("revived", at=NOW - timedelta(hours=5)))
    await metadata_store.touch_upload("revived", NOW)

    idle = await metadata_store.uploads_idle_since(NOW - timedelta(hours=1))

    assert [session.id for session in idle] == ["older", "old"]


async def test_uploads_idle_since_respects_the_limit(metadata_store: MetadataStore) -> None:
    for hours in range(1, 6):
        await metadata_store.create_upload(upload(f"u{hours}", at=NOW - timedelta(hours=hours)))

    idle = await metadata_store.uploads_idle_since(NOW, limit=2)

    assert [session.id for session in idle] == ["u5", "u4"]


# Concurrency: several stores on one database behave like several server processes.


@asynccontextmanager
async def stores(url: str, count: int) -> AsyncIterator[list[MetadataStore]]:
    opened: list[MetadataStore] = [open_metadata_store(url) for _ in range(count)]
    try:
        yield opened
    finally:
        await asyncio.gather(*(store.close() for store in opened))


async def test_concurrent_put_manifest_stores_it_once(metadata_store: MetadataStore, migrated_url: str) -> None:
    manifest = await push(metadata_store, "team/app", image())
    async with stores(migrated_url, 4) as processes:
        await asyncio.gather(
            *(store.put_manifest("team/app", manifest, "v1", NOW) for store in processes for _ in range(4))
        )

    assert count_rows(migrated_url, "manifests") == 1
    assert count_rows(migrated_url, "manifest_blobs") == 2
    assert await metadata_store.list_tags("team/app", None, None) == ["v1"]


async def test_concurrent_first_pushes_of_one_manifest_store_it_once(migrated_url: str) -> None:
    manifest = image()
    async with stores(migrated_url, 4) as processes:
        await link_blobs_of(processes[0], "team/app", manifest)
        await asyncio.gather(*(store.put_manifest("new/repo", index(), None, NOW) for store in processes))
        await asyncio.gather(*(store.put_manifest("team/app", manifest, None, NOW) for store in processes))

    assert count_rows(migrated_url, "manifests") == 2
    assert count_rows(migrated_url, "repositories") == 2


async def test_concurrent_link_blob_stores_it_once(migrated_url: str) -> None:
    async with stores(migrated_url, 4) as processes:
        await asyncio.gather(
            *(
                store.link_blob(repository, digest_of("layer"), 10)
                for store in processes
                for repository in ["team/app", "team/other", "team/app"]
            )
        )

    assert count_rows(migrated_url, "blobs") == 1
    assert count_rows(migrated_url, "repository_blobs") == 2
    assert count_rows(migrated_url, "repositories") == 2


async def test_put_manifest_racing_unlink_blob_never_leaves_a_dangling_reference(migrated_url: str) -> None:
    async with stores(migrated_url, 2) as (pusher, cleaner):
        for attempt in range(20):
            repository = f"race/{attempt}"
            manifest = image(f"race-{attempt}")
            layer = manifest.blobs[1].digest
            await link_blobs_of(pusher, repository, manifest)

            put, unlink = await asyncio.gather(
                pusher.put_manifest(repository, manifest, "v1", NOW),
                cleaner.unlink_blob(repository, layer),
                return_exceptions=True,
            )

            stored = await pusher.get_manifest(repository, by_digest(manifest)) is not None
            linked = await pusher.linked_blob_size(repository, layer) is not None
            if put is None:
                assert isinstance(unlink, Conflict) and stored and linked
            else:
                assert isinstance(put, ManifestBlobUnknown) and unlink is None and not stored and not linked


async def test_put_index_racing_delete_child_never_leaves_a_dangling_child(migrated_url: str) -> None:
    async with stores(migrated_url, 2) as (pusher, cleaner):
        for attempt in range(20):
            repository = f"race/{attempt}"
            child = await push(pusher, repository, image(f"race-{attempt}"))
            parent = index(child)

            put, delete = await asyncio.gather(
                pusher.put_manifest(repository, parent, "v1", NOW),
                cleaner.delete_manifest(repository, str(child.digest)),
                return_exceptions=True,
            )

            parent_stored = await pusher.get_manifest(repository, by_digest(parent)) is not None
            child_stored = await pusher.get_manifest(repository, by_digest(child)) is not None
            if put is None:
                assert isinstance(delete, Conflict) and parent_stored and child_stored
            else:
                assert isinstance(put, ManifestUnknown) and delete is None
                assert not parent_stored and not child_stored


# SQLite: another process holding the lock makes requests wait, never the event loop.


def hold_sqlite_lock(path: Path, seconds: float) -> None:
    """Lock the database against readers and writers for `seconds`, as a process stuck mid-transaction would."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("DELETE FROM upload_sessions WHERE id = 'none'")

    def release() -> None:
        holder.execute("COMMIT")
        holder.close()

    threading.Timer(seconds, release).start()


async def loop_stays_free_while(operation: Awaitable[object]) -> bool:
    """Whether another coroutine gets to run while `operation` waits (it would not if the wait blocked the loop)."""
    task = asyncio.ensure_future(operation)
    await asyncio.create_task(asyncio.sleep(0))  # scheduled after the operation's first step
    free = not task.done()
    await task
    return free


@pytest.mark.parametrize("operation", ["read", "write"])
async def test_sqlite_waits_for_another_process_lock_off_the_event_loop(tmp_path: Path, operation: str) -> None:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    migrate(url)
    seed = open_metadata_store(url)
    await push(seed, "team/app", image(), tag="v1")
    await seed.close()
    hold_sqlite_lock(tmp_path / "metadata.db", 0.5)
    store = open_metadata_store(url)
    try:
        if operation == "read":
            free = await loop_stays_free_while(store.get_manifest("team/app", by_tag("v1")))
        else:
            free = await loop_stays_free_while(store.link_blob("team/app", digest_of("new"), 10))
        assert await store.get_manifest("team/app", by_tag("v1")) is not None
    finally:
        await store.close()

    assert free


# Migrations and the factory


def test_migrate_twice_is_a_no_op(migrated_url: str) -> None:
    before = snapshot(migrated_url)

    migrate(migrated_url)

    assert snapshot(migrated_url) == before
    with database(migrated_url) as engine, engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]


async def test_migrate_keeps_stored_data(migrated_url: str) -> None:
    store = open_metadata_store(migrated_url)
    try:
        manifest = await push(store, "team/app", image(), tag="v1")
        migrate(migrated_url)
        assert await store.get_manifest("team/app", by_tag("v1")) is not None
        assert await store.linked_blob_size("team/app", manifest.blobs[0].digest) == 1234
    finally:
        await store.close()


def test_concurrent_migrations_all_succeed(database_url: str) -> None:
    with ThreadPoolExecutor(4) as threads:
        for finished in [threads.submit(migrate, database_url) for _ in range(4)]:
            finished.result()

    with database(database_url) as engine, engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]


def test_migrations_create_the_schema_tables_py_describes(migrated_url: str) -> None:
    with database(migrated_url) as engine, engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)

    assert differences == []


@pytest.mark.parametrize("url", ["postgres://u@db/registry", "postgresql://u@db/registry"])
def test_postgresql_urls_use_the_psycopg_3_driver(url: str) -> None:
    assert database_url(url).drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url",
    ["mysql://user:hunter2@db/registry", "sqlite://", "sqlite:///:memory:", "not a url"],
)
def test_open_metadata_store_refuses_unsupported_urls_without_echoing_secrets(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///path/to/metadata\.db") as raised:
        open_metadata_store(url)

    assert "hunter2" not in str(raised.value)
