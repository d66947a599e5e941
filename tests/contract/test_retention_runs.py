"""A retention run against the real stores, on SQLite and PostgreSQL: what changed between the plan and a
deletion is skipped, never deleted on stale facts, and a second run of the same registry waits its turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from shipshape.domain.access import Member, Role
from shipshape.domain.digests import Digest
from shipshape.domain.errors import JobBusy
from shipshape.domain.manifests import parse_manifest
from shipshape.domain.names import Reference
from shipshape.domain.retention import parse_retention
from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.metadata.lifecycle_store import SqlLifecycleStore
from shipshape.metadata.store import SqlMetadataStore
from shipshape.ports import ManifestDeleteGuard
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.retention import Retention
from tests.contract.test_access_store import registry, seed
from tests.contract.test_metadata_store import NOW, image, push
from tests.http.manage_support import FakeClock

OWNER = Actor(Member("olga", "acme", Role.OWNER))
UNTAGGED = "rules: [{name: untagged, action: expire, tag-state: untagged, pushed-before: 1d}]"


class TagsBeforeDeleting:
    """The metadata store, with a push tagging the manifest landing just before each deletion (a real race,
    staged): the run must see it and keep the manifest."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self._store = store

    async def delete_manifest(
        self, repository: str, digest: str, may_delete: ManifestDeleteGuard | None = None
    ) -> None:
        stored = await self._store.get_manifest(repository, _digest_reference(digest))
        assert stored is not None
        manifest = parse_manifest(stored.payload, stored.media_type)
        await self._store.put_manifest(repository, manifest, "revived", NOW + timedelta(days=5))
        await self._store.delete_manifest(repository, digest, may_delete)


def _digest_reference(digest: str) -> Reference:
    return Reference(digest=Digest.parse(digest))


@pytest.fixture
async def access(migrated_url: str) -> AsyncIterator[SqlAccessStore]:
    store = open_access_store(migrated_url)
    try:
        await seed(store)
        await store.create_registry(registry("acme-dev"), NOW)
        await store.set_retention_document("acme-dev", parse_retention(UNTAGGED).document())
        yield store
    finally:
        await store.close()


def retention(
    access: SqlAccessStore, metadata: SqlMetadataStore, clock: FakeClock, deleter: object = None
) -> Retention:
    return Retention(
        access,
        SqlLifecycleStore(metadata),
        deleter or metadata,
        clock,
        AuditLog(access, clock),
        "test-holder",  # type: ignore[arg-type]
    )


async def test_a_manifest_tagged_between_the_plan_and_its_deletion_is_skipped(
    access: SqlAccessStore, metadata_store: SqlMetadataStore
) -> None:
    clock = FakeClock(NOW + timedelta(days=5))
    loose = await push(metadata_store, "acme-dev/app", image("loose"))

    report = await retention(access, metadata_store, clock, TagsBeforeDeleting(metadata_store)).run(OWNER, "acme-dev")

    assert report.candidates == ()
    assert [(s.digest, s.reason) for s in report.skipped] == [
        (str(loose.digest), "skipped: tagged revived since the plan")
    ]
    assert await metadata_store.get_manifest("acme-dev/app", _digest_reference(str(loose.digest))) is not None


async def test_a_run_deletes_what_its_plan_lists_and_audits_each(
    access: SqlAccessStore, metadata_store: SqlMetadataStore
) -> None:
    clock = FakeClock(NOW + timedelta(days=5))
    loose = await push(metadata_store, "acme-dev/app", image("loose"))
    await push(metadata_store, "acme-dev/app", image("tagged"), tag="v1")

    service = retention(access, metadata_store, clock)
    preview = await service.preview(OWNER, "acme-dev")
    report = await service.run(OWNER, "acme-dev")

    assert [c.digest for c in report.candidates] == [c.digest for c in preview.candidates] == [str(loose.digest)]
    events = await access.audit_events("acme", "acme-dev", None, 10)
    assert [(e.action, e.target, e.detail["rule"]) for e in events if e.action == "retention.delete"] == [
        ("retention.delete", f"acme-dev/app@{loose.digest}", "untagged")
    ]


async def test_a_second_run_of_a_registry_waits_for_the_first(
    access: SqlAccessStore, metadata_store: SqlMetadataStore
) -> None:
    clock = FakeClock(NOW)
    lifecycle = SqlLifecycleStore(metadata_store)
    assert await lifecycle.acquire_lease("retention:acme-dev", "another-process", NOW, NOW + timedelta(minutes=5))

    with pytest.raises(JobBusy, match="retention of acme-dev is already running"):
        await retention(access, metadata_store, clock).run(OWNER, "acme-dev")

    clock.advance(timedelta(minutes=6))  # the other process died: its lease runs out
    assert (await retention(access, metadata_store, clock).run(OWNER, "acme-dev")).ran
