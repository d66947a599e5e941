"""Usage (per registry and repository, daily history, largest and stale images) and the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BeforeValidator, Field

from shipshape.api.manage.models import Duration, Query, RegistryName
from shipshape.api.manage.wire import read_query
from shipshape.domain.access import AuditEvent, Registry
from shipshape.services.audit import MAX_AUDIT_EVENTS
from shipshape.services.rights import is_server_admin, may_manage
from shipshape.services.usage import HISTORY_DAYS, ScopeUsage, UsageReport
from shipshape.web.audit_filter import PER_PAGE, RESULTS, AuditFilter, action_choices, filter_events, paginate
from shipshape.web.context import actor, manage, url
from shipshape.web.overview import registry_host
from shipshape.web.render import render
from shipshape.web.usage_chart import history_chart

SINCE_CHOICES = (("1h", "last hour"), ("24h", "last 24 hours"), ("7d", "last 7 days"), ("30d", "last 30 days"))
MAX_PAGE = MAX_AUDIT_EVENTS // PER_PAGE
_ENVIRONMENT_ORDER = {"development": 0, "staging": 1, "production": 2}


def _blank_is_none(value: Any) -> Any:
    """A GET form sends every field; an empty one narrows nothing."""
    return None if value == "" else value


def _all_time_is_none(value: Any) -> Any:
    return None if value in ("", "all") else value


Blank = BeforeValidator(_blank_is_none)
AllTime = BeforeValidator(_all_time_is_none)


class UsagePageQuery(Query):
    account: Annotated[RegistryName | None, Blank] = None  # a server administrator's pick; default: one's own
    registry: Annotated[RegistryName | None, Blank] = None
    unpulled_days: int = Field(default=30, ge=0, le=36500)


class AuditPageQuery(Query):
    account: Annotated[RegistryName | None, Blank] = None
    registry: Annotated[RegistryName | None, Blank] = None
    actor: Annotated[Annotated[str, Field(max_length=255)] | None, Blank] = None
    action: Annotated[Annotated[str, Field(max_length=100)] | None, Blank] = None
    result: Annotated[Literal["success", "failure", "denied", "locked"] | None, Blank] = None
    since: Annotated[Duration | None, AllTime] = None
    page: int = Field(default=1, ge=1, le=MAX_PAGE)

    @property
    def criteria(self) -> AuditFilter:
        return AuditFilter(self.actor or "", self.action or "", self.result or "")


@dataclass(frozen=True, slots=True)
class RegistryUsageRow:
    usage: ScopeUsage
    registry: Registry | None  # None: deleted while the page was made


# usage ---------------------------------------------------------------------------------------------------------
async def usage(request: web.Request) -> web.Response:
    query = read_query(request, UsagePageQuery)
    services, who = manage(request), actor(request)
    assert services.usage is not None
    account = None if query.registry else query.account
    report = await services.usage.report(who, account, query.registry, query.unpulled_days)
    registries = await services.administration.list_registries(who, report.account.name)
    return render(request, "usage.html", usage_context(report, registries, registry_host(request)))


def usage_context(report: UsageReport, registries: Iterable[Registry], host: str) -> dict[str, Any]:
    known = sorted(registries, key=lambda r: (_ENVIRONMENT_ORDER[r.environment.value], r.name))
    by_name = {each.name: each for each in known}
    rows = sorted(
        (RegistryUsageRow(scope, by_name.get(scope.name)) for scope in report.registries),
        key=lambda row: (-row.usage.bytes, row.usage.name),
    )
    return {
        "report": report,
        "rows": rows,
        "registries": known,
        "scope": by_name.get(report.registry) if report.registry else None,
        "chart": history_chart(report.history, report.at.date(), HISTORY_DAYS),
        "history_days": HISTORY_DAYS,
        "host": host,
        "images": report.used.manifests,
    }


# audit ---------------------------------------------------------------------------------------------------------
async def audit(request: web.Request) -> web.Response:
    query = read_query(request, AuditPageQuery)
    services, who = manage(request), actor(request)
    account = query.account or (None if is_server_admin(who.member) else who.member.account)
    refusal = may_manage(who.member, account, "audit log") if account is not None else None
    if refusal is not None:
        # What the nav leaves out for developers and viewers: say why here, without logging a refusal.
        return render(request, "audit.html", {"refusal": refusal.message}, status=403)
    events = await services.administration.audit_events(
        who, registry=query.registry, account=query.account, since=query.since, limit=MAX_AUDIT_EVENTS
    )
    registries = await services.administration.list_registries(who, account)
    return render(request, "audit.html", audit_context(request.query, query, events, registries))


def audit_context(
    sent: Mapping[str, str], query: AuditPageQuery, events: Sequence[AuditEvent], registries: Iterable[Registry]
) -> dict[str, Any]:
    return {
        "refusal": None,
        "query": query,
        "shown": paginate(filter_events(events, query.criteria), query.page),
        "capped": len(events) >= MAX_AUDIT_EVENTS,
        "max_events": MAX_AUDIT_EVENTS,
        "registries": sorted(each.name for each in registries),
        "actions": action_choices(events, query.action or ""),
        "results": RESULTS,
        "since_choices": SINCE_CHOICES,
        "since": sent.get("since") or "all",
        "base": audit_address(sent),
    }


def audit_address(query: Mapping[str, str]) -> str:
    """This page's address with the same filters and no page number (the pager adds it)."""
    kept = {key: value for key, value in query.items() if key != "page" and value and (key, value) != ("since", "all")}
    return url("/audit") + (f"?{urlencode(kept)}" if kept else "")
