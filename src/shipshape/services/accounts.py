"""Accounts: creating them and listing the ones a member may see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from shipshape.domain.access import (
    DEFAULT_CREDENTIAL_LIFETIME,
    DEFAULT_QUOTA_BYTES,
    MAX_CREDENTIAL_LIFETIME,
    Account,
    validate_registry_name,
)
from shipshape.domain.errors import CredentialRequestInvalid, NameUnknown
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
    def __init__(
        self, store: AccessStore, clock: Clock, audit: AuditLog, quota_changed: Callable[[str], None] | None = None
    ) -> None:
        self._quota_changed = quota_changed  # this process's quota check forgets what it knew of the account
        self._store = store
        self._clock = clock
        self._audit = audit

    async def create_account(
        self,
        actor: Actor,
        name: str,
        quota_bytes: int | None = None,
        credential_lifetime: timedelta | None = None,
        credential_max_lifetime: timedelta | None = None,
    ) -> Account:
        async with self._audit.failures(actor, "account.create", name, account=name):
            await self._audit.enforce(actor, rights.may_create_account(actor.member), "account.create", name, None)
            validate_registry_name(name)  # the same grammar: one lowercase word
            account = Account(
                name=name,
                created_at=self._clock.now(),
                quota_bytes=DEFAULT_QUOTA_BYTES if quota_bytes is None else quota_bytes,
                credential_lifetime=credential_lifetime or DEFAULT_CREDENTIAL_LIFETIME,
                credential_max_lifetime=credential_max_lifetime or MAX_CREDENTIAL_LIFETIME,
            )
            if account.credential_lifetime > account.credential_max_lifetime:
                raise CredentialRequestInvalid(
                    f"the default credential lifetime ({account.credential_lifetime.days}d) is longer than the"
                    f" maximum ({account.credential_max_lifetime.days}d): lower the default or raise the maximum"
                )
            await self._store.create_account(account)
        await self._audit.record(
            actor, "account.create", name, account=name, detail={"quota_bytes": str(account.quota_bytes)}
        )
        return account

    async def set_quota(self, actor: Actor, name: str, quota_bytes: int) -> Account:
        """A server administrator changes an account's storage quota; pushes meet it within seconds."""
        async with self._audit.failures(actor, "account.set-quota", name, account=name):
            await self._audit.enforce(actor, rights.may_create_account(actor.member), "account.set-quota", name, name)
            before = await known_account(self._store, name)
            account = await self._store.set_account_quota(name, quota_bytes)
        if self._quota_changed is not None:
            self._quota_changed(name)
        await self._audit.record(
            actor, "account.set-quota", name, account=name,
            detail={"quota_bytes": str(quota_bytes), "previous_quota_bytes": str(before.quota_bytes)},
        )  # fmt: skip
        return account

    async def list_accounts(self, actor: Actor) -> list[Account]:
        """Every account for a server administrator; the member's own otherwise."""
        if rights.is_server_admin(actor.member):
            return await self._store.list_accounts()
        account = await self._store.get_account(actor.member.account)
        return [account] if account is not None else []
