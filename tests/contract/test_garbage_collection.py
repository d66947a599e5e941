"""Online garbage collection against real SQLite and PostgreSQL, with real blob files: what a run deletes, what it
keeps, and that no stored blob ever loses its bytes while uploads, mounts and runs overlap."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shipshape.domain import media_types as mt
from shipshape.domain.digests import Digest
from shipshape.domain.errors import (
    BlobUnknown,
    Conflict,
    JobBusy,
    ManifestBlobUnknown,
)
from shipshape.domain.manifests import Manifest, parse_manifest
from shipshape.domain.names import Reference
from shipshape.metadata import SqlMetadataStore, open_metadata_store
from shipshape.metadata.lifecycle_store import SqlLifecycleStore
from shipshape.metadata.tables import blobs as blobs_table
from shipshape.metadata.tables import repository_blobs
from shipshape.ports import BlobStore, Clock, LocalFile
from shipshape.services.garbage import GC_JOB, LEASE, CollectionReport, GarbageCollector
from shipshape.services.jobs import process_identity
from shipshape.services.uploads import UploadService
from shipshape.storage.filesystem import FilesystemBlobStore
from tests.contract.test_metadata_store import count_rows, database, snapshot
from tests.s3_support import s3_store_on_new_bucket

GRACE = timedelta(hours=1)
PAST_GRACE = GRACE + timedelta(minutes=1)
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


class FakeClock:
    """Starts at the real time (so that file modification times and the clock agree) and moves only when told."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# Factories


def blob(seed: str, size: int = 300) -> bytes:
    """Distinct, reproducible content of about `size` bytes."""
    unit = hashlib.sha256(seed.encode()).digest()
    return (unit * (size // len(unit) + 1))[:size]


def digest_of(data: bytes) -> str:
    return str(Digest.of(data))


def manifest_of(config: bytes, layers: Sequence[bytes]) -> Manifest:
    """An OCI image manifest whose descriptors give the real digests and sizes of `config` and `layers`."""
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest_of(layer), "size": len(layer)} for layer in layers],
    }
    return parse_manifest(json.dumps(document).encode(), mt.OCI_MANIFEST)


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def anyone_may_pull(repository: str) -> bool:
    return True


