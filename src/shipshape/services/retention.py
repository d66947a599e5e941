"""Retention: each registry's rules, a preview of exactly what a run would delete, and the run itself.

A run deletes what the preview just taken lists, parents before what goes with them, each deletion audited. A
manifest that changed since the plan (a new tag, an index listing it) is skipped, never deleted on stale facts.
Runs on a schedule in the server (one run per registry at a time, across processes: a job lease) and on demand.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from shipshape.domain.access import AuditEvent, Environment, Registry, split_repository
from shipshape.domain.errors import Conflict, JobBusy, ManifestUnknown, RegistryError
from shipshape.domain.events import EventKind
from shipshape.domain.records import ManifestDeletion, StoredImage
from shipshape.domain.retention import RetentionPolicy, parse_retention, retention_from_document, retention_preset
from shipshape.policy.retention import KeptManifest, PlannedDeletion, RetentionCandidate, plan_retention
from shipshape.ports import AccessStore, Clock, ManifestDeleteGuard
from shipshape.services import rights
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.jobs import acquire_lease
from shipshape.services.policies import RegistryRules
from shipshape.services.pulls import PullRecorder
from shipshape.services.registries import known_registry

log = logging.getLogger("shipshape.retention")

LEASE = timedelta(minutes=10)
SCHEDULED_ACTOR = "retention"  # who the audit log names for scheduled runs


class RetentionInventory(Protocol):
    async def images(self, registry: str, repository: str | None = None) -> list[StoredImage]: ...

    async def blobs_referenced_outside(self, registry: str, digests: Sequence[str]) -> set[str]: ...

    async def acquire_lease(self, job: str, holder: str, now: datetime, until: datetime) -> bool: ...

    async def renew_lease(self, job: str, holder: str, until: datetime) -> bool: ...

    async def release_lease(self, job: str, holder: str) -> None: ...

    async def lease_holder(self, job: str, now: datetime) -> tuple[str, datetime] | None: ...

    async def take_over_lease(self, job: str, old_holder: str, holder: str, now: datetime, until: datetime) -> bool: ...


class ManifestDeleter(Protocol):
    async def delete_manifest(
        self, repository: str, digest: str, may_delete: ManifestDeleteGuard | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """A manifest a run deletes (or, in a preview, would delete)."""

    repository: str  # the full path
    digest: str
    tags: tuple[str, ...]
    size: int
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Kept:
    """A manifest an expire rule selected that stays, and why."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class RetentionReport:
    registry: str
    ran: bool  # False for a preview
    candidates: tuple[Candidate, ...]
    bytes: int  # freed once garbage collection has run: blobs no remaining manifest anywhere references
    kept: tuple[Kept, ...]
    skipped: tuple[Candidate, ...] = ()  # of a run: changed since the plan, left alone
    at: datetime | None = None


class _Changed(RegistryError):
    """The manifest is not what the plan saw any more."""


