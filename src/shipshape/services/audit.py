"""The audit log of the management use cases: who acted, recording changes, failures and refusals, and reading it back.

Every management use case checks the acting member's rights (`shipshape.services.rights`) first; every change and
every refusal leaves an audit event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from shipshape.domain.access import AuditEvent, Member
from shipshape.domain.errors import Denied, RegistryError
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.rights import Refusal

MAX_AUDIT_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """The member a request acts for, and where it came from (for the audit log)."""

    member: Member
    remote: str | None = None


class AuditLog:
    """Records what members do and are refused, and reads it back for those who may manage an account."""

    def __init__(self, store: AccessStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def audit_events(
        self,
        actor: Actor,
        registry: str | None = None,
        account: str | None = None,
        since: timedelta | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest first. A server administrator reads every account's events unless `account` narrows them."""
        if registry is not None:
            found = await self._store.get_registry(registry)
            if found is not None:
                account = found.account
            elif account is None and not rights.is_server_admin(actor.member):
                account = actor.member.account  # a deleted registry: its events in the member's own account
        if account is None and not rights.is_server_admin(actor.member):
            account = actor.member.account
        if account is not None:
            refusal = rights.may_manage(actor.member, account, "audit log")
            await self.enforce(actor, refusal, "audit.read", registry or account, account)
        start = self._clock.now() - since if since is not None else None
        return await self._store.audit_events(account, registry, start, max(1, min(limit, MAX_AUDIT_EVENTS)))

    @asynccontextmanager
    async def failures(
        self,
        actor: Actor,
        action: str,
        target: str,
        *,
        account: str | None,
        registry: str | None = None,
        credential: str | None = None,
    ) -> AsyncIterator[None]:
        """Record a change that failed (bad input, a conflict...) in the audit log; refusals record themselves."""
        try:
            yield
        except Denied:
            raise
        except RegistryError as error:
            await self.record(
                actor, action, target, account=account, registry=registry, credential=credential,
                result="failure", detail={"error": type(error).__name__},
            )  # fmt: skip
            raise

    async def enforce(
        self,
        actor: Actor,
        refusal: Refusal | None,
        action: str,
        target: str,
        account: str | None,
        registry: str | None = None,
        credential: str | None = None,
    ) -> None:
        """Raise `Denied` for `refusal`, after recording it in the audit log."""
        if refusal is None:
            return
        await self.record(
            actor, action, target, account=account, registry=registry, credential=credential,
            result="denied", detail={"rule": refusal.rule},
        )  # fmt: skip
        raise Denied(refusal.message, detail={"rule": refusal.rule})

    async def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        *,
        account: str | None,
        registry: str | None = None,
        credential: str | None = None,
        result: str = "success",
        detail: dict[str, str] | None = None,
    ) -> None:
        await self._store.record_audit(
            AuditEvent(
                time=self._clock.now(),
                account=account,
                actor=actor.member.username,
                action=action,
                target=target,
                result=result,
                remote=actor.remote,
                credential=credential,
                registry=registry,
                detail=detail or {},
            )
        )
