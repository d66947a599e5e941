"""The registry a repository belongs to, with its policy, and the events its images cause (for webhooks).

`RegistryRules` is what the OCI services and promotion consult; with authentication off there are no registries
and so no rules (`rules=None` in the services).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from shipshape.domain.access import Credential, CredentialKind, Member, Principal, Registry, split_repository
from shipshape.domain.errors import PolicyRefused
from shipshape.domain.events import EventKind, RegistryEvent
from shipshape.domain.records import Provenance
from shipshape.domain.webhooks import Delivery
from shipshape.ports import Clock, EventSink

log = logging.getLogger("shipshape.policy")

ANONYMOUS = "anonymous"


def actor_name(principal: Principal | None) -> str:
    if isinstance(principal, Member | Credential):
        return principal.username
    return ANONYMOUS


def credential_name(principal: Principal | None) -> str | None:
    return principal.username if isinstance(principal, Credential) else None


def pushed_by(principal: Principal | None) -> Provenance:
    """The provenance of a manifest pushed by `principal` (None: authentication is off)."""
    if principal is None:
        return Provenance()
    built_by_ci = isinstance(principal, Credential) and principal.kind is CredentialKind.CI
    return Provenance(actor=actor_name(principal), credential=credential_name(principal), built_by_ci=built_by_ci)


class RegistryLookup(Protocol):
    async def registry(self, name: str) -> Registry | None: ...


class RegistryRules:
    """Finds the registry (and so the policy) of a repository, through `registries` (the authorizer's cache,
    which a policy change empties in every process before the next push). Publishes the events the policies
    and pushes cause."""

    def __init__(self, registries: RegistryLookup, clock: Clock, events: EventSink | None = None) -> None:
        self._registries = registries
        self._clock = clock
        self._events = events

    async def registry_of(self, repository: str) -> Registry | None:
        return await self._registries.registry(split_repository(repository)[0])

    def event(
        self,
        kind: EventKind,
        registry: Registry,
        repository: str,
        principal: Principal | None,
        *,
        digest: str | None = None,
        tag: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> RegistryEvent:
        return RegistryEvent(
            kind=kind,
            time=self._clock.now(),
            account=registry.account,
            registry=registry.name,
            repository=repository,
            actor=actor_name(principal),
            credential=credential_name(principal),
            digest=digest,
            tag=tag,
            detail=detail or {},
        )

    async def owed(self, event: RegistryEvent) -> list[Delivery]:
        """The webhook deliveries `event` owes, for its change to record in the same transaction; none if they
        cannot be worked out (an event must never fail the change that caused it)."""
        if self._events is None:
            return []
        try:
            return await self._events.owed(event)
        except Exception:
            log.exception("could not work out the deliveries of a %s event", event.kind.value)
            return []

    def recorded(self, deliveries: Sequence[Delivery]) -> None:
        """`deliveries` were committed with their change: have them sent."""
        if deliveries and self._events is not None:
            self._events.recorded()

    async def publish(
        self,
        kind: EventKind,
        registry: Registry,
        repository: str,
        principal: Principal | None,
        *,
        digest: str | None = None,
        tag: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> None:
        """Queue the event's deliveries after its change committed (a crash in between loses them: changes
        that matter most record theirs in their own transaction, see `owed`)."""
        if self._events is None:
            return
        event = self.event(kind, registry, repository, principal, digest=digest, tag=tag, detail=detail)
        try:
            await self._events.publish(event)
        except Exception:  # an event must never fail the push that caused it
            log.exception("could not publish %s event", kind.value)

    async def refused(
        self,
        error: PolicyRefused,
        registry: Registry,
        repository: str,
        principal: Principal | None,
        *,
        digest: str | None = None,
        tag: str | None = None,
    ) -> None:
        """Publish a policy refusal."""
        detail = {"rule": error.rule, "message": error.message}
        await self.publish(
            EventKind.POLICY_REFUSAL, registry, repository, principal, digest=digest, tag=tag, detail=detail
        )
