"""The metadata writes that policies guard, and promotion, on SQLite and PostgreSQL: a guard sees the stored state
inside the transaction, and whatever it raises leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, text

from shipshape.domain.errors import Denied, ManifestUnknown
from shipshape.domain.names import Reference
from shipshape.domain.records import Arrival, ManifestDeletion, Provenance
from shipshape.metadata import blob_links
from shipshape.metadata import manifests as manifests_sql
from shipshape.metadata.tables import manifests, repositories
from shipshape.metadata.tables import tags as tags_table
from shipshape.ports import MetadataStore
from tests.contract.test_metadata_store import NOW, by_tag, database, image, index, link_blobs_of, push, snapshot

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def refuse(reason: str):  # type: ignore[no-untyped-def]
    seen: list[object] = []

    def guard(state: object) -> None:
        seen.append(state)
        raise Denied(reason)

    return guard, seen


async def test_a_new_tag_is_set_without_asking_the_guard(metadata_store: MetadataStore) -> None:
    guard, seen = refuse("never asked")
    manifest = image("one")
    await link_blobs_of(metadata_store, "acme/web", manifest)
    await metadata_store.put_manifest("acme/web", manifest, "v1", NOW, may_move_tag=guard)
    assert seen == []
    stored = await metadata_store.get_manifest("acme/web", by_tag("v1"))
    assert stored is not None and stored.digest == str(manifest.digest)


async def test_the_same_digest_again_is_not_a_move(metadata_store: MetadataStore) -> None:
    guard, seen = refuse("never asked")
    manifest = await push(metadata_store, "acme/web", image("one"), "v1")
    await metadata_store.put_manifest("acme/web", manifest, "v1", NOW, may_move_tag=guard)
    assert seen == []


async def test_a_refused_move_stores_neither_the_tag_nor_the_manifest(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    first = await push(metadata_store, "acme/web", image("one"), "v1")
    second = image("two")
    await link_blobs_of(metadata_store, "acme/web", second)
    before = snapshot(migrated_url)
    guard, seen = refuse("immutable")
    with pytest.raises(Denied):
        await metadata_store.put_manifest("acme/web", second, "v1", NOW, may_move_tag=guard)
    assert seen == [str(first.digest)]
    assert snapshot(migrated_url) == before


async def test_an_allowed_move_moves_the_tag(metadata_store: MetadataStore) -> None:
    await push(metadata_store, "acme/web", image("one"), "v1")
    second = image("two")
    await link_blobs_of(metadata_store, "acme/web", second)
    await metadata_store.put_manifest("acme/web", second, "v1", NOW, may_move_tag=lambda current: None)
    stored = await metadata_store.get_manifest("acme/web", by_tag("v1"))
    assert stored is not None and stored.digest == str(second.digest)


async def test_the_delete_guard_sees_the_tags_and_a_refusal_keeps_everything(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    manifest = await push(metadata_store, "acme/web", image("one"), "v1")
    await metadata_store.put_manifest("acme/web", manifest, "stable", NOW)
    seen: list[Sequence[str]] = []

    def guard(deletion: ManifestDeletion) -> None:
        seen.append(list(deletion.tags))
        raise Denied("immutable")

    before = snapshot(migrated_url)
    with pytest.raises(Denied):
        await metadata_store.delete_manifest("acme/web", str(manifest.digest), guard)
    assert seen == [["stable", "v1"]]
    assert snapshot(migrated_url) == before


async def test_provenance_is_recorded_on_first_arrival_only(metadata_store: MetadataStore, migrated_url: str) -> None:
    manifest = image("one")
    await link_blobs_of(metadata_store, "acme/web", manifest)
    await metadata_store.put_manifest(
        "acme/web", manifest, "v1", NOW, Provenance(actor="acme+ci", credential="acme+ci")
    )
    await metadata_store.put_manifest("acme/web", manifest, "v2", NOW, Provenance(actor="dana"))
    assert _provenance(migrated_url, "acme/web") == [("push", "acme+ci", "acme+ci", None)]


async def test_promotion_shares_blobs_and_brings_children_and_referrers(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    amd, arm = image("amd"), image("arm")
    for child in (amd, arm):
        await push(metadata_store, "stage/web", child)
    top = await push(metadata_store, "stage/web", index(amd, arm), "v1.0.0")
    signature = await push(metadata_store, "stage/web", image("sig", subject=top, artifact_type=SIGNATURE))
    child_sbom = await push(metadata_store, "stage/web", image("sbom", subject=amd, artifact_type="text/spdx"))

    promoted = await metadata_store.promote(
        "stage/web", str(top.digest), "prod/web", "v1.0.0", NOW, Provenance(Arrival.PROMOTION, "acme+ci", "acme+ci")
    )

    assert promoted.digest == str(top.digest) and promoted.manifests == 5
    for manifest in (top, amd, arm, signature, child_sbom):
        stored = await metadata_store.get_manifest("prod/web", Reference(digest=manifest.digest))
        assert stored is not None and stored.payload == manifest.payload
    for blob in amd.blobs:
        assert await metadata_store.linked_blob_size("prod/web", blob.digest) == blob.size
    referrers = await metadata_store.referrers("prod/web", str(top.digest))
    assert [r.digest for r in referrers] == [str(signature.digest)]
    tagged = await metadata_store.get_manifest("prod/web", by_tag("v1.0.0"))
    assert tagged is not None and tagged.digest == str(top.digest)
    assert ("promotion", "acme+ci", "acme+ci", f"stage/web@{top.digest}") in _provenance(migrated_url, "prod/web")


async def test_a_refused_promotion_leaves_nothing(metadata_store: MetadataStore, migrated_url: str) -> None:
    await push(metadata_store, "prod/web", image("old"), "v1.0.0")
    new = await push(metadata_store, "stage/web", image("new"), "v1.0.0")
    before = snapshot(migrated_url)
    guard, _ = refuse("immutable")
    with pytest.raises(Denied):
        await metadata_store.promote("stage/web", str(new.digest), "prod/web", "v1.0.0", NOW, Provenance(), guard)
    assert snapshot(migrated_url) == before


async def test_promoting_an_unknown_digest_is_manifest_unknown(metadata_store: MetadataStore) -> None:
    with pytest.raises(ManifestUnknown):
        await metadata_store.promote("stage/web", str(image("x").digest), "prod/web", None, NOW, Provenance())


def _provenance(url: str, repository: str) -> list[tuple[str, str | None, str | None, str | None]]:
    columns = (manifests.c.arrived_via, manifests.c.arrived_by, manifests.c.arrived_credential,
               manifests.c.promoted_from)  # fmt: skip
    with database(url) as engine, engine.connect() as connection:
        rows = connection.execute(
            select(*columns)
            .join(repositories, repositories.c.id == manifests.c.repository_id)
            .where(repositories.c.name == repository)
            .order_by(manifests.c.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_racing_pushes_of_a_new_immutable_tag_leave_one_winner(metadata_store: MetadataStore) -> None:
    contenders = [image(f"racer-{n}") for n in range(6)]
    for manifest in contenders:
        await link_blobs_of(metadata_store, "acme/web", manifest)

    def immutable(current: str) -> None:
        raise Denied(f"v1 points at {current}")

    results = await asyncio.gather(
        *(metadata_store.put_manifest("acme/web", m, "v1", NOW, may_move_tag=immutable) for m in contenders),
        return_exceptions=True,
    )
    winners = [m for m, result in zip(contenders, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(isinstance(result, Denied) for result in results if result is not None)
    stored = await metadata_store.get_manifest("acme/web", by_tag("v1"))
    assert stored is not None and stored.digest == str(winners[0].digest)


@pytest.mark.postgres
def test_a_delete_waiting_on_a_push_that_tags_the_manifest_sees_the_new_tag(postgres_migrated_url: str) -> None:
    """PostgreSQL: a delete that starts while a push tagging the manifest is uncommitted must see that tag once the
    push commits (SQLite runs one writer at a time, so the interleaving cannot happen there)."""
    manifest = image("one")
    with database(postgres_migrated_url) as engine:
        with engine.begin() as connection:
            for blob in manifest.blobs:
                blob_links.link(connection, "acme/web", blob.digest, blob.size, NOW)
            manifests_sql.put(connection, "acme/web", manifest, None, NOW)
        seen: list[Sequence[str]] = []

        def immutable(deletion: ManifestDeletion) -> None:
            seen.append(list(deletion.tags))
            if deletion.tags:
                raise Denied("an immutable tag points at it")

        with engine.connect() as pusher, pusher.begin() as push_transaction:
            manifests_sql.put(pusher, "acme/web", manifest, "v1.0.0", NOW)
            with ThreadPoolExecutor(1) as pool:
                deletion = pool.submit(_delete, engine, str(manifest.digest), immutable)
                _wait_until_blocked(engine)
                push_transaction.commit()
                with pytest.raises(Denied):
                    deletion.result(timeout=30)
        assert seen == [["v1.0.0"]]
        with engine.connect() as connection:
            assert connection.execute(select(tags_table.c.name)).scalars().all() == ["v1.0.0"]


def _delete(engine: Engine, digest: str, guard: Callable[[ManifestDeletion], None]) -> None:
    with engine.begin() as connection:
        manifests_sql.remove(connection, "acme/web", digest, guard)


def _wait_until_blocked(engine: Engine) -> None:
    """Until another session of this database waits for a lock (bounded)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(3000):
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
    raise AssertionError("the delete never waited for the push's lock")


