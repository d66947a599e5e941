"""Where a registry accepts promotions from (`promotion_sources`)."""

from __future__ import annotations

from shipshape.domain.access import Registry
from shipshape.domain.policies import ENVIRONMENT_PREFIX
from shipshape.policy.refusals import Refusal


def check_promotion_source(target: Registry, source: Registry) -> Refusal | None:
    """Refuse a promotion from a registry the target does not list, by name or by environment (same account)."""
    for entry in target.rules.promotion_sources:
        if entry == source.name:
            return None
        same_account = source.account == target.account
        if entry == f"{ENVIRONMENT_PREFIX}{source.environment.value}" and same_account:
            return None
    sources = ", ".join(target.rules.promotion_sources) or "none"
    return Refusal(
        "promotion_sources",
        f"{target.label} does not accept promotions from {source.label} (promotion_sources: {sources}):"
        f" promote from an allowed source{_hint(target)}, or add {source.name} to promotion_sources",
        {"source": source.name},
    )


def _hint(target: Registry) -> str:
    environments = [entry.removeprefix(ENVIRONMENT_PREFIX) for entry in target.rules.promotion_sources
                    if entry.startswith(ENVIRONMENT_PREFIX)]  # fmt: skip
    return f" (the account's {' or '.join(environments)} registries)" if environments else ""
