"""How a credential reads in the console's list: its scopes in words, its state, and what needs attention (an expiry
within two weeks, a credential never used or idle for a month)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipshape.api.manage.models import CredentialOut
from shipshape.domain.access import Action, Credential, CredentialKind, Scope
from shipshape.services.credentials import describe_scopes

EXPIRY_WARNING = timedelta(days=14)  # warn this long before a credential expires
IDLE_WARNING = timedelta(days=30)  # warn when a credential has not logged in for this long
KIND_SENTENCES: dict[CredentialKind, str] = {
    CredentialKind.CI: "For a build pipeline: pulls and pushes by default, and may be given delete.",
    CredentialKind.PULL: "For a cluster or host that runs images: pull only. Comes with a Kubernetes pull secret.",
    CredentialKind.SERVICE: "For a tool or service that calls the registry: pulls by default, any action if ticked.",
}
_ACTION_ORDER = list(Action)


@dataclass(frozen=True, slots=True)
class CredentialRow:
    """One credential as the list shows it; `expiry_warning` and `use_warning` are None when all is well."""

    credential: CredentialOut
    scopes: str  # in words: `pull and push in acme-dev, acme-stage`
    scopes_code: str  # as the audit log writes them: `acme-dev:pull,push acme-stage:pull,push`
    expiry_warning: str | None
    use_warning: str | None

    @property
    def revoked(self) -> bool:
        return self.credential.state == "revoked"

    @property
    def expired(self) -> bool:
        return self.credential.state == "expired"


def credential_rows(credentials: Iterable[Credential], now: datetime) -> list[CredentialRow]:
    """The rows of the list: revoked credentials last, otherwise in the store's order."""
    rows = [credential_row(credential, now) for credential in credentials]
    return sorted(rows, key=lambda row: row.revoked)


def credential_row(credential: Credential, now: datetime) -> CredentialRow:
    out = CredentialOut.of(credential, now)
    return CredentialRow(
        credential=out,
        scopes=scopes_in_words(credential.scopes),
        scopes_code=describe_scopes(credential.scopes),
        expiry_warning=expiry_warning(out, now),
        use_warning=use_warning(out, now),
    )


def scopes_in_words(scopes: Sequence[Scope]) -> str:
    """`pull and push in acme-dev, acme-stage (repositories web/*)`; registries with the same rights are listed
    together."""
    groups: dict[tuple[tuple[Action, ...], str | None], list[str]] = {}
    for scope in scopes:
        actions = tuple(sorted(scope.actions, key=_ACTION_ORDER.index))
        groups.setdefault((actions, scope.repositories), []).append(scope.registry)
    parts = []
    for (actions, repositories), registries in groups.items():
        part = f"{_listed(actions)} in {', '.join(registries)}"
        parts.append(f"{part} (repositories {repositories})" if repositories else part)
    return "; ".join(parts) or "nothing: its registries were deleted"


def expiry_warning(credential: CredentialOut, now: datetime) -> str | None:
    if credential.state == "revoked":
        return None
    if credential.state == "expired":
        return "expired: rotate it with a new expiry, or create a new one"
    if credential.expires_at - now <= EXPIRY_WARNING:
        return "expires soon: rotate it with a new expiry"
    return None


def use_warning(credential: CredentialOut, now: datetime) -> str | None:
    if credential.state == "revoked":
        return None
    if credential.last_used_at is None:
        return "never used"
    idle = now - credential.last_used_at
    if idle >= IDLE_WARNING:
        return f"unused for {idle.days} days: revoke it if nothing needs it"
    return None


def _listed(words: Sequence[str]) -> str:
    """`pull`, `pull and push`, `pull, push and delete`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