async def test_the_tagging_guard_sees_the_referrers_and_a_refusal_stores_nothing(
    metadata_store: MetadataStore, migrated_url: str
) -> None:
    subject = await push(metadata_store, "acme/web", image("one"))
    await push(metadata_store, "acme/web", image("sbom", subject=subject, artifact_type="text/spdx"))
    before = snapshot(migrated_url)
    seen: list[Sequence[str | None]] = []

    def unsigned(types: Sequence[str | None]) -> None:
        seen.append(list(types))
        raise Denied("unsigned")

    with pytest.raises(Denied):
        await metadata_store.put_manifest("acme/web", subject, "v1", NOW, may_tag=unsigned)
    assert seen == [["text/spdx"]]
    assert snapshot(migrated_url) == before


async def test_deleting_a_referrer_shows_its_subjects_tags_and_other_referrers(metadata_store: MetadataStore) -> None:
    subject = await push(metadata_store, "acme/web", image("one"), "v1")
    first = await push(metadata_store, "acme/web", image("sig-1", subject=subject, artifact_type=SIGNATURE))
    await push(metadata_store, "acme/web", image("sbom", subject=subject, artifact_type="text/spdx"))
    seen: list[ManifestDeletion] = []
    await metadata_store.delete_manifest("acme/web", str(first.digest), seen.append)
    (deletion,) = seen
    assert (deletion.digest, deletion.artifact_type, deletion.subject) == (
        str(first.digest), SIGNATURE, str(subject.digest)
    )  # fmt: skip
    assert list(deletion.subject_tags) == ["v1"] and list(deletion.other_referrer_types) == ["text/spdx"]