@dataclass
class Registry:
    """One process's view: the metadata and lifecycle stores on one database, and a blob store (files under
    `root`, or an S3 bucket)."""

    url: str
    directory: Path | None  # the blob files' root, for a filesystem store
    clock: Clock
    metadata: SqlMetadataStore
    lifecycle: SqlLifecycleStore
    blobs: BlobStore
    uploads: UploadService
    collector: GarbageCollector

    @classmethod
    def open(cls, url: str, store: Path | BlobStore, clock: Clock) -> Registry:
        """On the blob files under `store` (a directory) or on the blob store `store`."""
        metadata = open_metadata_store(url, clock=clock)
        lifecycle = SqlLifecycleStore(metadata)
        blobs = FilesystemBlobStore(store) if isinstance(store, Path) else store
        return cls(
            url=url,
            directory=store if isinstance(store, Path) else None,
            clock=clock,
            metadata=metadata,
            lifecycle=lifecycle,
            blobs=blobs,
            uploads=UploadService(blobs, metadata, metadata, clock),
            collector=GarbageCollector(lifecycle, blobs, clock, GRACE),
        )

    async def close(self) -> None:
        await self.metadata.close()

    async def upload(self, repository: str, data: bytes) -> str:
        """A monolithic upload through the upload service: seal, link with the commit, discard the rest."""
        digest = Digest.of(data)
        await self.uploads.upload_whole(repository, digest, chunks(data))
        return str(digest)

    async def push(
        self,
        repository: str,
        config: bytes,
        layers: Sequence[bytes],
        tag: str | None = None,
        mount_from: str | None = None,
    ) -> Manifest:
        """Each blob mounted from `mount_from` when it is there (as skopeo tries first), else uploaded."""
        for data in (config, *layers):
            if mount_from is None or not await self.uploads.mount(
                repository, Digest.of(data), mount_from, anyone_may_pull
            ):
                await self.upload(repository, data)
        manifest = manifest_of(config, layers)
        await self.metadata.put_manifest(repository, manifest, tag, self.clock.now())
        return manifest

    async def stage_upload(self, data: bytes) -> str:
        """Bytes written to an upload file and sealed, not yet committed as a blob; returns the upload id."""
        upload_id = uuid.uuid4().hex
        await self.blobs.start_upload(upload_id)
        writer = await self.blobs.append_to_upload(upload_id)
        await writer.write(data)
        await writer.close()
        await self.blobs.seal_upload(upload_id)
        return upload_id

    @property
    def root(self) -> Path:
        """The blob directory (filesystem only: the tests that place or age files by hand)."""
        assert self.directory is not None, "a filesystem-only test ran on another store"
        return self.directory

    def blob_file(self, digest: str) -> Path:
        assert isinstance(self.blobs, FilesystemBlobStore), "a filesystem-only test ran on another store"
        return self.blobs.blob_path(Digest.parse(digest))

    async def stored_bytes(self, digest: str) -> bytes | None:
        """The blob's bytes as the store holds them, None when it holds none."""
        if await self.blobs.stat(Digest.parse(digest)) is None:
            return None
        opened = await self.blobs.open_blob(Digest.parse(digest))
        if isinstance(opened, LocalFile):
            return opened.path.read_bytes()
        return b"".join([chunk async for chunk in opened.read()])

    async def files(self) -> set[str]:
        """Digests of the blobs whose bytes the store holds."""
        return {item.name async for page in self.blobs.list_blobs() for item in page}

    async def upload_files(self) -> set[str]:
        """Ids of the uploads whose bytes the store holds."""
        return {item.name async for page in self.blobs.list_uploads() for item in page}


@pytest.fixture(params=["filesystem", "s3"])
async def registry(request: pytest.FixtureRequest, migrated_url: str, tmp_path: Path) -> AsyncIterator[Registry]:
    """On each blob store: what collection deletes and keeps must not depend on where the bytes are."""
    if request.param == "filesystem":
        opened = Registry.open(migrated_url, tmp_path / "data", FakeClock())
        try:
            yield opened
        finally:
            await opened.close()
        return
    async with s3_store_on_new_bucket() as store:
        opened = Registry.open(migrated_url, store, FakeClock())
        try:
            yield opened
        finally:
            await opened.close()


@pytest.fixture
async def file_registry(migrated_url: str, tmp_path: Path) -> AsyncIterator[Registry]:
    """On blob files: for the tests that place or age files by hand (an S3 object's time cannot be set)."""
    opened = Registry.open(migrated_url, tmp_path / "data", FakeClock())
    try:
        yield opened
    finally:
        await opened.close()


def clock_of(registry: Registry) -> FakeClock:
    assert isinstance(registry.clock, FakeClock)
    return registry.clock


def state_of(url: str, digest: str) -> str | None:
    with database(url) as engine, engine.connect() as connection:
        return connection.execute(
            select(blobs_table.c.state).where(blobs_table.c.digest == digest)
        ).scalar_one_or_none()


def make_old(path: Path, age: timedelta) -> None:
    """Set a file's modification time `age` before the real time."""
    moment = (datetime.now(UTC) - age).timestamp()
    os.utime(path, (moment, moment))


