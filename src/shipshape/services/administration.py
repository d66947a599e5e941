"""Managing accounts, registries, members and machine credentials: the use cases behind `/api/v1/` and the CLI.

Each use case checks the acting member's rights (`shipshape.services.rights`) first; every change and every refusal
leaves an audit event. Secrets are generated here, returned once to the caller and stored only as SHA-256.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipshape.auth.passwords import hash_password
from shipshape.domain import credentials as lifecycle
from shipshape.domain.access import (
    Account,
    Action,
    AuditEvent,
    Credential,
    CredentialKind,
    Environment,
    Member,
    Registry,
    Role,
    Scope,
    SecretHash,
    validate_registry_name,
)
from shipshape.domain.errors import (
    Conflict,
    CredentialRequestInvalid,
    Denied,
    NameInvalid,
    NameUnknown,
    RegistryError,
    Unauthorized,
)
from shipshape.domain.passwords import check_password
from shipshape.domain.secrets import generate_secret, is_well_formed, secret_sha256
from shipshape.ports import AccessStore, Clock
from shipshape.services import pull_secrets, rights
from shipshape.services.authentication import Authenticator
from shipshape.services.authorization import Authorizer
from shipshape.services.rights import Refusal

MAXIMUM_LIFETIME = timedelta(days=365)
MAX_AUDIT_EVENTS = 1000

_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_NAME = 64
NAME_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*$"
_GLOB = re.compile(r"[a-z0-9._/*?-]+")
MAX_GLOB = 255
GLOB_PATTERN = r"^[a-z0-9._/*?-]+$"
# What each kind of credential may be given, and gets when it asks for nothing.
KIND_ACTIONS: dict[CredentialKind, frozenset[Action]] = {
    CredentialKind.CI: frozenset(Action),
    CredentialKind.PULL: frozenset({Action.PULL}),
    CredentialKind.SERVICE: frozenset(Action),
}
DEFAULT_ACTIONS: dict[CredentialKind, frozenset[Action]] = {
    CredentialKind.CI: frozenset({Action.PULL, Action.PUSH}),
    CredentialKind.PULL: frozenset({Action.PULL}),
    CredentialKind.SERVICE: frozenset({Action.PULL}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """The member a request acts for, and where it came from (for the audit log)."""

    member: Member
    remote: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    name: str
    registries: Sequence[str]
    kind: CredentialKind
    actions: frozenset[Action] | None = None  # None: the kind's default
    repositories: str | None = None  # a glob such as `web/*`; None: every repository
    expires_in: timedelta | None = None  # None: the default lifetime


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A credential with a secret it was just given: the only time the secret is seen."""

    credential: Credential
    secret: str


@dataclass(frozen=True, slots=True)
class PullSecretRequest:
    registry: str
    namespace: str
    server: str  # host[:port] as clients address the registry
    secret_name: str | None = None  # default `<registry>-pull`
    service_account: str = "default"
    credential: str | None = None  # reuse this pull-only credential...
    secret: str | None = None  # ...whose secret the caller holds


@dataclass(frozen=True, slots=True)
class IssuedPullSecret:
    yaml: str
    username: str
    secret_name: str
    created: bool  # whether a new credential was created for it


def validate_name(name: str, what: str) -> str:
    """A member's username or a credential's name: one lowercase word, like a registry name."""
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise NameInvalid(
            f"invalid {what} {name!r}: up to {MAX_NAME} lowercase letters and digits,"
            " with single '.', '_' or '-' between them, e.g. ci-builder"
        )
    return name


def validate_glob(glob: str) -> str:
    if len(glob) > MAX_GLOB or not _GLOB.fullmatch(glob):
        raise CredentialRequestInvalid(
            f"invalid repository pattern {glob!r}: use lowercase repository names with '*' and '?' wildcards,"
            " e.g. web/* or web/api"
        )
    return glob


def scope_actions(kind: CredentialKind, requested: frozenset[Action] | None) -> frozenset[Action]:
    """The actions a credential of `kind` gets for `requested` (None: the kind's default)."""
    actions = DEFAULT_ACTIONS[kind] if requested is None else requested
    if not actions:
        raise CredentialRequestInvalid("a credential needs at least one action: pull, push or delete")
    extra = actions - KIND_ACTIONS[kind]
    if extra:
        names = ",".join(sorted(extra))
        raise CredentialRequestInvalid(
            f"a {kind} credential may only pull, not {names}: use kind ci or service for {names}"
        )
    return actions


