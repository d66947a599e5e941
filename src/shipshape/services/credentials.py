"""Machine credentials: creating them with scopes, then rotating, resetting and revoking their secrets.

Secrets are generated here, returned once to the caller and stored only as SHA-256.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipshape.domain import credentials as lifecycle
from shipshape.domain.access import (
    DEFAULT_CREDENTIAL_LIFETIME,
    MAX_CREDENTIAL_LIFETIME,
    Action,
    Credential,
    CredentialKind,
    Member,
    Scope,
    SecretHash,
)
from shipshape.domain.errors import Conflict, CredentialRequestInvalid, NameUnknown
from shipshape.domain.secrets import generate_secret, secret_sha256
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.authentication import Authenticator
from shipshape.services.members import validate_name
from shipshape.services.registries import known_registry

MAXIMUM_LIFETIME = MAX_CREDENTIAL_LIFETIME  # unless the account sets its own

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


async def known_credential(store: AccessStore, username: str, seen_by: Member | None = None) -> Credential:
    """The credential that logs in as `username`; `NameUnknown` if there is none, or if it is another account's
    than that of member `seen_by` (the same answer, so that nobody learns what other accounts hold)."""
    credential = await store.get_credential(username)
    if credential is None or not rights.may_see(seen_by, credential.account):
        raise NameUnknown(f"credential {username!r} does not exist: see `shipshape credential list`")
    return credential


class Credentials:
    """The credential use cases; `authenticator` is told to forget a credential whose secrets change."""

    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        audit: AuditLog,
        authenticator: Authenticator,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._authenticator = authenticator

    async def create_credential(self, actor: Actor, request: CredentialRequest) -> IssuedSecret:
        first = request.registries[0] if request.registries else ""
        target = f"{first}+{request.name}"
        async with self._audit.failures(actor, "credential.create", target, account=None, registry=first or None):
            if not request.registries:
                raise CredentialRequestInvalid("a credential needs at least one registry: pass --registry NAME")
            owner = (await known_registry(self._store, first, actor.member)).account
            refusal = rights.may_manage(actor.member, owner, "credentials")
            await self._audit.enforce(actor, refusal, "credential.create", target, owner, registry=first)
            validate_name(request.name, "credential name")
            actions = scope_actions(request.kind, request.actions)
            glob = validate_glob(request.repositories) if request.repositories is not None else None
            names = list(dict.fromkeys(request.registries))  # in order, without repeats
            await self._check_one_account(owner, first, names[1:], actor.member)
            now = self._clock.now()
            secret = generate_secret()
            credential = Credential(
                username=target,
                name=request.name,
                account=owner,
                kind=request.kind,
                scopes=tuple(Scope(registry=name, actions=actions, repositories=glob) for name in names),
                expires_at=lifecycle.expiry(now, request.expires_in, *await self._lifetimes(owner)),
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
        await self._audit.record(
            actor, "credential.create", target, account=owner, registry=first, credential=target, detail=detail
        )
        return IssuedSecret(credential, secret)

    async def list_credentials(self, actor: Actor, account: str | None = None) -> list[Credential]:
        owner = account or actor.member.account
        refusal = rights.may_manage(actor.member, owner, "credentials")
        await self._audit.enforce(actor, refusal, "credential.list", owner, owner)
        return await self._store.list_credentials(owner)

    async def get_credential(self, actor: Actor, username: str) -> Credential:
        credential = await known_credential(self._store, username, actor.member)
        refusal = rights.may_manage(actor.member, credential.account, "credentials")
        await self._audit.enforce(actor, refusal, "credential.show", username, credential.account, credential=username)
        return credential

    async def rotate_credential(
        self,
        actor: Actor,
        username: str,
        grace: timedelta = lifecycle.DEFAULT_GRACE,
        expires_in: timedelta | None = None,
    ) -> IssuedSecret:
        """A new secret; the old one keeps working for `grace`. An expired credential is renewed."""
        async with self._audit.failures(actor, "credential.rotate", username, account=None, credential=username):
            credential = await self._changeable(actor, username, "credential.rotate")
            _, maximum = await self._lifetimes(credential.account)
            if grace > maximum:
                raise CredentialRequestInvalid(
                    f"a grace window cannot outlast the longest credential lifetime ({maximum.days}d):"
                    " use 24h, or 0 to end the old secret at once"
                )
            secret = generate_secret()
            renewal = await self._renewal(credential, expires_in)
            rotated = lifecycle.rotate(credential, secret_sha256(secret), self._clock.now(), grace, renewal)
            await self._store.save_credential(rotated)
        self._authenticator.forget(username)
        detail = {"grace": f"{int(grace.total_seconds())}s", "expires_at": rotated.expires_at.isoformat()}
        await self._audit.record(
            actor, "credential.rotate", username, account=credential.account, registry=home_registry(credential),
            credential=username, detail=detail,
        )  # fmt: skip
        return IssuedSecret(rotated, secret)

    async def reset_credential(self, actor: Actor, username: str, expires_in: timedelta | None = None) -> IssuedSecret:
        """A new secret; every old one stops working at once."""
        async with self._audit.failures(actor, "credential.reset", username, account=None, credential=username):
            credential = await self._changeable(actor, username, "credential.reset")
            secret = generate_secret()
            renewal = await self._renewal(credential, expires_in)
            reset = lifecycle.reset(credential, secret_sha256(secret), renewal, now=self._clock.now())
            await self._store.save_credential(reset)
        self._authenticator.forget(username)
        detail = {"expires_at": reset.expires_at.isoformat()}
        await self._audit.record(
            actor, "credential.reset", username, account=credential.account, registry=home_registry(credential),
            credential=username, detail=detail,
        )  # fmt: skip
        return IssuedSecret(reset, secret)

    async def revoke_credential(self, actor: Actor, username: str) -> Credential:
        async with self._audit.failures(actor, "credential.revoke", username, account=None, credential=username):
            credential = await self._changeable(actor, username, "credential.revoke", live=False)
            revoked = lifecycle.revoke(credential, self._clock.now())
            await self._store.save_credential(revoked)
        self._authenticator.forget(username)
        await self._audit.record(
            actor, "credential.revoke", username, account=credential.account, registry=home_registry(credential),
            credential=username,
        )  # fmt: skip
        return revoked

    async def _check_one_account(self, owner: str, first: str, others: Sequence[str], member: Member) -> None:
        """Refuse registries (`others`, besides `first`) outside the `owner` account: a credential acts in one.
        Registries `member` may not know of are answered as missing."""
        for name in others:
            registry = await known_registry(self._store, name, member)
            if registry.account != owner:
                raise CredentialRequestInvalid(
                    f"registries {first!r} and {name!r} belong to different accounts ({owner!r},"
                    f" {registry.account!r}): a credential acts inside one account; create one per account"
                )

    async def _changeable(self, actor: Actor, username: str, action: str, live: bool = True) -> Credential:
        """The credential `actor` may change; with `live`, refused if revoked (a new secret cannot revive it)."""
        credential = await known_credential(self._store, username, actor.member)
        refusal = rights.may_manage(actor.member, credential.account, "credentials")
        registry = home_registry(credential)
        await self._audit.enforce(actor, refusal, action, username, credential.account, registry, credential=username)
        if live and credential.revoked_at is not None:
            raise Conflict(
                f"credential {username} was revoked at {credential.revoked_at.isoformat()} and revocation is final:"
                f" create a new credential with `shipshape credential create`"
            )
        return credential

    async def _renewal(self, credential: Credential, expires_in: timedelta | None) -> datetime | None:
        """A new expiry when one is asked for, or when the credential has expired (so that rotating revives it)."""
        now = self._clock.now()
        if expires_in is None and credential.expires_at > now:
            return None
        return lifecycle.expiry(now, expires_in, *await self._lifetimes(credential.account))

    async def _lifetimes(self, account: str) -> tuple[timedelta, timedelta]:
        """The account's default and maximum credential lifetimes."""
        found = await self._store.get_account(account)
        if found is None:
            return DEFAULT_CREDENTIAL_LIFETIME, MAX_CREDENTIAL_LIFETIME
        return found.credential_lifetime, found.credential_max_lifetime
