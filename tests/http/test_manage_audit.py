"""`/api/v1/audit`: the audit trail, filtered by registry, age and account, readable by owners and admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.http.manage_support import ManageApi, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        yield api


async def test_events_are_newest_first_and_filtered_by_registry(api: ManageApi) -> None:
    await api.registry("ops", account="default")
    events = await api.audit(registry="acme-dev")
    assert [e["action"] for e in events] == ["registry.create"]
    assert events[0]["target"] == "acme-dev" and events[0]["actor"] == "admin" and events[0]["remote"] == "127.0.0.1"
    everything = await api.audit()
    assert [e["action"] for e in everything][:2] == ["registry.create", "registry.create"]
    assert everything[0]["registry"] == "ops"


async def test_since_keeps_only_recent_events(api: ManageApi) -> None:
    api.clock.advance(timedelta(hours=3))
    await api.registry("acme-late", account="acme")
    recent = await api.audit(since="1h")
    assert {e["target"] for e in recent if e["action"] == "registry.create"} == {"acme-late"}
    older = await api.audit(since="4h")
    assert {e["target"] for e in older if e["action"] == "registry.create"} == {"acme-dev", "acme-late"}


async def test_limit_bounds_the_answer(api: ManageApi) -> None:
    for name in ("one", "two", "three"):
        await api.registry(f"acme-{name}", account="acme")
    assert len(await api.audit(limit="2")) == 2


async def test_pushes_and_logins_are_in_the_trail(api: ManageApi) -> None:
    ci = await api.credential("ci", "acme-dev")
    assert await api.push_image("acme-dev/web", "v1", ci) == 201
    events = await api.audit(registry="acme-dev")
    assert any(e["action"] == "manifest.push" and e["credential"] == ci[0] for e in events)
    logins = [e for e in await api.audit() if e["action"] == "login" and e["actor"] == ci[0]]
    assert logins and logins[0]["result"] == "success"


async def test_account_owners_read_their_account_only(api: ManageApi) -> None:
    owner = await api.member("olivia", "owner", account="acme")
    await api.registry("ops", account="default")
    answer = await api.get("/audit", as_=owner)
    assert answer.status == 200
    assert {e["account"] for e in answer.body["events"]} == {"acme"}
    assert (await api.get("/audit?account=default", as_=owner)).status == 403
    assert (await api.get("/audit?registry=ops", as_=owner)).status == 403


async def test_developers_and_viewers_cannot_read_the_audit_log(api: ManageApi) -> None:
    for role in ("developer", "viewer"):
        login = await api.member(f"{role}-1", role, account="acme")
        answer = await api.get("/audit", as_=login)
        assert answer.status == 403 and "audit log" in answer.message


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=yesterday", "since"), ("limit=0", "limit"), ("limit=5000", "limit"), ("limit=ten", "limit"),
     ("colour=red", "colour"), ("since=1h&since=2h", "since"), ("registry=Not%20A%20Name", "registry")],
)  # fmt: skip
async def test_bad_audit_queries_are_422(api: ManageApi, query: str, field: str) -> None:
    answer = await api.get(f"/audit?{query}")
    assert answer.status == 422 and answer.message.startswith(field), answer.body
