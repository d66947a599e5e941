"""The overview: the account's registries at a glance (environment, contents, storage, readiness) and recent
activity."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from shipshape.domain.access import Registry
from shipshape.policy.checklist import RegistryChecklist
from shipshape.services.rights import is_server_admin, may_manage
from shipshape.services.usage import UsageReport
from shipshape.web.context import actor, manage
from shipshape.web.render import render

RECENT_EVENTS = 12
_ENVIRONMENT_ORDER = {"development": 0, "staging": 1, "production": 2}


@dataclass(frozen=True, slots=True)
class RegistryRow:
    registry: Registry
    repositories: int
    images: int
    bytes: int
    checklist: RegistryChecklist | None

    @property
    def failed(self) -> int:
        return sum(not item.passed for item in self.checklist.items) if self.checklist else 0


async def overview(request: web.Request) -> web.Response:
    """The signed-in member's account (a server administrator may pick another with `?account=`)."""
    services, who = manage(request), actor(request)
    assert services.usage is not None and services.checklist is not None
    account = request.query.get("account") or who.member.account
    registries = await services.administration.list_registries(who, account)
    usage = await services.usage.report(who, account=account)
    checklists = {each.registry.name: each for each in await services.checklist.check_all(who, account)}
    rows = _rows(registries, usage, checklists)
    # The audit log is for owners and admins: for the others there is no activity to show (and no refusal to log).
    may_audit = may_manage(who.member, account, "audit log") is None
    events = (
        await services.administration.audit_events(who, account=account, limit=RECENT_EVENTS) if may_audit else None
    )
    accounts = await services.administration.list_accounts(who) if is_server_admin(who.member) else []
    context = {
        "account": account, "accounts": [each.name for each in accounts], "rows": rows, "usage": usage,
        "events": events, "host": registry_host(request),
    }  # fmt: skip
    return render(request, "overview.html", context)


def _rows(
    registries: list[Registry], usage: UsageReport, checklists: dict[str, RegistryChecklist]
) -> list[RegistryRow]:
    """One row per registry, development first and production last."""
    per_registry = {each.name: each for each in usage.registries}
    rows = []
    for registry in sorted(registries, key=lambda r: (_ENVIRONMENT_ORDER[r.environment.value], r.name)):
        used = per_registry.get(registry.name)
        repositories = sum(1 for each in usage.repositories if each.name.startswith(f"{registry.name}/"))
        rows.append(
            RegistryRow(
                registry,
                repositories,
                used.manifests if used else 0,
                used.bytes if used else 0,
                checklists.get(registry.name),
            )
        )
    return rows


def registry_host(request: web.Request) -> str:
    """How clients address this registry (`registry.example.com`, `127.0.0.1:5000`): for push and pull lines."""
    public_url = manage(request).public_url
    if public_url:
        return public_url.split("://", 1)[-1].rstrip("/")
    return request.host
