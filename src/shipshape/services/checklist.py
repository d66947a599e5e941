"""The production-readiness checklist of registries: the facts gathered from the access store, judged by
`shipshape.policy.checklist`.

Whoever may read a registry may check it (any member of its account, a server administrator); without a registry
named, every registry the caller may read is checked (a server administrator's: every account's).
"""

from __future__ import annotations

from itertools import groupby

from shipshape.domain.access import MAX_CREDENTIAL_LIFETIME, Registry
from shipshape.domain.retention import retention_from_document
from shipshape.policy.checklist import ChecklistFacts, RegistryChecklist, evaluate
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.accounts import known_account
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.registries import known_registry


class Checklist:
    def __init__(self, access: AccessStore, audit: AuditLog, clock: Clock) -> None:
        self._access = access
        self._audit = audit
        self._clock = clock

    async def check(self, actor: Actor, name: str) -> RegistryChecklist:
        """The checklist of registry `name`."""
        registry = await known_registry(self._access, name, actor.member)
        refusal = rights.may_read(actor.member, registry.account)
        await self._audit.enforce(actor, refusal, "checklist.show", name, registry.account, registry=name)
        [checked] = await self._evaluate(registry.account, [registry])
        return checked

    async def check_all(self, actor: Actor, account: str | None = None) -> list[RegistryChecklist]:
        """The checklists of every registry of `account` (default: the caller's; every account's for a server
        administrator), by registry name."""
        if account is None and rights.is_server_admin(actor.member):
            registries = await self._access.list_registries(None)
        else:
            account = account or actor.member.account
            refusal = rights.may_read(actor.member, account)
            await self._audit.enforce(actor, refusal, "checklist.show", account, account)
            await known_account(self._access, account)
            registries = await self._access.list_registries(account)
        checked: list[RegistryChecklist] = []
        for owner, of_account in groupby(sorted(registries, key=lambda r: (r.account, r.name)), lambda r: r.account):
            checked += await self._evaluate(owner, list(of_account))
        return sorted(checked, key=lambda c: c.registry.name)

    async def _evaluate(self, account: str, registries: list[Registry]) -> list[RegistryChecklist]:
        """Checklists of some registries of one account, read with one look at its registries and credentials."""
        found = await self._access.get_account(account)
        max_age = found.credential_max_lifetime if found is not None else MAX_CREDENTIAL_LIFETIME
        every_registry = await self._access.list_registries(account)
        credentials = await self._access.list_credentials(account)
        now = self._clock.now()
        checked = []
        for registry in registries:
            document = await self._access.retention_document(registry.name)
            facts = ChecklistFacts(
                registry=registry,
                registries=every_registry,
                credentials=credentials,
                max_credential_age=max_age,
                retention=retention_from_document(document) if document is not None else None,
                now=now,
            )
            checked.append(evaluate(facts))
        return checked
