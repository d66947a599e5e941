"""Helpers for the management API's HTTP tests: the real application with authentication on, a first-start admin,
a fake clock, and a client that logs in as any member."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shipshape.api.oci.access import ACCESS
from shipshape.app import build_app, open_blob_store
from shipshape.config import Settings
from shipshape.domain import media_types as mt
from shipshape.metadata.migrate import migrate
from shipshape.services.bootstrap import bootstrap
from tests.e2e.support import RegistryServer
from tests.s3_support import s3_settings_on_new_bucket

ADMIN = "admin"
ADMIN_PASSWORD = "harbour-lights-at-dusk"
PASSWORD = "seven-kites-over-the-bay"  # the password every test member gets


@dataclass
class FakeClock:
    current: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str:
        return str(self.body["error"]["code"])

    @property
    def message(self) -> str:
        return str(self.body["error"]["message"])


@dataclass
class ManageApi:
    """The management API of a real application, called as `admin` unless told otherwise."""

    client: TestClient
    clock: FakeClock
    data_dir: Path
    login: tuple[str, str] = (ADMIN, ADMIN_PASSWORD)
    settings: Settings | None = None

    async def stored(self) -> tuple[set[str], set[str]]:
        """(digests of the blobs, ids of the uploads) whose bytes the application's blob store holds."""
        assert self.settings is not None
        store = open_blob_store(self.settings)
        await store.open()
        try:
            blobs = {item.name async for page in store.list_blobs() for item in page}
            uploads = {item.name async for page in store.list_uploads() for item in page}
        finally:
            await store.close()
        return blobs, uploads

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        data: bytes | str | None = None,
        as_: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(basic(*(as_ or self.login)))
        sent.update(headers or {})
        if data is not None or method in ("POST", "PUT", "PATCH"):
            sent.setdefault("Content-Type", "application/json")
        response = await self.client.request(method, "/api/v1" + path, json=json, data=data, headers=sent)
        text = await response.text()
        body = await response.json() if text and response.content_type == "application/json" else text
        return Answer(response.status, body, dict(response.headers))

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Answer:
        return await self.call("POST", path, json, **kwargs)

    # factories ------------------------------------------------------------------------------------------
    async def account(self, name: str) -> None:
        answer = await self.post("/accounts", {"name": name})
        assert answer.status == 201, answer.body

    async def registry(self, name: str, account: str = "default", environment: str = "development") -> None:
        answer = await self.post("/registries", {"name": name, "environment": environment, "account": account})
        assert answer.status == 201, answer.body

    async def member(self, username: str, role: str, account: str = "default") -> tuple[str, str]:
        body = {"username": username, "role": role, "account": account, "password": PASSWORD}
        answer = await self.post("/members", body)
        assert answer.status == 201, answer.body
        return username, PASSWORD

    async def credential(self, name: str, *registries: str, kind: str = "ci", **extra: Any) -> tuple[str, str]:
        body = {"name": name, "registries": list(registries), "kind": kind, **extra}
        answer = await self.post("/credentials", body)
        assert answer.status == 201, answer.body
        return answer.body["username"], answer.body["secret"]

    async def logs_in(self, username: str, secret: str) -> Answer:
        """What `/v2/` answers to these Basic credentials (200: they work)."""
        response = await self.client.get("/v2/", headers=basic(username, secret))
        return Answer(response.status, await response.json(), dict(response.headers))

    async def push_image(self, repository: str, tag: str, login: tuple[str, str]) -> int:
        """Push a one-layer image the way clients do; the manifest PUT's status (or the first failure's)."""
        headers = basic(*login)
        digests = []
        for data in (json.dumps({"architecture": "amd64", "os": "linux"}).encode(), b"layer " + tag.encode()):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            response = await self.client.post(
                f"/v2/{repository}/blobs/uploads/?digest={digest}", data=data, headers=headers
            )
            if response.status != 201:
                return response.status
            digests.append((digest, len(data)))
        (config, config_size), (layer, layer_size) = digests
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
        }
        response = await self.client.put(
            f"/v2/{repository}/manifests/{tag}",
            data=json.dumps(manifest).encode(),
            headers={**headers, "Content-Type": mt.OCI_MANIFEST},
        )
        return response.status

    async def audit(self, **query: str) -> list[dict[str, Any]]:
        suffix = "&".join(f"{key}={value}" for key, value in query.items())
        answer = await self.get("/audit" + (f"?{suffix}" if suffix else ""))
        assert answer.status == 200, answer.body
        return list(answer.body["events"])


@contextlib.contextmanager
def live_server(workdir: Path, *extra_args: str) -> Iterator[RegistryServer]:
    """A real `shipshape serve` process with authentication on and `admin`'s password set; stopped by its PID."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPSHAPE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        server = RegistryServer("shipshape", workdir, extra_args=extra_args, auth=True)
        server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def running_api(
    tmp_path: Path,
    public_url: str | None = None,
    quotas: bool = True,
    blob_store: str = "filesystem",
    database_url: str | None = None,
    data_dir: Path | None = None,
) -> AsyncIterator[ManageApi]:
    """The whole application on a fresh SQLite database (or `database_url`, which another application may share)
    and data dir (or `data_dir`, which another application may share too: two processes of one host), with
    `admin` bootstrapped; webhooks may be delivered to receivers on 127.0.0.1. Blobs go to the
    data dir (`blob_store="filesystem"`) or to a new bucket of the test S3 store (`"s3"`)."""
    async with contextlib.AsyncExitStack() as stack:
        store: dict[str, Any] = {}
        if blob_store == "s3":
            store = await stack.enter_async_context(s3_settings_on_new_bucket())
        clock = FakeClock()
        settings = Settings(
            data_dir=data_dir or tmp_path / "data", auth=True, public_url=public_url, webhook_allow_private=True,
            quotas=quotas, database_url=database_url, **store,
        )  # fmt: skip
        settings.data_dir.mkdir(exist_ok=data_dir is not None)
        migrate(settings.metadata_url)
        app = build_app(settings, clock=clock)
        await bootstrap(app[ACCESS].store, clock, ADMIN_PASSWORD)
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            yield ManageApi(client, clock, settings.data_dir, settings=settings)
        finally:
            await client.close()