def credential_state(credential: Credential, now: datetime) -> str:
    """`revoked`, `expired`, `rotating` (a rotated-out secret still works) or `active`."""
    if credential.revoked_at is not None:
        return "revoked"
    if credential.expires_at <= now:
        return "expired"
    if any(s.valid_until is not None and s.valid_until > now for s in credential.secrets):
        return "rotating"
    return "active"


def rotating_until(credential: Credential, now: datetime) -> datetime | None:
    """Until when a rotated-out secret of `credential` still works, if one does."""
    ends = [s.valid_until for s in credential.secrets if s.valid_until is not None and s.valid_until > now]
    return max(ends) if ends else None


def home_registry(credential: Credential) -> str | None:
    """The registry a credential was created for (its first scope's, which names its login)."""
    return credential.scopes[0].registry if credential.scopes else None


def describe_scopes(scopes: Sequence[Scope]) -> str:
    """`acme-dev/web/*:pull,push acme-prod:pull` (for the audit log)."""
    return " ".join(
        f"{s.registry}{'/' + s.repositories if s.repositories else ''}:{','.join(sorted(s.actions))}" for s in scopes
    )


class Administration:
    """The management use cases; `authenticator` and `authorizer` are told what to forget when access changes."""

    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        authenticator: Authenticator,
        authorizer: Authorizer | None = None,
        default_lifetime: timedelta = lifecycle.DEFAULT_LIFETIME,
        maximum_lifetime: timedelta = MAXIMUM_LIFETIME,
    ) -> None:
        self._store = store
        self._clock = clock
        self._authenticator = authenticator
        self._authorizer = authorizer
        self._default_lifetime = default_lifetime
        self._maximum_lifetime = maximum_lifetime

    # accounts ------------------------------------------------------------------------------------------------
    async def create_account(self, actor: Actor, name: str, quota_bytes: int | None = None) -> Account:
        async with self._failures(actor, "account.create", name, account=name):
            await self._enforce(actor, rights.may_create_account(actor.member), "account.create", name, None)
            validate_registry_name(name)  # the same grammar: one lowercase word
            now = self._clock.now()
            account = Account(name=name, created_at=now)
            if quota_bytes is not None:
                account = Account(name=name, created_at=now, quota_bytes=quota_bytes)
            await self._store.create_account(account)
        await self._audit(actor, "account.create", name, account=name, detail={"quota_bytes": str(account.quota_bytes)})
        return account

    async def list_accounts(self, actor: Actor) -> list[Account]:
        """Every account for a server administrator; the member's own otherwise."""
        if rights.is_server_admin(actor.member):
            return await self._store.list_accounts()
        account = await self._store.get_account(actor.member.account)
        return [account] if account is not None else []

    # registries ----------------------------------------------------------------------------------------------
    async def create_registry(
        self, actor: Actor, name: str, environment: Environment, account: str | None = None, public: bool = False
    ) -> Registry:
        owner = account or actor.member.account
        async with self._failures(actor, "registry.create", name, account=owner, registry=name):
            refusal = rights.may_manage(actor.member, owner, "registries")
            await self._enforce(actor, refusal, "registry.create", name, owner, registry=name)
            validate_registry_name(name)
            await self._account(owner)
            registry = Registry(name=name, account=owner, environment=environment, public=public)
            await self._store.create_registry(registry, self._clock.now())
        self._forget_registry(name)
        await self._audit(
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
        await self._enforce(actor, rights.may_read(actor.member, account), "registry.list", account, account)
        return await self._store.list_registries(account)

    async def get_registry(self, actor: Actor, name: str) -> Registry:
        registry = await self._registry(name)
        refusal = rights.may_read(actor.member, registry.account)
        await self._enforce(actor, refusal, "registry.show", name, registry.account, registry=name)
        return registry

    async def delete_registry(self, actor: Actor, name: str) -> None:
        async with self._failures(actor, "registry.delete", name, account=None, registry=name):
            registry = await self._registry(name)
            refusal = rights.may_manage(actor.member, registry.account, "registries")
            await self._enforce(actor, refusal, "registry.delete", name, registry.account, registry=name)
            await self._store.delete_registry(name)
        self._forget_registry(name)
        await self._audit(actor, "registry.delete", name, account=registry.account, registry=name)

    # members -------------------------------------------------------------------------------------------------
    async def add_member(
        self, actor: Actor, username: str, role: Role, password: str, account: str | None = None
    ) -> Member:
        owner = account or actor.member.account
        async with self._failures(actor, "member.add", username, account=owner):
            await self._enforce(actor, rights.may_grant(actor.member, owner, role), "member.add", username, owner)
            validate_name(username, "username")
            await self._account(owner)
            check_password(password, username)
            password_hash = await asyncio.to_thread(hash_password, password)
            member = Member(username=username, account=owner, role=role)
            await self._store.add_member(member, password_hash, self._clock.now())
        await self._audit(actor, "member.add", username, account=owner, detail={"role": str(role)})
        return member

    async def list_members(self, actor: Actor, account: str | None = None) -> list[Member]:
        owner = account or actor.member.account
        await self._enforce(actor, rights.may_manage(actor.member, owner, "members"), "member.list", owner, owner)
        return await self._store.list_members(owner)

    async def remove_member(self, actor: Actor, username: str) -> None:
        async with self._failures(actor, "member.remove", username, account=None):
            target = await self._member(username)
            owners = [m for m in await self._store.list_members(target.account) if m.role is Role.OWNER]
            left = len([m for m in owners if m.username != username])
            refusal = rights.may_remove(actor.member, target, left)
            await self._enforce(actor, refusal, "member.remove", username, target.account)
            await self._store.remove_member(target.account, username)
        self._authenticator.forget(username)
        await self._audit(actor, "member.remove", username, account=target.account, detail={"role": str(target.role)})

    async def set_password(self, actor: Actor, username: str, password: str) -> None:
        async with self._failures(actor, "member.password", username, account=None):
            target = await self._member(username)
            refusal = rights.may_set_password(actor.member, target)
            await self._enforce(actor, refusal, "member.password", username, target.account)
            check_password(password, username)
            password_hash = await asyncio.to_thread(hash_password, password)
            await self._store.set_member_password(username, password_hash)
        self._authenticator.forget(username)
        await self._audit(actor, "member.password", username, account=target.account)

    # credentials ---------------------------------------------------------------------------------------------
    async def create_credential(self, actor: Actor, request: CredentialRequest) -> IssuedSecret:
        first = request.registries[0] if request.registries else ""
        target = f"{first}+{request.name}"
        async with self._failures(actor, "credential.create", target, account=None, registry=first or None):
            if not request.registries:
                raise CredentialRequestInvalid("a credential needs at least one registry: pass --registry NAME")
            owner = (await self._registry(first)).account
            refusal = rights.may_manage(actor.member, owner, "credentials")
            await self._enforce(actor, refusal, "credential.create", target, owner, registry=first)
            validate_name(request.name, "credential name")
            actions = scope_actions(request.kind, request.actions)
            glob = validate_glob(request.repositories) if request.repositories is not None else None
            names = list(dict.fromkeys(request.registries))  # in order, without repeats
            for name in names[1:]:
                registry = await self._registry(name)
                if registry.account != owner:
                    raise CredentialRequestInvalid(
                        f"registries {first!r} and {name!r} belong to different accounts ({owner!r},"
                        f" {registry.account!r}): a credential acts inside one account; create one per account"
                    )
            now = self._clock.now()
            secret = generate_secret()
            credential = Credential(
                username=target,
                name=request.name,
                account=owner,
                kind=request.kind,
                scopes=tuple(Scope(registry=name, actions=actions, repositories=glob) for name in names),
                expires_at=lifecycle.expiry(now, request.expires_in, self._default_lifetime, self._maximum_lifetime),
                created_at=now,
                created_by=actor.member.username,
                secrets=(SecretHash(secret_sha256(secret)),),
            )
            await self._store.create_credential(credential)
        detail = {
            "kind": str(request.kind),
            "scopes": describe_scopes(credential.scopes),
            "expires_at": credential.expires_at.isoformat(),
        }
        await self._audit(
            actor, "credential.create", target, account=owner, registry=first, credential=target, detail=detail
        )
        return IssuedSecret(credential, secret)

    async def list_credentials(self, actor: Actor, account: str | None = None) -> list[Credential]:
        owner = account or actor.member.account
        refusal = rights.may_manage(actor.member, owner, "credentials")
        await self._enforce(actor, refusal, "credential.list", owner, owner)
        return await self._store.list_credentials(owner)

    async def get_credential(self, actor: Actor, username: str) -> Credential:
        credential = await self._credential(username)
        refusal = rights.may_manage(actor.member, credential.account, "credentials")
        await self._enforce(actor, refusal, "credential.show", username, credential.account, credential=username)
        return credential

    async def rotate_credential(
        self,
        actor: Actor,
        username: str,
        grace: timedelta = lifecycle.DEFAULT_GRACE,
        expires_in: timedelta | None = None,
    ) -> IssuedSecret:
        """A new secret; the old one keeps working for `grace`. An expired credential is renewed."""
        async with self._failures(actor, "credential.rotate", username, account=None, credential=username):
            credential = await self._changeable(actor, username, "credential.rotate")
            if grace > self._maximum_lifetime:
                raise CredentialRequestInvalid(
                    f"a grace window cannot outlast the longest credential lifetime ({self._maximum_lifetime.days}d):"
                    " use 24h, or 0 to end the old secret at once"
                )
            secret = generate_secret()
            renewal = self._renewal(credential, expires_in)
            rotated = lifecycle.rotate(credential, secret_sha256(secret), self._clock.now(), grace, renewal)
            await self._store.save_credential(rotated)
        self._authenticator.forget(username)
        detail = {"grace": f"{int(grace.total_seconds())}s", "expires_at": rotated.expires_at.isoformat()}
        await self._audit(
            actor, "credential.rotate", username, account=credential.account, registry=home_registry(credential),
            credential=username, detail=detail,
        )  # fmt: skip
        return IssuedSecret(rotated, secret)

    async def reset_credential(self, actor: Actor, username: str, expires_in: timedelta | None = None) -> IssuedSecret:
        """A new secret; every old one stops working at once."""
        async with self._failures(actor, "credential.reset", username, account=None, credential=username):
            credential = await self._changeable(actor, username, "credential.reset")
            secret = generate_secret()
            reset = lifecycle.reset(credential, secret_sha256(secret), self._renewal(credential, expires_in))
            await self._store.save_credential(reset)
        self._authenticator.forget(username)
        detail = {"expires_at": reset.expires_at.isoformat()}
        await self._audit(
            actor, "credential.reset", username, account=credential.account, registry=home_registry(credential),
            credential=username, detail=detail,
        )  # fmt: skip
        return IssuedSecret(reset, secret)

    async def revoke_credential(self, actor: Actor, username: str) -> Credential:
        async with self._failures(actor, "credential.revoke", username, account=None, credential=username):
            credential = await self._changeable(actor, username, "credential.revoke", live=False)
            revoked = lifecycle.revoke(credential, self._clock.now())
            await self._store.save_credential(revoked)
        self._authenticator.forget(username)
        await self._audit(
            actor, "credential.revoke", username, account=credential.account, registry=home_registry(credential),
            credential=username,
        )  # fmt: skip
        return revoked

    # audit log -----------------------------------------------------------------------------------------------
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
            await self._enforce(actor, refusal, "audit.read", registry or account, account)
        start = self._clock.now() - since if since is not None else None
        return await self._store.audit_events(account, registry, start, max(1, min(limit, MAX_AUDIT_EVENTS)))

    # Kubernetes ----------------------------------------------------------------------------------------------
    async def pull_secret(self, actor: Actor, request: PullSecretRequest) -> IssuedPullSecret:
        """YAML for a pull secret of `request.registry`: with a new pull-only credential, or the given one."""
        target = request.registry
        async with self._failures(actor, "pull_secret.create", target, account=None, registry=target):
            return await self._pull_secret(actor, request)

    async def _pull_secret(self, actor: Actor, request: PullSecretRequest) -> IssuedPullSecret:
        registry = await self._registry(request.registry)
        refusal = rights.may_manage(actor.member, registry.account, "credentials")
        await self._enforce(actor, refusal, "pull_secret.create", request.registry, registry.account)
        namespace = pull_secrets.validate_namespace(request.namespace)
        secret_name = pull_secrets.validate_object_name(
            request.secret_name or pull_secrets.default_secret_name(registry.name), "Secret"
        )
        service_account = pull_secrets.validate_object_name(request.service_account, "ServiceAccount")
        if request.credential is not None:
            username, secret = request.credential, await self._reusable(request, registry)
            created = False
        else:
            name = pull_secrets.credential_name(namespace)
            wanted = f"{registry.name}+{name}"
            if await self._store.get_credential(wanted) is not None:
                raise Conflict(
                    f"credential {wanted} already exists for namespace {namespace!r}: reuse it with"
                    f" `--credential {wanted}` and its secret on standard input (`shipshape credential reset {wanted}`"
                    " gives it a new one if it is lost)"
                )
            issued = await self.create_credential(
                actor,
                CredentialRequest(
                    name=name, registries=[registry.name], kind=CredentialKind.PULL,
                    actions=frozenset({Action.PULL}),
                ),
            )  # fmt: skip
            username, secret, created = issued.credential.username, issued.secret, True
        document = pull_secrets.manifests(
            pull_secrets.PullSecret(namespace, secret_name, service_account, request.server, username, secret)
        )
        await self._audit(
            actor, "pull_secret.create", f"{namespace}/{secret_name}", account=registry.account,
            registry=registry.name, credential=username,
            detail={"server": request.server, "service_account": service_account},
        )  # fmt: skip
        return IssuedPullSecret(document, username, secret_name, created)

    async def _reusable(self, request: PullSecretRequest, registry: Registry) -> str:
        """The secret the caller gave for the credential to reuse, once it proves right and pull-only."""
        username = request.credential or ""
        credential = await self._credential(username)
        if credential.account != registry.account:
            raise CredentialRequestInvalid(
                f"credential {username} belongs to account {credential.account!r}, registry {registry.name!r} to"
                f" {registry.account!r}: use a credential of the registry's account"
            )
        if request.secret is None or not is_well_formed(request.secret):
            raise CredentialRequestInvalid(
                f"reusing credential {username} needs its secret (shps_…): pass it on standard input;"
                " or leave out --credential to create a new pull-only credential"
            )
        try:
            lifecycle.verify(credential, secret_sha256(request.secret), self._clock.now())
        except Unauthorized as error:
            raise CredentialRequestInvalid(
                f"the secret given does not log in as {username} ({error.message}): give its current secret,"
                f" or reset it with `shipshape credential reset {username}`"
            ) from None
        granted = {action for scope in credential.scopes if scope.registry == registry.name for action in scope.actions}
        if granted != {Action.PULL}:
            raise CredentialRequestInvalid(
                f"credential {username} is not pull-only on {registry.name!r}: a cluster should only pull;"
                " leave out --credential to create a pull-only credential"
            )
        return request.secret

    # helpers -------------------------------------------------------------------------------------------------
    async def _changeable(self, actor: Actor, username: str, action: str, live: bool = True) -> Credential:
        """The credential `actor` may change; with `live`, refused if revoked (a new secret cannot revive it)."""
        credential = await self._credential(username)
        refusal = rights.may_manage(actor.member, credential.account, "credentials")
        registry = home_registry(credential)
        await self._enforce(actor, refusal, action, username, credential.account, registry, credential=username)
        if live and credential.revoked_at is not None:
            raise Conflict(
                f"credential {username} was revoked at {credential.revoked_at.isoformat()} and revocation is final:"
                f" create a new credential with `shipshape credential create`"
            )
        return credential

    def _renewal(self, credential: Credential, expires_in: timedelta | None) -> datetime | None:
        """A new expiry when one is asked for, or when the credential has expired (so that rotating revives it)."""
        now = self._clock.now()
        if expires_in is None and credential.expires_at > now:
            return None
        return lifecycle.expiry(now, expires_in, self._default_lifetime, self._maximum_lifetime)

    async def _account(self, name: str) -> Account:
        account = await self._store.get_account(name)
        if account is None:
            raise NameUnknown(f"account {name!r} does not exist: see `shipshape account list`")
        return account

    async def _registry(self, name: str) -> Registry:
        registry = await self._store.get_registry(name)
        if registry is None:
            raise NameUnknown(f"registry {name!r} does not exist: see `shipshape registry list`")
        return registry

    async def _member(self, username: str) -> Member:
        found = await self._store.get_member(username)
        if found is None:
            raise NameUnknown(f"member {username!r} does not exist: see `shipshape member list`")
        return found[0]

    async def _credential(self, username: str) -> Credential:
        credential = await self._store.get_credential(username)
        if credential is None:
            raise NameUnknown(f"credential {username!r} does not exist: see `shipshape credential list`")
        return credential

    def _forget_registry(self, name: str) -> None:
        if self._authorizer is not None:
            self._authorizer.forget(name)

    @asynccontextmanager
    async def _failures(
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
            await self._audit(
                actor, action, target, account=account, registry=registry, credential=credential,
                result="failure", detail={"error": type(error).__name__},
            )  # fmt: skip
            raise

    async def _enforce(
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
        await self._audit(
            actor, action, target, account=account, registry=registry, credential=credential,
            result="denied", detail={"rule": refusal.rule},
        )  # fmt: skip
        raise Denied(refusal.message, detail={"rule": refusal.rule})

    async def _audit(
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
