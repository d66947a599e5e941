"""How a credential reads in the console's list: its scopes in words, its state, and what needs attention (the
warnings of `credential_health`, the registry page's too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shipshape.api.manage.models import CredentialOut
from shipshape.domain.access import Action, Credential, CredentialKind, Scope
from shipshape.services.credentials import describe_scopes
from shipshape.web.credential_health import expiry_warning, use_warning

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
        expiry_warning=expiry_warning(credential, now),
        use_warning=use_warning(credential, now),
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


def _listed(words: Sequence[str]) -> str:
    """`pull`, `pull and push`, `pull, push and delete`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
