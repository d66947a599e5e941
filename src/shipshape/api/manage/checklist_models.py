"""Bodies of the production-readiness checklist endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from shipshape.api.manage.models import Response
from shipshape.domain.access import Environment
from shipshape.policy.checklist import ChecklistItem, RegistryChecklist


class ChecklistItemOut(Response):
    id: str = Field(
        description="Stable: immutable-tags, credential-rotation, ci-only-production-pushes, pull-secret,"
        " environment-separation or retention-policy",
        examples=["pull-secret"],
    )
    title: str
    passed: bool
    applicable: bool = Field(
        description="False when the registry's environment is not held to the item (it then passes)"
    )
    evidence: str = Field(description="The facts that decided it")
    fix: str | None = Field(
        description="The shipshape command(s) that make it pass, joined by ` && `; null when it passes"
    )

    @classmethod
    def of(cls, item: ChecklistItem) -> ChecklistItemOut:
        return cls(
            id=item.id,
            title=item.title,
            passed=item.passed,
            applicable=item.applicable,
            evidence=item.evidence,
            fix=item.fix,
        )


class RegistryChecklistOut(Response):
    registry: str
    account: str
    environment: Environment
    passed: bool = Field(description="Whether every item passed")
    items: list[ChecklistItemOut]

    @classmethod
    def of(cls, checked: RegistryChecklist) -> RegistryChecklistOut:
        return cls(
            registry=checked.registry.name,
            account=checked.registry.account,
            environment=checked.registry.environment,
            passed=checked.passed,
            items=[ChecklistItemOut.of(item) for item in checked.items],
        )


class ChecklistOut(Response):
    registries: list[RegistryChecklistOut]
    passed: bool = Field(description="Whether every item of every registry passed (true for no registries)")

    @classmethod
    def of(cls, checked: Sequence[RegistryChecklist]) -> ChecklistOut:
        return cls(
            registries=[RegistryChecklistOut.of(one) for one in checked],
            passed=all(one.passed for one in checked),
        )