def write_orphan_bytes(registry: Registry, data: bytes, age: timedelta) -> str:
    """Bytes at a blob's path that no row knows, as a crash between the rename and the commit leaves them."""
    digest = digest_of(data)
    path = registry.blob_file(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    make_old(path, age)
    return digest


def counts(report: CollectionReport) -> tuple[int, int, int, int]:
    return report.links_dropped, report.blobs_deleted, report.bytes_freed, report.uploads_deleted


# What a run deletes and what it keeps


async def test_unreferenced_link_older_than_grace_is_dropped_and_its_blob_deleted(registry: Registry) -> None:
    data = blob("lonely")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(PAST_GRACE)

    report = await registry.collector.collect()

    assert counts(report) == (1, 1, len(data), 0)
    assert not report.dry_run and report.grace == GRACE
    assert await registry.stored_bytes(digest) is None
    assert count_rows(registry.url, "blobs") == 0
    assert count_rows(registry.url, "repository_blobs") == 0
    assert await registry.metadata.linked_blob_size("team/app", digest) is None


async def test_unreferenced_link_younger_than_grace_stays(registry: Registry) -> None:
    data = blob("in-progress push")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(GRACE - timedelta(minutes=1))

    report = await registry.collector.collect()

    assert counts(report) == (0, 0, 0, 0)
    assert await registry.stored_bytes(digest) == data
    assert await registry.metadata.linked_blob_size("team/app", digest) == len(data)


async def test_grace_given_to_a_run_overrides_the_collectors(registry: Registry) -> None:
    data = blob("lonely")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(timedelta(minutes=10))

    kept = await registry.collector.collect(grace=timedelta(minutes=20))
    collected = await registry.collector.collect(grace=timedelta(minutes=5))

    assert counts(kept) == (0, 0, 0, 0)
    assert counts(collected) == (1, 1, len(data), 0)
    assert collected.grace == timedelta(minutes=5)
    assert await registry.stored_bytes(digest) is None


async def test_link_referenced_by_a_manifest_stays(registry: Registry) -> None:
    config, layer = blob("config"), blob("layer", 2000)
    manifest = await registry.push("team/app", config, [layer], tag="v1")
    clock_of(registry).advance(PAST_GRACE * 24)

    report = await registry.collector.collect()

    assert counts(report) == (0, 0, 0, 0)
    for data in (config, layer):
        assert await registry.stored_bytes(digest_of(data)) == data
        assert await registry.metadata.linked_blob_size("team/app", digest_of(data)) == len(data)
    assert await registry.metadata.get_manifest("team/app", Reference(tag="v1")) is not None
    assert manifest.blobs[0].digest == digest_of(config)


async def test_blob_linked_into_another_repository_stays(registry: Registry) -> None:
    data = blob("shared")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(PAST_GRACE)
    await registry.metadata.link_stored_blob("team/other", digest)  # a mount, just now

    report = await registry.collector.collect()

    assert counts(report) == (1, 0, 0, 0)  # team/app's old link only
    assert await registry.stored_bytes(digest) == data
    assert await registry.metadata.linked_blob_size("team/app", digest) is None
    assert await registry.metadata.linked_blob_size("team/other", digest) == len(data)


async def test_blob_referenced_in_another_repository_stays(registry: Registry) -> None:
    config, layer = blob("config"), blob("layer")
    await registry.push("team/other", config, [layer])
    await registry.upload("team/app", layer)  # the same layer, never referenced in team/app
    clock_of(registry).advance(PAST_GRACE)

    report = await registry.collector.collect()

    assert counts(report) == (1, 0, 0, 0)
    assert await registry.stored_bytes(digest_of(layer)) == layer
    assert await registry.metadata.linked_blob_size("team/other", digest_of(layer)) == len(layer)


async def test_deleting_a_manifest_then_collecting_frees_exactly_the_blobs_only_it_used(registry: Registry) -> None:
    base = blob("base layer", 5000)
    old_config, old_layer = blob("old config", 200), blob("old layer", 3000)
    new_config, new_layer = blob("new config", 210), blob("new layer", 3100)
    old = await registry.push("team/app", old_config, [base, old_layer], tag="old")
    await registry.push("team/app", new_config, [base, new_layer], tag="new")
    await registry.push("team/other", blob("other config"), [old_layer])  # old_layer is used elsewhere too
    await registry.metadata.delete_manifest("team/app", str(old.digest))
    clock_of(registry).advance(PAST_GRACE)

    report = await registry.collector.collect()

    # team/app's links to old_config and old_layer go; only old_config's bytes were the deleted image's alone.
    assert counts(report) == (2, 1, len(old_config), 0)
    assert await registry.stored_bytes(digest_of(old_config)) is None
    for data in (base, old_layer, new_config, new_layer):
        assert await registry.stored_bytes(digest_of(data)) == data
    assert await registry.metadata.linked_blob_size("team/app", digest_of(old_layer)) is None
    assert await registry.metadata.linked_blob_size("team/other", digest_of(old_layer)) == len(old_layer)
    assert await registry.metadata.linked_blob_size("team/app", digest_of(base)) == len(base)


async def test_deleting_the_last_image_using_shared_layers_frees_them(registry: Registry) -> None:
    base, config_a, config_b = blob("base", 4000), blob("config a"), blob("config b")
    a = await registry.push("team/app", config_a, [base])
    b = await registry.push("team/app", config_b, [base])
    await registry.metadata.delete_manifest("team/app", str(a.digest))
    clock_of(registry).advance(PAST_GRACE)
    first = await registry.collector.collect()
    await registry.metadata.delete_manifest("team/app", str(b.digest))
    clock_of(registry).advance(PAST_GRACE)

    second = await registry.collector.collect()

    assert counts(first) == (1, 1, len(config_a), 0)
    assert counts(second) == (2, 2, len(base) + len(config_b), 0)
    assert await registry.files() == set()
    assert count_rows(registry.url, "blobs") == 0
    assert await registry.metadata.repository_exists("team/app") is False


# Uploads, mounts and runs meeting on one blob


@pytest.mark.parametrize("bytes_left", [True, False], ids=["bytes-still-there", "bytes-already-deleted"])
async def test_upload_of_a_blob_marked_deleting_revives_it_with_its_bytes(registry: Registry, bytes_left: bool) -> None:
    data = blob("revived", 1500)
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    assert await registry.lifecycle.mark_unlinked_blobs([digest]) == [digest]
    if not bytes_left:
        await registry.blobs.delete_blob(Digest.parse(digest))  # as a run that crashed after deleting the bytes
    upload_id = await registry.stage_upload(data)
    committed = []

    async def commit() -> None:
        committed.append(upload_id)
        await registry.blobs.commit_upload(upload_id, Digest.parse(digest))

    await registry.metadata.link_blob("team/app", digest, len(data), commit)
    await registry.blobs.cancel_upload(upload_id)
    deleted_bytes: list[str] = []

    async def delete_bytes(found: str) -> None:
        deleted_bytes.append(found)
        await registry.blobs.delete_blob(Digest.parse(found))

    forgotten = await registry.lifecycle.forget_blobs([digest], delete_bytes)

    assert committed == [upload_id]  # the revive put the upload's bytes in place (or found them there)
    assert forgotten == [] and deleted_bytes == []
    assert await registry.stored_bytes(digest) == data
    assert state_of(registry.url, digest) == "stored"
    assert await registry.metadata.linked_blob_size("team/app", digest) == len(data)
    assert await registry.upload_files() == set()


async def test_upload_service_push_of_a_blob_marked_deleting_keeps_it(registry: Registry) -> None:
    data = blob("pushed again")
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    await registry.lifecycle.mark_unlinked_blobs([digest])

    await registry.upload("team/other", data)
    report = await registry.collector.collect()

    assert counts(report) == (0, 0, 0, 0)
    assert state_of(registry.url, digest) == "stored"
    assert await registry.stored_bytes(digest) == data
    assert await registry.metadata.linked_blob_size("team/other", digest) == len(data)


async def test_mount_of_a_blob_marked_deleting_raises_blob_unknown(registry: Registry) -> None:
    data = blob("going")
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    await registry.lifecycle.mark_unlinked_blobs([digest])

    with pytest.raises(BlobUnknown, match="push it again"):
        await registry.metadata.link_stored_blob("team/other", digest)

    assert await registry.metadata.linked_blob_size("team/other", digest) is None
    assert count_rows(registry.url, "repository_blobs") == 0
    assert state_of(registry.url, digest) == "deleting"


async def test_mount_through_the_upload_service_of_a_blob_being_deleted_falls_back_to_an_upload(
    registry: Registry,
) -> None:
    data = blob("going")
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    await registry.lifecycle.mark_unlinked_blobs([digest])

    mounted = await registry.uploads.mount("team/other", Digest.parse(digest), "team/app", anyone_may_pull)

    assert mounted is False
    assert await registry.metadata.linked_blob_size("team/other", digest) is None


async def test_mark_unlinked_blobs_skips_a_blob_linked_again(registry: Registry) -> None:
    data = blob("linked again")
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    await registry.metadata.link_blob("team/other", digest, len(data))

    assert await registry.lifecycle.mark_unlinked_blobs([digest]) == []
    assert state_of(registry.url, digest) == "stored"


async def test_run_that_crashed_after_deleting_bytes_is_finished_by_the_next(registry: Registry) -> None:
    data = blob("half deleted")
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    await registry.lifecycle.mark_unlinked_blobs([digest])
    await registry.blobs.delete_blob(Digest.parse(digest))

    report = await registry.collector.collect()

    assert counts(report) == (0, 1, len(data), 0)
    assert count_rows(registry.url, "blobs") == 0


# What a crash leaves behind


async def test_bytes_no_row_knows_are_deleted_once_older_than_grace(file_registry: Registry) -> None:
    registry = file_registry
    old, young = blob("old orphan", 700), blob("young orphan", 800)
    old_digest = write_orphan_bytes(registry, old, PAST_GRACE)
    young_digest = write_orphan_bytes(registry, young, GRACE - timedelta(minutes=5))
    kept = await registry.push("team/app", blob("config"), [blob("layer")])
    for descriptor in kept.blobs:
        make_old(registry.blob_file(descriptor.digest), PAST_GRACE)  # old files that have rows: not orphans

    report = await registry.collector.collect()

    assert counts(report) == (0, 1, len(old), 0)
    assert await registry.stored_bytes(old_digest) is None
    assert await registry.stored_bytes(young_digest) == young
    assert await registry.files() == {young_digest, *(descriptor.digest for descriptor in kept.blobs)}
    assert count_rows(registry.url, "blobs") == 2  # the young orphan was not adopted


async def test_files_in_the_blob_directory_that_are_not_digests_are_left_alone(file_registry: Registry) -> None:
    registry = file_registry
    stray = registry.root / "blobs" / "sha256" / "zz" / "not-a-digest"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"someone else's file")
    make_old(stray, PAST_GRACE)

    report = await registry.collector.collect()

    assert counts(report) == (0, 0, 0, 0)
    assert stray.exists()


