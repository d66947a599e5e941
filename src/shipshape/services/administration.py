"""Managing accounts, registries, members and machine credentials: the use cases behind `/api/v1/` and the CLI.

`Administration` gathers the use cases of `accounts`, `registries`, `members`, `credentials`, `pull_secrets` and
`audit` behind one object for the composition root and the handlers; the rules live in those modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from shipshape.domain import credentials as lifecycle
from shipshape.domain.access import Account, AuditEvent, Credential, Environment, Member, Registry, Role
from shipshape.ports import AccessStore, Clock
from shipshape.services.accounts import Accounts
from shipshape.services.audit import MAX_AUDIT_EVENTS, Actor, AuditLog
from shipshape.services.authentication import Authenticator
from shipshape.services.authorization import Authorizer
from shipshape.services.credentials import (
    DEFAULT_ACTIONS,
    GLOB_PATTERN,
    KIND_ACTIONS,
    MAX_GLOB,
    MAXIMUM_LIFETIME,
    CredentialRequest,
    Credentials,
    IssuedSecret,
    credential_state,
    describe_scopes,
    home_registry,
    rotating_until,
    scope_actions,
    validate_glob,
)
from shipshape.services.members import MAX_NAME, NAME_PATTERN, Members, validate_name
from shipshape.services.pull_secrets import IssuedPullSecret, PullSecretRequest, PullSecrets
from shipshape.services.registries import Registries

__all__ = [  # what callers imported from here before the use cases moved to their own modules
    "DEFAULT_ACTIONS",
    "GLOB_PATTERN",
    "KIND_ACTIONS",
    "MAXIMUM_LIFETIME",
    "MAX_AUDIT_EVENTS",
    "MAX_GLOB",
    "MAX_NAME",
    "NAME_PATTERN",
    "Actor",
    "Administration",
    "CredentialRequest",
    "IssuedPullSecret",
    "IssuedSecret",
    "PullSecretRequest",
    "credential_state",
    "describe_scopes",
    "home_registry",
    "rotating_until",
    "scope_actions",
    "validate_glob",
    "validate_name",
]


class Administration:
    """The management use cases; `authenticator` and `authorizer` are told what to forget when access changes."""

    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        authenticator: Authenticator,
        authorizer: Authorizer | None = None,
        quota_changed: Callable[[str], None] | None = None,
    ) -> None:
        self.audit = AuditLog(store, clock)
        self.accounts = Accounts(store, clock, self.audit, quota_changed)
        self.registries = Registries(store, clock, self.audit, authorizer, authenticator)
        self.members = Members(store, clock, self.audit, authenticator)
        self.credentials = Credentials(store, clock, self.audit, authenticator)
        self.pull_secrets = PullSecrets(store, clock, self.audit, self.credentials)

    # accounts ------------------------------------------------------------------------------------------------
    async def create_account(
        self,
        actor: Actor,
        name: str,
        quota_bytes: int | None = None,
        credential_lifetime: timedelta | None = None,
        credential_max_lifetime: timedelta | None = None,
    ) -> Account:
        return await self.accounts.create_account(
            actor, name, quota_bytes, credential_lifetime, credential_max_lifetime
        )

    async def set_account_quota(self, actor: Actor, name: str, quota_bytes: int) -> Account:
        return await self.accounts.set_quota(actor, name, quota_bytes)

    async def list_accounts(self, actor: Actor) -> list[Account]:
        return await self.accounts.list_accounts(actor)

    # registries ----------------------------------------------------------------------------------------------
    async def create_registry(
        self, actor: Actor, name: str, environment: Environment, account: str | None = None, public: bool = False
    ) -> Registry:
        return await self.registries.create_registry(actor, name, environment, account, public)

    async def list_registries(self, actor: Actor, account: str | None = None) -> list[Registry]:
        return await self.registries.list_registries(actor, account)

    async def get_registry(self, actor: Actor, name: str) -> Registry:
        return await self.registries.get_registry(actor, name)

    async def set_registry_policy(self, actor: Actor, name: str, changes: Mapping[str, object]) -> Registry:
        return await self.registries.set_policy(actor, name, changes)

    async def delete_registry(self, actor: Actor, name: str) -> None:
        await self.registries.delete_registry(actor, name)

    # members -------------------------------------------------------------------------------------------------
    async def add_member(
        self, actor: Actor, username: str, role: Role, password: str, account: str | None = None
    ) -> Member:
        return await self.members.add_member(actor, username, role, password, account)

    async def list_members(self, actor: Actor, account: str | None = None) -> list[Member]:
        return await self.members.list_members(actor, account)

    async def remove_member(self, actor: Actor, username: str) -> None:
        await self.members.remove_member(actor, username)

    async def set_password(self, actor: Actor, username: str, password: str) -> None:
        await self.members.set_password(actor, username, password)

    # credentials ---------------------------------------------------------------------------------------------
    async def create_credential(self, actor: Actor, request: CredentialRequest) -> IssuedSecret:
        return await self.credentials.create_credential(actor, request)

    async def list_credentials(self, actor: Actor, account: str | None = None) -> list[Credential]:
        return await self.credentials.list_credentials(actor, account)

    async def get_credential(self, actor: Actor, username: str) -> Credential:
        return await self.credentials.get_credential(actor, username)

    async def rotate_credential(
        self,
        actor: Actor,
        username: str,
        grace: timedelta = lifecycle.DEFAULT_GRACE,
        expires_in: timedelta | None = None,
    ) -> IssuedSecret:
        return await self.credentials.rotate_credential(actor, username, grace, expires_in)

    async def reset_credential(self, actor: Actor, username: str, expires_in: timedelta | None = None) -> IssuedSecret:
        return await self.credentials.reset_credential(actor, username, expires_in)

    async def revoke_credential(self, actor: Actor, username: str) -> Credential:
        return await self.credentials.revoke_credential(actor, username)

    # audit log -----------------------------------------------------------------------------------------------
    async def audit_events(
        self,
        actor: Actor,
        registry: str | None = None,
        account: str | None = None,
        since: timedelta | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        return await self.audit.audit_events(actor, registry, account, since, limit)

    # Kubernetes ----------------------------------------------------------------------------------------------
    async def pull_secret(self, actor: Actor, request: PullSecretRequest) -> IssuedPullSecret:
        return await self.pull_secrets.pull_secret(actor, request)
