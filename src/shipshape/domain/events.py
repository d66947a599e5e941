"""What happened in a registry, as published to webhooks: pushes, deletes, promotions and policy refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    """The events a webhook can subscribe to (the names users type: `--event push`)."""

    PUSH = "push"
    DELETE = "delete"
    PROMOTION = "promotion"
    POLICY_REFUSAL = "policy-refusal"
    USAGE_ALERT = "usage-alert"  # an account's storage usage crossed 80% or 90% of its quota


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One event in one registry. `repository` is the full path (`acme-prod/web/api`)."""

    kind: EventKind
    time: datetime
    account: str
    registry: str
    repository: str
    actor: str  # a member's or credential's username, or "anonymous"
    digest: str | None = None
    tag: str | None = None
    credential: str | None = None  # the credential's username when a machine acted
    detail: dict[str, str] = field(default_factory=dict)  # e.g. the refusing rule, the promotion's source; no secrets
