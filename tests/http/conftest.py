"""HTTP tests: the real application on a real SQLite file and data directory, driven by aiohttp's test client."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shipshape.app import build_app
from shipshape.config import Settings
from shipshape.domain import media_types as mt
from shipshape.metadata.migrate import migrate


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Registry:
    """A test client with helpers to push content the way clients do."""

    client: TestClient
    data_dir: Path

    async def push_blob(self, name: str, data: bytes) -> str:
        digest = digest_of(data)
        response = await self.client.post(f"/v2/{name}/blobs/uploads/?digest={digest}", data=data)
        assert response.status == 201, await response.text()
        return digest

    async def push_image(self, name: str, tag: str, layer: bytes = b"layer", **extra: object) -> tuple[str, bytes]:
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        config_digest = await self.push_blob(name, config)
        layer_digest = await self.push_blob(name, layer)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
            **extra,
        }
        payload = json.dumps(manifest).encode()
        response = await self.client.put(
            f"/v2/{name}/manifests/{tag}", data=payload, headers={"Content-Type": mt.OCI_MANIFEST}
        )
        assert response.status == 201, await response.text()
        return digest_of(payload), payload


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    settings = Settings(data_dir=tmp_path / "data", auth=False)
    settings.data_dir.mkdir()
    migrate(settings.metadata_url)
    client = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    try:
        yield Registry(client, settings.data_dir)
    finally:
        await client.close()


async def error_code(response: object) -> str:
    body = await response.json()  # type: ignore[attr-defined]
    return str(body["errors"][0]["code"])
