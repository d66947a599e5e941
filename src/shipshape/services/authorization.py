"""What a caller may do to a repository: the registry's owner, visibility and the caller's role or scopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shipshape.domain.access import (
    Action,
    Anonymous,
    Credential,
    Member,
    Principal,
    Registry,
    Role,
    allowed_actions,
    split_repository,
)
from shipshape.domain.errors import Denied, NameUnknown, Unauthorized
from shipshape.ports import AccessStore, Clock, Epoch


@dataclass(slots=True)
class _CachedRegistry:
    registry: Registry | None
    until: datetime


class Authorizer:
    """Answers "may this principal do that here?", and which registry (with its policy) a name is.

    Registries are cached in the process while the settings epoch stands: every change of a registry or its
    policy advances it (`forget`), which the processes of this machine see at their next lookup and those of
    other machines within a second (see `services.epochs`). Entries last `cache_ttl` at most (60 s; 5 s
    without an epoch).
    """

    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        settings: Epoch | None = None,
        cache_ttl: timedelta | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._ttl = cache_ttl or (timedelta(seconds=60) if settings is not None else timedelta(seconds=5))
        self._registries: dict[str, _CachedRegistry] = {}
        self._seen = settings.current() if settings is not None else 0

    async def registry(self, name: str) -> Registry | None:
        now = self._clock.now()
        seen = self._settings.current() if self._settings is not None else 0
        if seen != self._seen:
            self._registries.clear()
        cached = self._registries.get(name)
        if cached is not None and cached.until > now:
            return cached.registry
        registry = await self._store.get_registry(name)
        # A missing registry is not remembered: it may be created any moment. A lookup that overlapped a change
        # (the epoch moved meanwhile) is not remembered either: it may have read the old row.
        if registry is not None and (self._settings is None or self._settings.current() == seen):
            self._registries[name] = _CachedRegistry(registry, now + self._ttl)
        self._seen = seen
        return registry

    def forget(self, name: str) -> None:
        """Registry `name` or its policy changed (committed): drop it here, and in every process."""
        self._registries.pop(name, None)
        if self._settings is not None:
            self._settings.advance()

    async def actions(self, principal: Principal, path: str) -> frozenset[Action]:
        """The actions `principal` may take on the repository at `path` (`registry/repository`)."""
        registry_name, repository = split_repository(path)
        registry = await self.registry(registry_name)
        if registry is None:
            return frozenset()
        return allowed_actions(principal, registry, repository)

    async def require(self, principal: Principal, path: str, action: Action) -> None:
        """Raise unless `principal` may take `action` on `path`; the error says what to do instead."""
        if action in await self.actions(principal, path):
            return
        if isinstance(principal, Anonymous):
            raise Unauthorized(f"authentication required to {action} {path}: log in with a member or credential")
        registry_name, _ = split_repository(path)
        if await self.registry(registry_name) is None and _may_know_of(principal, registry_name):
            raise NameUnknown(
                f"registry {registry_name!r} does not exist: create it first with"
                f" `shipshape registry create {registry_name} --environment development|staging|production`"
            )
        who = getattr(principal, "username", "caller")
        raise Denied(f"{who} may not {action} {path}: ask an administrator for a credential with {action} on it")


def _may_know_of(principal: Principal, registry: str) -> bool:
    """Whether telling `principal` that `registry` does not exist reveals nothing: administrators create
    registries, and a credential whose scopes name it was meant to use it. Everyone else gets `Denied`, the same
    answer as for a registry they may not see."""
    if isinstance(principal, Member):
        return principal.role in (Role.OWNER, Role.ADMIN)
    if isinstance(principal, Credential):
        return any(scope.registry == registry for scope in principal.scopes)
    return False