async def test_upload_file_no_session_knows_is_deleted_once_older_than_grace(file_registry: Registry) -> None:
    registry = file_registry
    abandoned = registry.root / "uploads" / uuid.uuid4().hex
    abandoned.write_bytes(b"left by a crash")
    make_old(abandoned, PAST_GRACE)
    fresh = registry.root / "uploads" / uuid.uuid4().hex
    fresh.write_bytes(b"a session being created")
    session = await registry.uploads.start("team/app")  # a session in progress, its file old
    make_old(registry.root / "uploads" / session.id, PAST_GRACE)

    report = await registry.collector.collect()

    assert counts(report) == (0, 0, 0, 1)
    assert await registry.upload_files() == {fresh.name, session.id}
    assert await registry.uploads.size("team/app", session.id) == 0


# Dry run


async def test_dry_run_changes_nothing_and_reports_what_a_run_then_does(file_registry: Registry) -> None:
    registry = file_registry
    base, gone_config, gone_layer = blob("base", 4000), blob("gone config"), blob("gone layer", 900)
    gone = await registry.push("team/app", gone_config, [base, gone_layer])
    await registry.push("team/app", blob("kept config"), [base, blob("kept layer")])
    lonely = blob("lonely", 333)
    await registry.upload("team/other", lonely)
    await registry.upload("team/other", base)  # unreferenced in team/other, referenced in team/app
    await registry.metadata.delete_manifest("team/app", str(gone.digest))
    orphan = blob("orphan", 444)
    write_orphan_bytes(registry, orphan, PAST_GRACE * 2)
    abandoned = registry.root / "uploads" / uuid.uuid4().hex
    abandoned.write_bytes(b"abandoned")
    make_old(abandoned, PAST_GRACE * 2)
    clock_of(registry).advance(PAST_GRACE)
    await registry.upload("team/other", blob("young"))  # younger than the grace: kept
    rows, files, uploads = snapshot(registry.url), await registry.files(), await registry.upload_files()

    dry = await registry.collector.collect(dry_run=True)

    assert snapshot(registry.url) == rows
    assert await registry.files() == files and await registry.upload_files() == uploads
    real = await registry.collector.collect()
    assert dry.dry_run and not real.dry_run
    assert counts(dry) == counts(real)
    assert counts(real) == (4, 4, len(gone_config) + len(gone_layer) + len(lonely) + len(orphan), 1)


