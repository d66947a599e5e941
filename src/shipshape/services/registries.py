"""Registries: creating, listing, showing and deleting an account's registries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

from shipshape.domain.access import Environment, Member, Registry, validate_registry_name
from shipshape.domain.errors import NameUnknown, PolicyInvalid
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.accounts import known_account
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.authentication import Authenticator
from shipshape.services.authorization import Authorizer


async def known_registry(store: AccessStore, name: str, seen_by: Member | None = None) -> Registry:
    """The registry called `name`; `NameUnknown` if there is none, or if it is another account's than that of
    member `seen_by` (the same answer, so that nobody learns what other accounts hold)."""
    registry = await store.get_registry(name)
    if registry is None or not rights.may_see(seen_by, registry.account):
        raise NameUnknown(f"registry {name!r} does not exist: see `shipshape registry list`")
    return registry


class Registries:
    """The registry use cases; `authorizer` is told to forget a registry that is created or deleted, and
    `authenticator` to forget the logins it holds when a deletion ends the credentials' scopes on a registry."""

    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        audit: AuditLog,
        authorizer: Authorizer | None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._authorizer = authorizer
        self._authenticator = authenticator

    async def create_registry(
        self, actor: Actor, name: str, environment: Environment, account: str | None = None, public: bool = False
    ) -> Registry:
        owner = account or actor.member.account
        async with self._audit.failures(actor, "registry.create", name, account=owner, registry=name):
            refusal = rights.may_manage(actor.member, owner, "registries")
            await self._audit.enforce(actor, refusal, "registry.create", name, owner, registry=name)
            validate_registry_name(name)
            await known_account(self._store, owner)
            registry = Registry(name=name, account=owner, environment=environment, public=public)
            await self._store.create_registry(registry, self._clock.now())
        self._forget(name)
        await self._audit.record(
            actor, "registry.create", name, account=owner, registry=name,
            detail={"environment": str(environment), "public": str(public).lower()},
        )  # fmt: skip
        return registry

    async def list_registries(self, actor: Actor, account: str | None = None) -> list[Registry]:
        """The registries of `account` (default: the member's; every account's for a server administrator)."""
        if account is None:
            if rights.is_server_admin(actor.member):
                return await self._store.list_registries(None)
            account = actor.member.account
        await self._audit.enforce(actor, rights.may_read(actor.member, account), "registry.list", account, account)
        return await self._store.list_registries(account)

    async def get_registry(self, actor: Actor, name: str) -> Registry:
        registry = await known_registry(self._store, name, actor.member)
        refusal = rights.may_read(actor.member, registry.account)
        await self._audit.enforce(actor, refusal, "registry.show", name, registry.account, registry=name)
        return registry

    async def set_policy(self, actor: Actor, name: str, changes: Mapping[str, object]) -> Registry:
        """Change some fields of the registry's policy (a partial policy document); the rest stays."""
        if not changes:
            raise PolicyInvalid("no policy field to change: give at least one, e.g. tag_mutability")
        async with self._audit.failures(actor, "registry.policy", name, account=None, registry=name):
            registry = await known_registry(self._store, name, actor.member)
            refusal = rights.may_manage(actor.member, registry.account, "registries")
            await self._audit.enforce(actor, refusal, "registry.policy", name, registry.account, registry=name)
            registry.rules.updated(changes)  # refuse an invalid change before taking the row's lock
            registry, policy = await self._store.change_registry_policy(name, lambda current: current.updated(changes))
        self._forget(name)
        before, after = registry.rules.document(), policy.document()
        changed = {key: json.dumps(value) for key, value in after.items() if before[key] != value}
        await self._audit.record(actor, "registry.policy", name, account=registry.account, registry=name,
                                 detail=changed)  # fmt: skip
        return replace(registry, policy=policy)

    async def delete_registry(self, actor: Actor, name: str) -> None:
        async with self._audit.failures(actor, "registry.delete", name, account=None, registry=name):
            registry = await known_registry(self._store, name, actor.member)
            refusal = rights.may_manage(actor.member, registry.account, "registries")
            await self._audit.enforce(actor, refusal, "registry.delete", name, registry.account, registry=name)
            await self._store.delete_registry(name)
        self._forget(name)
        if self._authenticator is not None:
            self._authenticator.forget_everyone()
        await self._audit.record(actor, "registry.delete", name, account=registry.account, registry=name)

    def _forget(self, name: str) -> None:
        if self._authorizer is not None:
            self._authorizer.forget(name)
