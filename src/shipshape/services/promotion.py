"""Promotion: the image tested in one registry becomes available in the next one by digest, without a rebuild and
without copying a byte, if the target registry's policies allow it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shipshape.domain.access import Action, AuditEvent, Principal, Registry
from shipshape.domain.errors import Denied, ManifestUnknown, NameUnknown, PolicyRefused, RegistryError, TagInvalid
from shipshape.domain.events import EventKind
from shipshape.domain.names import parse_image_reference
from shipshape.domain.records import Arrival, PromotedImage, Provenance, StoredManifest
from shipshape.policy.creators import check_promotion
from shipshape.policy.promotion import check_promotion_source
from shipshape.policy.refusals import enforce
from shipshape.policy.tagging import check_tagging
from shipshape.policy.tags import check_tag_move
from shipshape.ports import AccessStore, Clock, ImageRecord, ImageRecords, ManifestIndex, PromotionIndex
from shipshape.services.authorization import Authorizer
from shipshape.services.policies import RegistryRules, actor_name, credential_name


class PromotionStore(ManifestIndex, PromotionIndex, ImageRecords, Protocol):
    """What promotion reads and writes."""


@dataclass(frozen=True, slots=True)
class Promotion:
    source: str  # `registry/repo@digest`
    target: str  # `registry/repo:tag`, or `registry/repo@digest` without a tag
    tag: str | None
    image: PromotedImage


@dataclass(frozen=True, slots=True)
class _Plan:
    source: str
    target: str
    tag: str | None
    image: ImageRecord
    source_registry: Registry
    target_registry: Registry

    @property
    def digest(self) -> str:
        return self.image.manifest.digest


class Promotions:
    def __init__(
        self, index: PromotionStore, rules: RegistryRules, authorizer: Authorizer, audit: AccessStore, clock: Clock
    ) -> None:
        self._index = index
        self._rules = rules
        self._authorizer = authorizer
        self._audit = audit
        self._clock = clock

    async def promote(self, principal: Principal, source: str, target: str, remote: str | None = None) -> Promotion:
        """Promote `source` (`registry/repo:tag` or `…@digest`) to `target` (`registry/repo[:tag]`; the tag
        defaults to the source's)."""
        try:
            plan = await self._plan(principal, source, target)
        except RegistryError as error:  # refused or impossible before any policy ran: still on the record
            await self._record_failure(principal, source, target, remote, error)
            raise
        digest = plan.digest
        shown = f"{plan.target}:{plan.tag}" if plan.tag else f"{plan.target}@{digest}"
        try:
            self._check(plan, await self._index.referrers(plan.source, digest))

            def may_move(current: str) -> None:
                enforce(check_tag_move(plan.target_registry, plan.target, plan.tag or "", current, digest))

            provenance = Provenance(Arrival.PROMOTION, actor_name(principal), credential_name(principal))
            image = await self._index.promote(
                plan.source, digest, plan.target, plan.tag, self._clock.now(), provenance, may_move
            )
        except PolicyRefused as error:
            await self._record(principal, plan, shown, "denied", remote, {"rule": error.rule})
            await self._rules.refused(error, plan.target_registry, plan.target, principal, digest=digest, tag=plan.tag)
            raise
        await self._record(principal, plan, shown, "success", remote, {"manifests": str(image.manifests)})
        await self._rules.publish(
            EventKind.PROMOTION, plan.target_registry, plan.target, principal, digest=digest, tag=plan.tag,
            detail={"source": f"{plan.source}@{digest}", "source_registry": plan.source_registry.name},
        )  # fmt: skip
        return Promotion(source=f"{plan.source}@{digest}", target=shown, tag=plan.tag, image=image)

    async def _plan(self, principal: Principal, source: str, target: str) -> _Plan:
        source_repository, source_reference = parse_image_reference(source)
        target_repository, target_reference = parse_image_reference(target)
        if source_reference is None:
            raise TagInvalid(f"promote what? name the source image by tag or digest, e.g. {source}:v1.2.3")
        if target_reference is not None and target_reference.digest is not None:
            raise TagInvalid(f"the target keeps the source's digest: name it registry/repository[:tag], not {target}")
        tag = target_reference.tag if target_reference is not None else source_reference.tag
        await self._authorizer.require(principal, source_repository, Action.PULL)
        await self._authorizer.require(principal, target_repository, Action.PUSH)
        image = await self._index.image_record(source_repository, source_reference)
        if image is None:
            raise ManifestUnknown(f"{source} is not in the registry: check the name, tag or digest")
        return _Plan(
            source=source_repository,
            target=target_repository,
            tag=tag,
            image=image,
            source_registry=await self._registry(source_repository),
            target_registry=await self._registry(target_repository),
        )

    async def _registry(self, repository: str) -> Registry:
        registry = await self._rules.registry_of(repository)
        if registry is None:
            raise NameUnknown(f"the registry of {repository} does not exist")
        return registry

    @staticmethod
    def _check(plan: _Plan, referrers: list[StoredManifest]) -> None:
        target = plan.target_registry
        source = f"{plan.source}@{plan.digest}"
        enforce(check_promotion(target, source, plan.image.provenance.built_by_ci))
        enforce(check_promotion_source(target, plan.source_registry))
        if plan.tag is not None:
            kinds = [referrer.artifact_type for referrer in referrers]
            enforce(check_tagging(target, plan.target, plan.digest, plan.tag, kinds))

    async def _record_failure(
        self, principal: Principal, source: str, target: str, remote: str | None, error: RegistryError
    ) -> None:
        await self._audit.record_audit(
            AuditEvent(
                time=self._clock.now(),
                account=getattr(principal, "account", None),
                actor=actor_name(principal),
                action="image.promote",
                target=target[:512],
                result="denied" if isinstance(error, Denied) else "failure",
                remote=remote,
                credential=credential_name(principal),
                registry=target.partition("/")[0][:255] or None,
                detail={"source": source[:512], "error": type(error).__name__},
            )
        )

    async def _record(
        self, principal: Principal, plan: _Plan, shown: str, result: str, remote: str | None, detail: dict[str, str]
    ) -> None:
        await self._audit.record_audit(
            AuditEvent(
                time=self._clock.now(),
                account=plan.target_registry.account,
                actor=actor_name(principal),
                action="image.promote",
                target=shown,
                result=result,
                remote=remote,
                credential=credential_name(principal),
                registry=plan.target_registry.name,
                detail={"source": f"{plan.source}@{plan.digest}", **detail},
            )
        )
