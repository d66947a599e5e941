"""The credentials that reach a registry, each with its state and what needs attention: expired, expiring soon,
never used or unused for long."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipshape.domain.access import Credential
from shipshape.services.credentials import credential_state

EXPIRES_SOON = timedelta(days=14)
UNUSED_FOR_LONG = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CredentialHealth:
    credential: Credential
    state: str  # active, rotating, expired (revoked ones are not listed)
    actions: tuple[str, ...]  # on this registry: pull, push, delete
    repositories: str | None  # the scope's glob, None: every repository
    warnings: tuple[str, ...]


def reaching(credentials: Sequence[Credential], registry: str, now: datetime) -> list[CredentialHealth]:
    """The unrevoked credentials with a scope on `registry`, those needing attention first, then by name."""
    found = []
    for credential in credentials:
        scopes = [scope for scope in credential.scopes if scope.registry == registry]
        if credential.revoked_at is not None or not scopes:
            continue
        actions = sorted({action.value for scope in scopes for action in scope.actions})
        globs = {scope.repositories for scope in scopes}
        found.append(
            CredentialHealth(
                credential=credential,
                state=credential_state(credential, now),
                actions=tuple(actions),
                repositories=None if None in globs else ", ".join(sorted(g for g in globs if g)),
                warnings=tuple(warnings(credential, now)),
            )
        )
    return sorted(found, key=lambda each: (not each.warnings, each.credential.username))


def warnings(credential: Credential, now: datetime) -> list[str]:
    """What an owner should act on, in words, each with what to do."""
    return [found for found in (expiry_warning(credential, now), use_warning(credential, now)) if found]


def expiry_warning(credential: Credential, now: datetime) -> str | None:
    """A warning for an expired credential or one that expires within `EXPIRES_SOON`; None otherwise."""
    if credential.revoked_at is not None:
        return None
    if credential.expires_at <= now:
        return f"expired {_days(now - credential.expires_at)} ago: rotate it with a new expiry, or revoke it"
    if credential.expires_at - now <= EXPIRES_SOON:
        return "expires soon: rotate it with a new expiry"
    return None


def use_warning(credential: Credential, now: datetime) -> str | None:
    """A warning for a credential never used or unused for `UNUSED_FOR_LONG`; None otherwise."""
    if credential.revoked_at is not None:
        return None
    if credential.last_used_at is None:
        return "never used: revoke it if nothing needs it"
    if now - credential.last_used_at >= UNUSED_FOR_LONG:
        return f"unused for {_days(now - credential.last_used_at)}: revoke it if nothing needs it"
    return None


def _days(delta: timedelta) -> str:
    if delta < timedelta(days=1):
        hours = max(1, int(delta.total_seconds() // 3600))
        return f"{hours} hour{'' if hours == 1 else 's'}"
    days = delta.days
    return f"{days} day{'' if days == 1 else 's'}"
