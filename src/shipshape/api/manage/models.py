"""The management API's request and response bodies; their JSON Schemas make up the OpenAPI document.

Requests are strict (`extra="forbid"`, no type coercion), so a misspelt field or a number sent as a string is
refused with a message instead of being ignored or guessed at.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from shipshape.domain.access import (
    MAX_REGISTRY_NAME,
    Account,
    Action,
    AuditEvent,
    Credential,
    CredentialKind,
    Environment,
    Member,
    Registry,
    Role,
    validate_registry_name,
)
from shipshape.domain.durations import parse_duration
from shipshape.domain.errors import CredentialRequestInvalid, NameInvalid
from shipshape.domain.policies import MAX_PATTERNS, ManifestCreators, RegistryPolicy, TagMutability
from shipshape.domain.sizes import SIZE_PATTERN, parse_size
from shipshape.services import pull_secrets
from shipshape.services.administration import (
    GLOB_PATTERN,
    MAX_AUDIT_EVENTS,
    MAX_GLOB,
    MAX_NAME,
    NAME_PATTERN,
    CredentialRequest,
    credential_state,
    rotating_until,
    validate_glob,
    validate_name,
)
from shipshape.services.rights import is_server_admin

DURATION_PATTERN = r"^(0|[0-9]{1,9}[smhdw])$"  # a number needs its unit; only zero stands alone
_DURATION_SHAPE = r"^[0-9]{1,9}[smhdw]?$"  # what is parsed, so that a missing unit gets its own message
REGISTRY_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*$"


def _matching(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is not None


MAX_DURATION = timedelta(days=36500)


def _duration(value: Any) -> timedelta:
    if not isinstance(value, str) or not _matching(_DURATION_SHAPE, value):
        raise ValueError("use a duration such as 90s, 30m, 24h, 7d or 2w")
    try:
        duration = parse_duration(value)
    except OverflowError:
        duration = MAX_DURATION + timedelta(days=1)
    if duration > MAX_DURATION:
        raise ValueError(f"duration {value!r} is too long: at most {MAX_DURATION.days}d")
    return duration


def _size(value: Any) -> int:
    if not isinstance(value, str) or not _matching(SIZE_PATTERN, value):
        raise ValueError("use a size such as 500MiB, 10GiB or 1TB")
    return parse_size(value)


def _domain_check(check: Any, *args: str) -> Any:
    """A pydantic validator from a domain validator: its message, as a `ValueError`."""

    def validate(value: str) -> str:
        try:
            check(value, *args)
        except (NameInvalid, CredentialRequestInvalid) as error:
            raise ValueError(error.message) from None
        return value

    return validate


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["24h", "30d"]}),
]
Size = Annotated[
    int,
    BeforeValidator(_size),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN, "examples": ["10GiB"]}),
]
RegistryName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REGISTRY_NAME,
        json_schema_extra={"pattern": REGISTRY_PATTERN},
        examples=["acme-prod"],
    ),
    AfterValidator(_domain_check(validate_registry_name)),
]
Username = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME, json_schema_extra={"pattern": NAME_PATTERN}, examples=["alice"]),
    AfterValidator(_domain_check(validate_name, "username")),
]
CredentialName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME, json_schema_extra={"pattern": NAME_PATTERN}, examples=["ci"]),
    AfterValidator(_domain_check(validate_name, "credential name")),
]
RepositoryGlob = Annotated[
    str,
    Field(min_length=1, max_length=MAX_GLOB, json_schema_extra={"pattern": GLOB_PATTERN}, examples=["web/*"]),
    AfterValidator(_domain_check(validate_glob)),
]
Namespace = Annotated[
    str,
    Field(min_length=1, max_length=63, json_schema_extra={"pattern": pull_secrets.DNS_LABEL_PATTERN}),
    AfterValidator(_domain_check(pull_secrets.validate_namespace)),
]
SecretName = Annotated[
    str,
    Field(min_length=1, max_length=253, json_schema_extra={"pattern": pull_secrets.DNS_SUBDOMAIN_PATTERN}),
    AfterValidator(_domain_check(pull_secrets.validate_object_name, "Secret")),
]
ServiceAccountName = Annotated[
    str,
    Field(min_length=1, max_length=253, json_schema_extra={"pattern": pull_secrets.DNS_SUBDOMAIN_PATTERN}),
    AfterValidator(_domain_check(pull_secrets.validate_object_name, "ServiceAccount")),
]
Password = Annotated[str, Field(min_length=1, max_length=1024, json_schema_extra={"format": "password"})]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query parameters: strings on the wire, so numbers are parsed; unknown parameters are still refused."""

    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    pass