@pytest.mark.postgres
def test_a_signature_delete_waiting_on_a_push_that_tags_its_subject_sees_the_tag(postgres_migrated_url: str) -> None:
    """PostgreSQL: the push reads the subject's referrers FOR SHARE, so deleting the signature waits for it and then
    sees the new tag (and may refuse: the last signature of a tagged image)."""
    subject, signature = image("one"), image("sig", subject=image("one"), artifact_type=SIGNATURE)
    with database(postgres_migrated_url) as engine:
        with engine.begin() as connection:
            for manifest in (subject, signature):
                for blob in manifest.blobs:
                    blob_links.link(connection, "acme/web", blob.digest, blob.size, NOW)
                manifests_sql.put(connection, "acme/web", manifest, None, NOW)
        seen: list[ManifestDeletion] = []

        def last_signature(deletion: ManifestDeletion) -> None:
            seen.append(deletion)
            if deletion.subject_tags and SIGNATURE not in deletion.other_referrer_types:
                raise Denied("the last signature of a tagged image")

        with engine.connect() as pusher, pusher.begin() as push_transaction:
            manifests_sql.put(pusher, "acme/web", subject, "v1.0.0", NOW, may_tag=lambda types: None)
            with ThreadPoolExecutor(1) as pool:
                deletion = pool.submit(_delete, engine, str(signature.digest), last_signature)
                _wait_until_blocked(engine)
                push_transaction.commit()
                with pytest.raises(Denied):
                    deletion.result(timeout=30)
        assert [list(d.subject_tags) for d in seen] == [["v1.0.0"]]