async def test_dry_run_counts_blobs_a_crashed_run_left_marked_deleting(registry: Registry) -> None:
    data = blob("marked")
    digest = await registry.upload("team/app", data)
    await registry.metadata.unlink_blob("team/app", digest)
    await registry.lifecycle.mark_unlinked_blobs([digest])

    dry = await registry.collector.collect(dry_run=True)
    real = await registry.collector.collect()

    assert counts(dry) == counts(real) == (0, 1, len(data), 0)


async def test_dry_run_runs_while_another_holder_has_the_lease(registry: Registry) -> None:
    data = blob("lonely")
    await registry.upload("team/app", data)
    clock_of(registry).advance(PAST_GRACE)
    now = registry.clock.now()
    await registry.lifecycle.acquire_lease(GC_JOB, "other-host:1:feedface", now, now + LEASE)

    dry = await registry.collector.collect(dry_run=True)

    assert counts(dry) == (1, 1, len(data), 0)


# One run at a time


async def test_collect_while_another_holder_has_the_lease_raises_job_busy(registry: Registry) -> None:
    data = blob("lonely")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(PAST_GRACE)
    now = registry.clock.now()
    assert await registry.lifecycle.acquire_lease(GC_JOB, "other-host:1:feedface", now, now + LEASE)

    with pytest.raises(JobBusy, match="already running") as raised:
        await registry.collector.collect()

    assert "other-host:1:feedface" in str(raised.value)
    assert await registry.stored_bytes(digest) == data
    assert await registry.lifecycle.lease_holder(GC_JOB, registry.clock.now()) == ("other-host:1:feedface", now)
    assert await registry.collector.collect_if_free() == 0


