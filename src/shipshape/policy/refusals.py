"""A policy's reasoned denial."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipshape.domain.errors import PolicyRefused


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str  # the policy field that refused, e.g. `denied_tags`
    message: str  # what was refused and what to do instead
    detail: dict[str, str] = field(default_factory=dict)

    def error(self) -> PolicyRefused:
        return PolicyRefused(self.rule, self.message, self.detail)


def enforce(refusal: Refusal | None) -> None:
    """Raise the refusal's `PolicyRefused`, if there is one."""
    if refusal is not None:
        raise refusal.error()
