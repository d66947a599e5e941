"""Webhooks against the live server: a push reaches a real receiver on 127.0.0.1 as a signed CloudEvent, a failed
delivery is retried with the same event, and `shipshape webhook deliveries` shows how it went."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestServer

from .auth_support import AuthWorld, Credential, auth_world, basic_auth
from .support import OCI_CONFIG, OCI_MANIFEST, sha256_digest, wait_until

pytestmark = pytest.mark.e2e

REGISTRY = "hooks-dev"
RETRY_DELAY = "0.2"  # seconds: the retry comes quickly
PATIENCE = 30.0  # seconds any one step may take before the test gives up


@dataclass
class Receiver:
    """Answers the first delivery 500 and every later one 200, keeping what arrived."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    second: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        (self.first if len(self.received) == 1 else self.second).set()
        return web.Response(status=500 if len(self.received) == 1 else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield found, str(server.make_url("/hook"))
    finally:
        await server.close()


def push_image(world: AuthWorld, repository: str, tag: str, pusher: Credential) -> str:
    """Push a one-layer image with Basic credentials the way clients do; the manifest's digest."""
    base, auth = f"{world.server.url}/v2/{repository}", basic_auth(pusher)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = b"webhook layer " + tag.encode()
    for blob in (config, layer):
        answer = requests.post(
            f"{base}/blobs/uploads/?digest={sha256_digest(blob)}", data=blob, headers=auth, timeout=30
        )
        assert answer.status_code == 201, answer.text
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256_digest(layer),
                    "size": len(layer)}],
    }).encode()  # fmt: skip
    answer = requests.put(
        f"{base}/manifests/{tag}", data=manifest, headers={**auth, "Content-Type": OCI_MANIFEST}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return sha256_digest(manifest)


def signed_with(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("Shipshape-Signature", ""), expected)


async def test_a_push_is_delivered_signed_and_retried_after_a_failure(receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    with auth_world("ssw-", ["--webhook-retry-delay", RETRY_DELAY, "--webhook-allow-private"]) as world:
        # The CLI and the pushes block: run them off the event loop, which serves the receiver.
        await asyncio.to_thread(world.registry, REGISTRY)
        pusher = await asyncio.to_thread(world.admin.credential, "pusher", REGISTRY, "ci", "pull,push")
        created: dict[str, Any] = await asyncio.to_thread(
            world.admin.json, "webhook", "create", url, "--registry", REGISTRY, "--event", "push"
        )
        secret, webhook_id = created["secret"], created["id"]
        listed = await asyncio.to_thread(world.admin.json, "webhook", "list", "--registry", REGISTRY)
        assert [w["id"] for w in listed] == [webhook_id] and secret not in json.dumps(listed)

        digest = await asyncio.to_thread(push_image, world, f"{REGISTRY}/app", "v1", pusher)
        try:
            await asyncio.wait_for(hook.first.wait(), PATIENCE)
        except TimeoutError:
            pytest.fail("no webhook delivery after a push: is EventSink.publish wired into manifest pushes?")
        await asyncio.wait_for(hook.second.wait(), PATIENCE)

        (first_headers, first_body), (second_headers, second_body) = hook.received[:2]
        for headers, body in hook.received[:2]:
            assert signed_with(secret, headers, body)
            assert headers["Content-Type"] == "application/cloudevents+json"
            assert headers["Shipshape-Webhook-Id"] == webhook_id
        assert first_body == second_body
        assert first_headers["Shipshape-Delivery"] == second_headers["Shipshape-Delivery"]
        event = json.loads(first_body)
        assert (event["specversion"], event["type"], event["subject"]) == (
            "1.0", "dev.shipshape.image.pushed", f"{REGISTRY}/app:v1",
        )  # fmt: skip
        assert event["data"]["digest"] == digest and event["data"]["actor"] == pusher.username

        def delivered() -> bool:
            deliveries = world.admin.json("webhook", "deliveries", webhook_id)
            return bool(deliveries) and deliveries[0]["state"] == "delivered"

        # The outcome is recorded just after the receiver answers.
        await asyncio.to_thread(wait_until, delivered, timeout=PATIENCE, interval=0.1, what="a delivered delivery")
        (delivery,) = await asyncio.to_thread(world.admin.json, "webhook", "deliveries", webhook_id)
        assert (delivery["attempts"], delivery["last_status"], delivery["event_id"]) == (2, 200, event["id"])
        assert len(hook.received) == 2


@dataclass
class Gate:
    """Answers 503 until opened, then 200; keeps every CloudEvent that arrived while open."""

    open: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.open:
            return web.Response(status=503)
        self.events.append(json.loads(body))
        self.arrived.set()
        return web.Response(status=200)


async def test_events_of_acknowledged_pushes_survive_a_kill_9_and_arrive_after_the_restart() -> None:
    # Every push records its webhook deliveries and its audit entry in its own transaction, so a crash right after
    # the acknowledgements loses neither. Delivery is at least once: a receiver deduplicates by the CloudEvent id,
    # which stays the same on every attempt.
    gate = Gate()
    app = web.Application()
    app.router.add_post("/hook", gate.handle)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    try:
        with auth_world("ssk-", ["--webhook-retry-delay", RETRY_DELAY, "--webhook-allow-private"]) as world:
            await asyncio.to_thread(world.registry, REGISTRY)
            pusher = await asyncio.to_thread(world.admin.credential, "pusher", REGISTRY, "ci", "pull,push")
            created: dict[str, Any] = await asyncio.to_thread(
                world.admin.json, "webhook", "create", str(receiver.make_url("/hook")), "--registry", REGISTRY,
                "--event", "push",
            )  # fmt: skip
            tags = [f"v{n}" for n in range(12)]
            digests = {}
            for tag in tags:
                digests[tag] = await asyncio.to_thread(push_image, world, f"{REGISTRY}/app", tag, pusher)
            world.server.kill9()  # right after the last acknowledgement

            gate.open = True
            await asyncio.to_thread(world.server.restart)

            def all_arrived() -> bool:
                return {event["subject"] for event in gate.events} >= {f"{REGISTRY}/app:{tag}" for tag in tags}

            await asyncio.to_thread(wait_until, all_arrived, timeout=90, interval=0.1, what="every push's event")
            by_subject: dict[str, set[str]] = {}
            for event in gate.events:
                by_subject.setdefault(event["subject"], set()).add(event["id"])
                assert event["data"]["digest"] == digests[event["subject"].rpartition(":")[2]]
            # One event per push, however often it was delivered.
            assert all(len(ids) == 1 for ids in by_subject.values()), by_subject
            assert len({event["id"] for event in gate.events}) == len(tags)

            trail = await asyncio.to_thread(world.admin.json, "audit", "--registry", REGISTRY, "--limit", "1000")
            pushes = [e for e in trail if e["action"] == "manifest.push" and e["result"] == "success"]
            assert sorted(e["target"] for e in pushes) == sorted(f"{REGISTRY}/app:{tag}" for tag in tags)
            listed = await asyncio.to_thread(world.admin.json, "webhook", "deliveries", created["id"])
            assert len(listed) == len(tags)
    finally:
        await receiver.close()
