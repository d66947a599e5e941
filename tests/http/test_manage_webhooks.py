"""`/api/v1/webhooks`: create (secret shown once), list, delete and deliveries, by role; and a published event
reaching a real receiver, signed with the secret shown at creation."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shipshape.api.events import EVENTS
from shipshape.domain.events import EventKind, RegistryEvent
from tests.http.manage_support import ManageApi, running_api

HOOK = "https://hooks.example/shipshape?token=t0ken"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        await api.registry("acme-dev", account="acme")
        yield api


async def create(api: ManageApi, **body: object) -> dict[str, object]:
    answer = await api.post("/webhooks", {"url": HOOK, "account": "acme", **body})
    assert answer.status == 201, answer.body
    return dict(answer.body)


async def test_create_list_delete(api: ManageApi) -> None:
    created = await api.post("/webhooks", {"url": HOOK, "account": "acme", "events": ["push", "delete"]})

    assert created.status == 201 and created.headers["Cache-Control"] == "no-store"
    secret, webhook = created.body["secret"], created.body["webhook"]
    assert secret.startswith("whsec_") and created.body["id"] == webhook["id"]
    assert webhook | {"created_at": None} == {
        "id": webhook["id"], "account": "acme", "registry": None, "url": HOOK, "events": ["delete", "push"],
        "created_at": None, "created_by": "admin",
    }  # fmt: skip
    listed = await api.get("/webhooks?account=acme")
    assert listed.body == {"webhooks": [webhook]}
    assert (await api.call("DELETE", f"/webhooks/{webhook['id']}")).status == 204
    assert (await api.get("/webhooks?account=acme")).body == {"webhooks": []}
    gone = await api.call("DELETE", f"/webhooks/{webhook['id']}")
    assert gone.status == 404 and "shipshape webhook list" in gone.message


async def test_the_secret_is_shown_once_and_never_audited(api: ManageApi) -> None:
    created = await create(api)
    secret = str(created["secret"])

    for path in ("/webhooks", "/webhooks?account=acme", f"/webhooks/{created['id']}/deliveries"):
        assert secret not in json.dumps((await api.get(path)).body)
    events = await api.audit(account="acme")
    newest = events[0]
    assert (newest["action"], newest["result"], newest["target"]) == ("webhook.create", "success", created["id"])
    assert secret not in json.dumps(events) and "t0ken" not in json.dumps(events)
    assert newest["detail"] == {
        "url": "https://hooks.example/shipshape",
        "events": "delete,policy-refusal,promotion,push,usage-alert",
    }


async def test_a_registry_webhook_belongs_to_the_registrys_account(api: ManageApi) -> None:
    created = await create(api, account=None, registry="acme-dev")
    webhook = created["webhook"]

    assert isinstance(webhook, dict) and (webhook["account"], webhook["registry"]) == ("acme", "acme-dev")
    assert [w["id"] for w in (await api.get("/webhooks?registry=acme-dev")).body["webhooks"]] == [created["id"]]
    await create(api)
    assert len((await api.get("/webhooks?account=acme")).body["webhooks"]) == 2
    assert len((await api.get("/webhooks?registry=acme-dev")).body["webhooks"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"url": "ftp://files.example/hook"}, 422, "url: the webhook URL must be an http:// or https:// URL"),
        ({"url": "hooks.example/path"}, 422, "http:// or https://"),
        ({"url": HOOK, "events": ["push", "pushed"]}, 422, "unknown event 'pushed': use one or more of push, delete"),
        ({"url": HOOK, "events": []}, 422, "events: List should have at least 1 item"),
        ({"url": HOOK, "registry": "nowhere"}, 404, "registry 'nowhere' does not exist"),
        ({"url": HOOK, "registry": "acme-dev", "account": "default"}, 400, "belongs to account 'acme'"),
        ({"url": HOOK, "account": "initech"}, 404, "account 'initech' does not exist"),
        ({"url": HOOK, "secret": "mine"}, 422, "secret: unknown field"),
    ],
)
async def test_invalid_requests_are_refused_with_the_fix(
    api: ManageApi, body: dict[str, object], status: int, message: str
) -> None:
    answer = await api.post("/webhooks", body)

    assert (answer.status, message in answer.message) == (status, True), answer.body
    assert (await api.get("/webhooks")).body == {"webhooks": []}


async def test_viewers_and_developers_may_read_deliveries_but_not_manage(api: ManageApi) -> None:
    created = await create(api)
    for role in ("viewer", "developer"):
        login = await api.member(f"{role}-1", role, account="acme")
        refused = await api.post("/webhooks", {"url": HOOK}, as_=login)
        assert refused.status == 403 and "owner or admin" in refused.message
        assert (await api.get("/webhooks", as_=login)).status == 403
        assert (await api.call("DELETE", f"/webhooks/{created['id']}", as_=login)).status == 403
        deliveries = await api.get(f"/webhooks/{created['id']}/deliveries", as_=login)
        assert deliveries.body == {"webhook": created["id"], "deliveries": []}
    denied = [e for e in await api.audit(account="acme") if e["result"] == "denied"]
    assert {e["action"] for e in denied} == {"webhook.create", "webhook.list", "webhook.delete"}


async def test_an_owner_manages_the_webhooks_of_their_own_account_only(api: ManageApi) -> None:
    owner = await api.member("olivia", "owner", account="acme")
    mine = await api.post("/webhooks", {"url": HOOK}, as_=owner)
    assert mine.status == 201 and mine.body["webhook"]["account"] == "acme"
    await api.account("globex")
    outsider = await api.member("gus", "owner", account="globex")
    assert (await api.post("/webhooks", {"url": HOOK, "account": "acme"}, as_=outsider)).status == 403
    assert (await api.get(f"/webhooks/{mine.body['id']}/deliveries", as_=outsider)).status == 403
    assert (await api.get("/webhooks", as_=outsider)).body == {"webhooks": []}


async def test_deliveries_of_an_unknown_webhook_are_not_found(api: ManageApi) -> None:
    answer = await api.get("/webhooks/wh_nothing/deliveries")
    assert answer.status == 404 and answer.code == "NOT_FOUND"
    assert (await api.get("/webhooks/wh_nothing/deliveries?limit=0")).status == 422


async def test_the_operations_are_in_the_openapi_document(api: ManageApi) -> None:
    document = (await api.client.get("/api/v1/openapi.json")).json
    paths = (await document())["paths"]
    assert {"get", "post"} <= paths["/api/v1/webhooks"].keys()
    assert "delete" in paths["/api/v1/webhooks/{id}"] and "get" in paths["/api/v1/webhooks/{id}/deliveries"]


async def test_a_published_event_reaches_the_receiver_signed_with_the_secret_shown_at_creation(
    api: ManageApi,
) -> None:
    arrived: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await arrived.put((dict(request.headers), await request.read()))
        return web.Response(status=202)

    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", hook)
    receiver = TestServer(receiver_app, host="127.0.0.1")
    await receiver.start_server()
    try:
        created = await create(api, url=str(receiver.make_url("/hook")), registry="acme-dev", account=None)
        sink = api.client.server.app[EVENTS]
        await sink.publish(
            RegistryEvent(
                kind=EventKind.PUSH,
                time=api.clock.now(),
                account="acme",
                registry="acme-dev",
                repository="acme-dev/web/api",
                actor="alice",
                digest="sha256:" + "b" * 64,
                tag="v1",
            )
        )
        headers, body = await asyncio.wait_for(arrived.get(), timeout=10)
    finally:
        await receiver.close()

    expected = hmac.new(str(created["secret"]).encode(), body, hashlib.sha256).hexdigest()
    assert headers["Shipshape-Signature"] == f"sha256={expected}"
    assert json.loads(body)["subject"] == "acme-dev/web/api:v1"
    delivery = await asyncio.wait_for(settled(api, str(created["id"])), timeout=10)
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == ("delivered", 1, 202)
    assert delivery["event_id"] == json.loads(body)["id"] and delivery["id"] == headers["Shipshape-Delivery"]


async def settled(api: ManageApi, webhook_id: str) -> dict[str, object]:
    """The webhook's one delivery once it is no longer pending (its outcome is recorded just after the answer); each
    read is a request, which lets the deliverer run in between. The caller bounds the wait."""
    while True:
        (delivery,) = (await api.get(f"/webhooks/{webhook_id}/deliveries")).body["deliveries"]
        if delivery["state"] != "pending":
            return dict(delivery)


async def test_deleting_a_registry_deletes_its_webhooks(api: ManageApi) -> None:
    await create(api, registry="acme-dev")
    account_wide = await create(api)
    assert (await api.call("DELETE", "/registries/acme-dev")).status == 204
    await api.registry("acme-dev", account="acme")
    listed = (await api.get("/webhooks?account=acme")).body["webhooks"]
    assert [webhook["id"] for webhook in listed] == [account_wide["id"]]


async def test_an_account_has_at_most_fifty_webhooks(api: ManageApi) -> None:
    for _ in range(50):
        await create(api)
    refused = await api.post("/webhooks", {"url": HOOK, "account": "acme"})
    assert refused.status == 400 and "has 50 webhooks, the most it may have: delete one first" in refused.message