# errors ------------------------------------------------------------------------------------------------------
class ErrorDetail(Response):
    code: str = Field(examples=["DENIED"])
    message: str = Field(description="What went wrong and what to do about it")
    rule: str | None = Field(default=None, description="For a policy's refusal: the policy field that refused")


class ErrorBody(Response):
    error: ErrorDetail


# who am I ----------------------------------------------------------------------------------------------------
class Me(Response):
    username: str
    account: str
    role: Role
    server_admin: bool

    @classmethod
    def of(cls, member: Member) -> Me:
        return cls(
            username=member.username, account=member.account, role=member.role, server_admin=is_server_admin(member)
        )


# accounts ----------------------------------------------------------------------------------------------------
class AccountCreate(RequestBody):
    name: RegistryName
    quota: Size | None = Field(default=None, description="Storage quota such as 10GiB (default 10GiB)")
    credential_lifetime: Duration | None = Field(
        default=None, description="Lifetime of credentials that ask for none, e.g. 30d (default 90d)"
    )
    credential_max_lifetime: Duration | None = Field(
        default=None, description="The longest lifetime a credential may have, e.g. 180d (default 365d)"
    )


class AccountOut(Response):
    name: str
    created_at: datetime
    quota_bytes: int
    credential_lifetime_seconds: int
    credential_max_lifetime_seconds: int

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            name=account.name,
            created_at=account.created_at,
            quota_bytes=account.quota_bytes,
            credential_lifetime_seconds=int(account.credential_lifetime.total_seconds()),
            credential_max_lifetime_seconds=int(account.credential_max_lifetime.total_seconds()),
        )


class AccountList(Response):
    accounts: list[AccountOut]


# registries --------------------------------------------------------------------------------------------------
class RegistryCreate(RequestBody):
    name: RegistryName
    environment: Environment
    account: RegistryName | None = Field(default=None, description="Default: the caller's account")
    public: bool = Field(default=False, description="Anyone may pull without logging in")


PolicyList = Annotated[list[str], Field(max_length=MAX_PATTERNS)]


class PolicyOut(Response):
    """A registry's rules; see `shipshape.domain.policies`."""

    tag_mutability: TagMutability = Field(description="immutable: a tag never moves to another image, never deleted")
    mutable_tags: list[str] = Field(description="Glob patterns of tags that stay mutable, e.g. dev-*")
    denied_tags: list[str] = Field(description="Glob patterns of tags that may not be pushed, e.g. latest")
    allowed_tags: list[str] = Field(
        description="Tags must match one: semver, date, commit, or regex:<expression>; empty: any tag"
    )
    manifest_creators: ManifestCreators = Field(description="Who may push manifests: any, ci, ci-or-promotion")
    promotion_sources: list[str] = Field(
        description="Registries that may promote into this one: names, or env:<environment> for the account's"
    )
    require_signature: bool = Field(description="A tag may point only at an image with a signature referrer")
    max_image_size: int | None = Field(
        default=None, description="Largest image in bytes (config, layers and manifest together); null: no limit"
    )

    @classmethod
    def of(cls, policy: RegistryPolicy) -> PolicyOut:
        return cls.model_validate(policy.document())


class PolicyChange(RequestBody):
    """The policy fields to change; the others keep their values."""

    tag_mutability: TagMutability | None = None
    mutable_tags: PolicyList | None = None
    denied_tags: PolicyList | None = None
    allowed_tags: PolicyList | None = None
    manifest_creators: ManifestCreators | None = None
    promotion_sources: PolicyList | None = None
    require_signature: bool | None = None
    max_image_size: Size | None = Field(default=None, description="Largest image, e.g. 2GiB; 0 turns the limit off")


class QuotaSet(RequestBody):
    quota: Size = Field(description="The account's storage quota, such as 500MiB, 10GiB, 2GB or plain bytes")


class RegistryOut(Response):
    name: str
    account: str
    environment: Environment
    public: bool
    policy: PolicyOut

    @classmethod
    def of(cls, registry: Registry) -> RegistryOut:
        return cls(
            name=registry.name,
            account=registry.account,
            environment=registry.environment,
            public=registry.public,
            policy=PolicyOut.of(registry.rules),
        )


class RegistryList(Response):
    registries: list[RegistryOut]


class AccountQuery(Query):
    account: RegistryName | None = Field(default=None, description="Default: the caller's account")


# members -----------------------------------------------------------------------------------------------------
class MemberCreate(RequestBody):
    username: Username
    role: Role
    password: Password = Field(description="At least 12 characters, not a common password, not the username")
    account: RegistryName | None = Field(default=None, description="Default: the caller's account")


