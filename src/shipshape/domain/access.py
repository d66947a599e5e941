"""Who may do what: accounts, environment registries, members with roles, scoped machine credentials.

A repository path's first component names its registry (`acme-prod/web/api` is repository `web/api` in registry
`acme-prod`). Members act inside their account by role; credentials act only inside their scopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase

from shipshape.domain.names import MAX_REGISTRY_NAME as MAX_REGISTRY_NAME
from shipshape.domain.names import validate_registry_name as validate_registry_name
from shipshape.domain.policies import Environment as Environment
from shipshape.domain.policies import RegistryPolicy, preset


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"


class CredentialKind(StrEnum):
    CI = "ci"
    PULL = "pull"
    SERVICE = "service"


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


ALL_ACTIONS = frozenset(Action)
# What each member role may do to the images of its own account's registries (Harbor's and ECR's usual split).
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: ALL_ACTIONS,
    Role.ADMIN: ALL_ACTIONS,
    Role.DEVELOPER: frozenset({Action.PULL, Action.PUSH}),
    Role.VIEWER: frozenset({Action.PULL}),
}


def split_repository(path: str) -> tuple[str, str]:
    """`acme-prod/web/api` → (`acme-prod`, `web/api`). A path with no `/` is a registry's own root repository."""
    registry, _, repository = path.partition("/")
    return registry, repository


DEFAULT_QUOTA_BYTES = 10 * 1024**3
DEFAULT_CREDENTIAL_LIFETIME = timedelta(days=90)
MAX_CREDENTIAL_LIFETIME = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Account:
    """A tenant: owns registries, members and credentials, a storage quota, and its credentials' lifetimes."""

    name: str
    created_at: datetime
    quota_bytes: int = DEFAULT_QUOTA_BYTES
    credential_lifetime: timedelta = DEFAULT_CREDENTIAL_LIFETIME  # when a credential asks for none
    credential_max_lifetime: timedelta = MAX_CREDENTIAL_LIFETIME  # the longest a credential may ask for


@dataclass(frozen=True, slots=True)
class Registry:
    name: str
    account: str
    environment: Environment
    public: bool = False
    policy: RegistryPolicy | None = None  # None: the environment's preset

    @property
    def rules(self) -> RegistryPolicy:
        """The policy in force: the registry's own, or its environment's preset."""
        return self.policy or preset(self.environment)

    @property
    def label(self) -> str:
        """How refusals name it: `production registry acme-prod`."""
        return f"{self.environment.value} registry {self.name}"


@dataclass(frozen=True, slots=True)
class Scope:
    """Actions on the repositories of one registry, optionally narrowed by a glob such as `web/*`."""

    registry: str
    actions: frozenset[Action]
    repositories: str | None = None

    def covers(self, registry: str, repository: str) -> bool:
        if registry != self.registry:
            return False
        return self.repositories is None or fnmatchcase(repository, self.repositories)


@dataclass(frozen=True, slots=True)
class Anonymous:
    """A caller that sent no credentials."""


@dataclass(frozen=True, slots=True)
class Member:
    """A human user of one account, authenticated by password.

    `password_id` tells the member's passwords apart (a prefix of the SHA-256 of the stored hash, which changes
    with every new password), so that a token issued before a password change can be refused; None where the
    member was read without it."""

    username: str
    account: str
    role: Role
    password_id: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SecretHash:
    """The SHA-256 of one secret of a credential; a rotated-out secret stays valid until `valid_until`."""

    sha256: str = field(repr=False)
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """A machine identity: one per team or pipeline, so every action is attributable to it."""

    username: str  # the login name, `<registry>+<name>` for a credential created for one registry
    name: str
    account: str
    kind: CredentialKind
    scopes: tuple[Scope, ...]
    expires_at: datetime
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    secrets: tuple[SecretHash, ...] = ()
    rotated_at: datetime | None = None  # when a rotation or reset issued the current secret; None: never

    @property
    def secret_issued_at(self) -> datetime:
        """When the current secret was issued: at the last rotation or reset, else at creation."""
        return self.rotated_at or self.created_at


Principal = Anonymous | Member | Credential


def allowed_actions(principal: Principal, registry: Registry, repository: str) -> frozenset[Action]:
    """The actions `principal` may take on `repository` of `registry`."""
    public = frozenset({Action.PULL}) if registry.public else frozenset()
    if isinstance(principal, Member):
        if principal.account != registry.account:
            return public
        return ROLE_ACTIONS[principal.role] | public
    if isinstance(principal, Credential):
        if principal.account != registry.account:
            return public
        granted: set[Action] = set(public)
        for scope in principal.scopes:
            if scope.covers(registry.name, repository):
                granted |= scope.actions
        return frozenset(granted)
    return public


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the audit trail: who (and with which credential) did what to what, when, from where."""

    time: datetime
    account: str | None
    actor: str  # a member's username, a credential's username, or "anonymous"
    action: str  # e.g. "login", "credential.rotate", "registry.create", "manifest.push"
    target: str  # what was acted on, e.g. "acme-prod/web/api:v1.2.3"
    result: str  # "success", "failure", "denied", "locked"
    remote: str | None = None
    credential: str | None = None  # the credential's username when a machine acted
    registry: str | None = None
    detail: dict[str, str] = field(default_factory=dict)  # never a secret
