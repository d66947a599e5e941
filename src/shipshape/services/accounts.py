"""Accounts: creating them and listing the ones a member may see."""

from __future__ import annotations

from shipshape.domain.access import Account, validate_registry_name
from shipshape.domain.errors import NameUnknown
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.audit import Actor, AuditLog


async def known_account(store: AccessStore, name: str) -> Account:
    """The account called `name`; `NameUnknown` if there is none."""
    account = await store.get_account(name)
    if account is None:
        raise NameUnknown(f"account {name!r} does not exist: see `shipshape account list`")
    return account


class Accounts:
    def __init__(self, store: AccessStore, clock: Clock, audit: AuditLog) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit

    async def create_account(self, actor: Actor, name: str, quota_bytes: int | None = None) -> Account:
        async with self._audit.failures(actor, "account.create", name, account=name):
            await self._audit.enforce(actor, rights.may_create_account(actor.member), "account.create", name, None)
            validate_registry_name(name)  # the same grammar: one lowercase word
            now = self._clock.now()
            account = Account(name=name, created_at=now)
            if quota_bytes is not None:
                account = Account(name=name, created_at=now, quota_bytes=quota_bytes)
            await self._store.create_account(account)
        await self._audit.record(
            actor, "account.create", name, account=name, detail={"quota_bytes": str(account.quota_bytes)}
        )
        return account

    async def list_accounts(self, actor: Actor) -> list[Account]:
        """Every account for a server administrator; the member's own otherwise."""
        if rights.is_server_admin(actor.member):
            return await self._store.list_accounts()
        account = await self._store.get_account(actor.member.account)
        return [account] if account is not None else []