async def test_expired_lease_is_taken_over(registry: Registry) -> None:
    data = blob("lonely")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(PAST_GRACE)
    now = registry.clock.now()
    assert await registry.lifecycle.acquire_lease(GC_JOB, "crashed-host:1:deadbeef", now, now + LEASE)
    clock_of(registry).advance(LEASE + timedelta(seconds=1))

    report = await registry.collector.collect()

    assert counts(report) == (1, 1, len(data), 0)
    assert await registry.stored_bytes(digest) is None
    assert await registry.lifecycle.lease_holder(GC_JOB, registry.clock.now()) is None  # released after the run


def local_holder(pid: int) -> str:
    """A lease holder's name as a process of this machine with `pid` writes it."""
    host, namespace, _, random_part = process_identity().split(":")
    return f"{host}:{namespace}:{pid}:{random_part}"


async def test_lease_of_a_crashed_local_process_is_taken_over_at_once(registry: Registry) -> None:
    ended = subprocess.Popen(["true"])  # a process that ran here and is gone (its PID free)
    ended.wait()
    gone = local_holder(ended.pid)
    data = blob("lonely")
    digest = await registry.upload("team/app", data)
    clock_of(registry).advance(PAST_GRACE)
    now = registry.clock.now()
    assert await registry.lifecycle.acquire_lease(GC_JOB, gone, now, now + LEASE)

    report = await registry.collector.collect()

    assert counts(report) == (1, 1, len(data), 0)
    assert await registry.stored_bytes(digest) is None


