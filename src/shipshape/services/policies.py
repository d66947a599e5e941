"""The registry a repository belongs to, with its policy, and the events its images cause (for webhooks).

`RegistryRules` is what the OCI services and promotion consult; with authentication off there are no registries
and so no rules (`rules=None` in the services).
"""

from __future__ import annotations

import logging

from shipshape.domain.access import Credential, CredentialKind, Member, Principal, Registry, split_repository
from shipshape.domain.errors import PolicyRefused
from shipshape.domain.events import EventKind, RegistryEvent
from shipshape.domain.records import Provenance
from shipshape.ports import AccessStore, Clock, EventSink

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


class RegistryRules:
    """Finds the registry (and so the policy) of a repository, fresh from the store: a policy change applies to
    the next push in every process. Publishes the events the policies and pushes cause."""

    def __init__(self, store: AccessStore, clock: Clock, events: EventSink | None = None) -> None:
        self._store = store
        self._clock = clock
        self._events = events

    async def registry_of(self, repository: str) -> Registry | None:
        return await self._store.get_registry(split_repository(repository)[0])

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
        if self._events is None:
            return
        event = RegistryEvent(
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