class Retention:
    def __init__(
        self,
        access: AccessStore,
        inventory: RetentionInventory,
        manifests: ManifestDeleter,
        clock: Clock,
        audit: AuditLog,
        holder: str,
        rules: RegistryRules | None = None,
        pulls: PullRecorder | None = None,
    ) -> None:
        self._access = access
        self._inventory = inventory
        self._manifests = manifests
        self._clock = clock
        self._audit = audit
        self._holder = holder
        self._rules = rules
        self._pulls = pulls

    # The rules

    async def show(self, actor: Actor, name: str) -> tuple[Registry, RetentionPolicy | None]:
        registry = await self._readable(actor, name, "retention.show")
        return registry, await self._policy(name)

    async def set(self, actor: Actor, name: str, text: str | None, preset: bool = False) -> RetentionPolicy | None:
        """Replace the rules with the document `text` (YAML or JSON), the environment's preset, or none."""
        async with self._audit.failures(actor, "retention.set", name, account=None, registry=name):
            registry = await self._manageable(actor, name, "retention.set")
            policy = retention_preset(registry.environment) if preset else None
            if text is not None:
                policy = parse_retention(text)
            await self._access.set_retention_document(name, policy.document() if policy is not None else None)
        detail = {"rules": str(len(policy.rules)) if policy is not None else "none", "preset": str(preset).lower()}
        await self._audit.record(actor, "retention.set", name, account=registry.account, registry=name, detail=detail)
        return policy

    # Preview and run

    async def preview(self, actor: Actor, name: str) -> RetentionReport:
        registry = await self._readable(actor, name, "retention.preview")
        return await self._plan(registry)

    async def run(self, actor: Actor, name: str) -> RetentionReport:
        registry = await self._manageable(actor, name, "retention.run")
        return await self._leased(registry, actor.member.username, actor.remote)

    async def run_scheduled(self) -> int:
        """Every registry with rules, once; returns how many manifests went."""
        deleted = 0
        for name in await self._access.registries_with_retention():
            registry = await self._access.get_registry(name)
            if registry is None:
                continue
            try:
                deleted += len((await self._leased(registry, SCHEDULED_ACTOR, None)).candidates)
            except JobBusy:
                continue
            except Exception:
                log.exception("retention of %s failed", name)
        return deleted

    async def _leased(self, registry: Registry, actor: str, remote: str | None) -> RetentionReport:
        job, now = f"retention:{registry.name}", self._clock.now()
        if not await acquire_lease(self._inventory, job, self._holder, now, now + LEASE):
            raise JobBusy(f"retention of {registry.name} is already running: wait for it to finish")
        try:
            plan = await self._plan(registry)
            return await self._execute(registry, plan, actor, remote, job)
        finally:
            await self._inventory.release_lease(job, self._holder)

    async def _plan(self, registry: Registry) -> RetentionReport:
        policy = await self._policy(registry.name)
        now = self._clock.now()
        if policy is None:
            return RetentionReport(registry.name, False, (), 0, (), at=now)
        if self._pulls is not None:
            await self._pulls.flush()  # the protection window must see this process's latest pulls
        with collector_paused():
            images = await self._inventory.images(registry.name)
            candidates = [_candidate(image) for image in images]
            plan = plan_retention(
                policy, candidates, now,
                tag_is_immutable=registry.rules.tag_is_immutable,
                production=registry.environment is Environment.PRODUCTION,
            )  # fmt: skip
            doomed = sorted({digest for deletion in plan.deletions for digest in deletion.candidate.blobs})
            outside = await self._inventory.blobs_referenced_outside(registry.name, doomed) if doomed else set()
            return RetentionReport(
                registry=registry.name,
                ran=False,
                candidates=tuple(_planned(registry.name, deletion) for deletion in plan.deletions),
                bytes=plan.freed_bytes(outside),
                kept=tuple(_kept(registry.name, kept) for kept in plan.kept),
                at=now,
            )

    async def _execute(
        self, registry: Registry, plan: RetentionReport, actor: str, remote: str | None, job: str
    ) -> RetentionReport:
        done: list[Candidate] = []
        skipped: list[Candidate] = []
        for candidate in plan.candidates:
            try:
                await self._manifests.delete_manifest(candidate.repository, candidate.digest, _unchanged(candidate))
            except (_Changed, Conflict, ManifestUnknown) as error:
                skipped.append(replace(candidate, reason=f"skipped: {error.message}"))
                continue
            done.append(candidate)
            await self._record(registry, candidate, actor, remote)
            await self._inventory.renew_lease(job, self._holder, self._clock.now() + LEASE)
        if done:
            log.info("retention deleted manifests", extra={"registry": registry.name, "count": len(done)})
        return replace(plan, ran=True, candidates=tuple(done), skipped=tuple(skipped))

    async def _record(self, registry: Registry, candidate: Candidate, actor: str, remote: str | None) -> None:
        await self._access.record_audit(
            AuditEvent(
                time=self._clock.now(),
                account=registry.account,
                registry=registry.name,
                actor=actor,
                credential=None,
                action="retention.delete",
                target=f"{candidate.repository}@{candidate.digest}",
                result="success",
                remote=remote,
                detail={"rule": candidate.rule, "tags": ",".join(candidate.tags), "size": str(candidate.size)},
            )
        )
        if self._rules is not None:
            detail = {"rule": candidate.rule, "by": "retention"}
            await self._rules.publish(
                EventKind.DELETE, registry, candidate.repository, None, digest=candidate.digest, detail=detail
            )

    # Helpers

    async def _policy(self, name: str) -> RetentionPolicy | None:
        document = await self._access.retention_document(name)
        return retention_from_document(document) if document is not None else None

    async def _readable(self, actor: Actor, name: str, action: str) -> Registry:
        registry = await known_registry(self._access, name, actor.member)
        refusal = rights.may_read(actor.member, registry.account)
        await self._audit.enforce(actor, refusal, action, name, registry.account, registry=name)
        return registry

    async def _manageable(self, actor: Actor, name: str, action: str) -> Registry:
        registry = await known_registry(self._access, name, actor.member)
        refusal = rights.may_manage(actor.member, registry.account, "retention rules")
        await self._audit.enforce(actor, refusal, action, name, registry.account, registry=name)
        return registry


def _candidate(image: StoredImage) -> RetentionCandidate:
    return RetentionCandidate(
        repository=split_repository(image.repository)[1],
        digest=image.digest,
        tags=image.tags,
        pushed_at=image.last_pushed_at,
        last_pulled_at=image.last_pulled_at,
        blobs=image.blobs,
        children=image.children,
        subject=image.subject,
    )


def _full(registry: str, repository: str) -> str:
    return f"{registry}/{repository}" if repository else registry


def _planned(registry: str, deletion: PlannedDeletion) -> Candidate:
    found = deletion.candidate
    return Candidate(
        _full(registry, found.repository), found.digest, found.tags, found.size, deletion.rule, deletion.reason
    )


def _kept(registry: str, kept: KeptManifest) -> Kept:
    found = kept.candidate
    return Kept(_full(registry, found.repository), found.digest, found.tags, kept.rule, kept.reason)


def _unchanged(candidate: Candidate) -> ManifestDeleteGuard:
    """Refuse the deletion when the manifest gained a tag since it was planned (someone is using it again)."""

    def guard(deletion: ManifestDeletion) -> None:
        new = sorted(set(deletion.tags) - set(candidate.tags))
        if new:
            raise _Changed(f"tagged {', '.join(new)} since the plan")

    return guard


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a plan or its report builds its objects (a few per manifest, none in a
    cycle): with 100,000 manifests its passes over the growing heap took a fifth of a preview's time, and a
    larger share the more manifests, as each pass walks the whole heap. Nests; the outermost re-enables it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