async def test_lease_of_a_running_local_process_is_respected(registry: Registry) -> None:
    alive = local_holder(os.getpid())
    now = registry.clock.now()
    assert await registry.lifecycle.acquire_lease(GC_JOB, alive, now, now + LEASE)

    with pytest.raises(JobBusy):
        await registry.collector.collect()


async def test_a_finished_run_releases_its_lease(registry: Registry) -> None:
    await registry.collector.collect()
    now = registry.clock.now()

    assert await registry.lifecycle.lease_holder(GC_JOB, now) is None
    assert await registry.lifecycle.acquire_lease(GC_JOB, "next-host:2:cafe", now, now + LEASE)


async def test_two_collectors_on_one_database_take_turns(migrated_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    first, second = (Registry.open(migrated_url, tmp_path / "data", clock) for _ in range(2))
    try:
        data = blob("lonely")
        digest = await first.upload("team/app", data)
        clock.advance(PAST_GRACE)
        outcomes = await asyncio.gather(first.collector.collect(), second.collector.collect(), return_exceptions=True)
    finally:
        await first.close()
        await second.close()

    reports = [outcome for outcome in outcomes if isinstance(outcome, CollectionReport)]
    busy = [outcome for outcome in outcomes if isinstance(outcome, JobBusy)]
    assert len(reports) + len(busy) == 2, outcomes
    assert sum(report.blobs_deleted for report in reports) == 1
    assert await first.stored_bytes(digest) is None


# Concurrency: the invariant


PUSHERS = 4
ROUNDS = 40
COLLECTORS = 2
PUSH_ATTEMPTS = 50
LAYER_POOL = [blob(f"pool layer {i}", 600 + i) for i in range(5)]


@dataclass
class Tally:
    retries: Counter[str]
    collections: int = 0
    busy: int = 0
    deleted: int = 0


async def push_with_retries(
    registry: Registry, repository: str, config: bytes, layers: list[bytes], tally: Tally, mount_from: str | None
) -> Manifest:
    """Upload the blobs, then the manifest; when a run took a blob in between (grace 0), upload again, as a
    client does."""
    for _ in range(PUSH_ATTEMPTS):
        try:
            return await registry.push(repository, config, layers, mount_from=mount_from)
        except (ManifestBlobUnknown, Conflict) as error:
            # ManifestBlobUnknown: a link dropped before the manifest came. Conflict: the blob row was deleted and
            # recreated under the upload three times. (An upload session's file is never taken: its row comes first.)
            tally.retries[type(error).__name__] += 1
    raise AssertionError(f"no push of {repository} succeeded in {PUSH_ATTEMPTS} attempts: {tally.retries}")


async def upload_with_retries(registry: Registry, repository: str, data: bytes, tally: Tally) -> None:
    for _ in range(PUSH_ATTEMPTS):
        try:
            await registry.upload(repository, data)
            return
        except Conflict as error:
            tally.retries[type(error).__name__] += 1
    raise AssertionError(f"no upload to {repository} succeeded in {PUSH_ATTEMPTS} attempts: {tally.retries}")


async def pusher(registry: Registry, number: int, kept: dict[tuple[str, str], Manifest], tally: Tally) -> None:
    mine: list[tuple[str, Manifest]] = []
    for round_ in range(ROUNDS):
        repository = f"team/app{(number + round_) % 2}"
        layer = LAYER_POOL[(number * 3 + round_) % len(LAYER_POOL)]
        own = blob(f"own layer {number} {round_ % 4}", 400)
        if round_ % 5 == 4:
            # An upload no manifest will reference: garbage from the start, racing other pushers' same digests.
            for data in (layer, own):
                await upload_with_retries(registry, repository, data, tally)
            continue
        config = blob(f"config {number} {round_ % 6}", 150)
        # Every other image mounts what the other repository has (a mount of a blob being deleted is refused).
        other = f"team/app{(number + round_ + 1) % 2}" if round_ % 2 else None
        manifest = await push_with_retries(registry, repository, config, [layer, own], tally, other)
        kept[(repository, str(manifest.digest))] = manifest
        mine.append((repository, manifest))
        if round_ % 3 == 2:
            gone_repository, gone = mine.pop(0)
            if kept.pop((gone_repository, str(gone.digest)), None) is not None:
                await registry.metadata.delete_manifest(gone_repository, str(gone.digest))
                tally.deleted += 1


async def collector(registry: Registry, pushing: asyncio.Event, tally: Tally) -> None:
    while True:
        try:
            await registry.collector.collect(grace=timedelta(0))
            tally.collections += 1
        except JobBusy:
            tally.busy += 1
        if not pushing.is_set():
            return


def assert_stored_blobs_have_their_bytes(url: str, root: Path) -> set[str]:
    """Every `stored` row has its file with the right sha256, and every linked blob is `stored`."""
    files = FilesystemBlobStore(root)
    with database(url) as engine, engine.connect() as connection:
        rows = {
            digest: state for digest, state in connection.execute(select(blobs_table.c.digest, blobs_table.c.state))
        }
        linked = set(connection.scalars(select(repository_blobs.c.digest).distinct()))
    stored = {digest for digest, state in rows.items() if state == "stored"}
    for digest in stored:
        path = files.blob_path(Digest.parse(digest))
        assert path.exists(), f"blob {digest} is stored but its file {path} is missing"
        assert digest_of(path.read_bytes()) == digest, f"{path} does not hash to {digest}"
    not_stored = {digest: rows.get(digest) for digest in linked - stored}
    assert not not_stored, f"linked blobs not stored: {not_stored}"
    return stored


async def test_concurrent_uploads_and_collections_never_lose_a_stored_blob(migrated_url: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    # The real time: with grace 0 everything unreferenced is collectable at once, and new upload files too.
    clock = SystemClock()
    pushers = [Registry.open(migrated_url, root, clock) for _ in range(PUSHERS)]
    collectors = [Registry.open(migrated_url, root, clock) for _ in range(COLLECTORS)]
    kept: dict[tuple[str, str], Manifest] = {}
    tally = Tally(Counter())
    pushing = asyncio.Event()
    pushing.set()
    try:

        async def push_all() -> None:
            try:
                await asyncio.gather(*(pusher(r, number, kept, tally) for number, r in enumerate(pushers)))
            finally:
                pushing.clear()

        await asyncio.gather(push_all(), *(collector(r, pushing, tally) for r in collectors))

        assert_stored_blobs_have_their_bytes(migrated_url, root)
        reader = pushers[0]
        for (repository, _), manifest in kept.items():
            assert await reader.metadata.get_manifest(repository, Reference(digest=manifest.digest)) is not None
            for descriptor in manifest.blobs:
                assert await reader.metadata.linked_blob_size(repository, descriptor.digest) == descriptor.size
                data = await reader.stored_bytes(descriptor.digest)
                assert data is not None and digest_of(data) == descriptor.digest

        last = await collectors[0].collector.collect(grace=timedelta(0))
        stored = assert_stored_blobs_have_their_bytes(migrated_url, root)
    finally:
        await asyncio.gather(*(r.close() for r in (*pushers, *collectors)))

    referenced = {descriptor.digest for manifest in kept.values() for descriptor in manifest.blobs}
    assert stored == referenced
    assert await pushers[0].files() == referenced
    assert await pushers[0].upload_files() == set()
    assert tally.collections >= 2 and tally.deleted > 0, tally
    print(f"collections={tally.collections} busy={tally.busy} deleted={tally.deleted} retries={dict(tally.retries)}")
    print(f"last run: {counts(last)}")