class PasswordChange(RequestBody):
    password: Password


class MemberOut(Response):
    username: str
    account: str
    role: Role

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(username=member.username, account=member.account, role=member.role)


class MemberList(Response):
    members: list[MemberOut]


# credentials -------------------------------------------------------------------------------------------------
class CredentialCreate(RequestBody):
    name: CredentialName
    registries: list[RegistryName] = Field(min_length=1, max_length=100, description="The first names the login")
    kind: CredentialKind
    actions: list[Action] | None = Field(
        default=None, min_length=1, description="Default: pull and push for ci, pull for pull and service"
    )
    repositories: RepositoryGlob | None = Field(default=None, description="Default: every repository")
    expires_in: Duration | None = Field(default=None, description="Default 90d, at most 365d")

    def request(self) -> CredentialRequest:
        """What the credentials service takes (the API and the console both send it)."""
        return CredentialRequest(
            name=self.name,
            registries=self.registries,
            kind=self.kind,
            actions=frozenset(self.actions) if self.actions is not None else None,
            repositories=self.repositories,
            expires_in=self.expires_in,
        )


class RotateRequest(RequestBody):
    grace: Duration = Field(
        default=timedelta(hours=24),
        description="How long the old secret keeps working (0: not at all)",
        json_schema_extra={"default": "24h"},
    )
    expires_in: Duration | None = Field(default=None, description="Renew the credential for this long")


class ResetRequest(RequestBody):
    expires_in: Duration | None = Field(default=None, description="Renew the credential for this long")


class ScopeOut(Response):
    registry: str
    repositories: str | None
    actions: list[Action]


class CredentialOut(Response):
    """A credential as listed: never its secret nor any hash of it."""

    username: str
    name: str
    account: str
    kind: CredentialKind
    scopes: list[ScopeOut]
    state: str = Field(description="active, rotating (an old secret still works), expired or revoked")
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    rotating_until: datetime | None = Field(description="Until when a rotated-out secret still works")
    age_seconds: int

    @classmethod
    def of(cls, credential: Credential, now: datetime) -> CredentialOut:
        return cls(
            username=credential.username,
            name=credential.name,
            account=credential.account,
            kind=credential.kind,
            scopes=[
                ScopeOut(registry=s.registry, repositories=s.repositories, actions=sorted(s.actions))
                for s in credential.scopes
            ],
            state=credential_state(credential, now),
            created_at=credential.created_at,
            created_by=credential.created_by,
            expires_at=credential.expires_at,
            last_used_at=credential.last_used_at,
            revoked_at=credential.revoked_at,
            rotating_until=rotating_until(credential, now),
            age_seconds=max(0, int((now - credential.created_at).total_seconds())),
        )


class CredentialList(Response):
    credentials: list[CredentialOut]


class IssuedSecretOut(Response):
    """Shown once: the secret is stored only as a hash and cannot be read again."""

    username: str
    secret: str
    expires_at: datetime
    credential: CredentialOut


# audit -------------------------------------------------------------------------------------------------------
class AuditQuery(Query):
    registry: RegistryName | None = None
    account: RegistryName | None = Field(default=None, description="Default: the caller's account")
    since: Duration | None = Field(default=None, description="Only events this recent, e.g. 1h")
    limit: int = Field(default=100, ge=1, le=MAX_AUDIT_EVENTS)


class AuditEventOut(Response):
    time: datetime
    account: str | None
    actor: str
    action: str
    target: str
    result: str
    remote: str | None
    credential: str | None
    registry: str | None
    detail: dict[str, str]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            time=event.time, account=event.account, actor=event.actor, action=event.action, target=event.target,
            result=event.result, remote=event.remote, credential=event.credential, registry=event.registry,
            detail=dict(event.detail),
        )  # fmt: skip


class AuditList(Response):
    events: list[AuditEventOut]


# Kubernetes --------------------------------------------------------------------------------------------------
class PullSecretCreate(RequestBody):
    registry: RegistryName
    namespace: Namespace
    secret_name: SecretName | None = Field(default=None, description="Default: <registry>-pull")
    service_account: ServiceAccountName = "default"
    credential: str | None = Field(
        default=None, max_length=200, description="Reuse this pull-only credential instead of creating one"
    )
    secret: str | None = Field(default=None, max_length=200, description="The secret of `credential`")


class PullSecretOut(Response):
    yaml: str = Field(description="The Secret and the ServiceAccount, ready for `kubectl apply -f -`")
    username: str
    secret_name: str
    server: str
    created: bool = Field(description="Whether a new pull-only credential was created")
