"""`shipshape image show`, run as a user would (typer's runner) against a real `shipshape serve` process."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from shipshape.cli.main import app
from shipshape.domain import media_types as mt
from tests.e2e.support import RegistryServer
from tests.http.manage_support import ADMIN, ADMIN_PASSWORD, live_server

runner = CliRunner()
LAYER = b"x" * (3 * 1024 * 1024 // 2)  # 1.5 MiB
SOURCE = "https://example.com/repo"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with live_server(tmp_path_factory.mktemp("image-server")) as running:
        yield running


def shipshape(server: RegistryServer, *args: str) -> Result:
    env = {
        "SHIPSHAPE_SERVER": server.url,
        "SHIPSHAPE_USERNAME": ADMIN,
        "SHIPSHAPE_PASSWORD": ADMIN_PASSWORD,
        "XDG_CONFIG_HOME": "/nonexistent-shipshape-config",
    }
    return runner.invoke(app, list(args), env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def push(server: RegistryServer, repository: str, tag: str, login: tuple[str, str]) -> dict[str, Any]:
    """Push an image whose config carries a source label and whose manifest a revision annotation."""
    config = json.dumps({"os": "linux", "config": {"Labels": {"org.opencontainers.image.source": SOURCE}}}).encode()
    with httpx.Client(base_url=server.url, auth=login, timeout=30) as client:
        descriptors = []
        for data, media_type in ((config, CONFIG_TYPE), (LAYER, LAYER_TYPE)):
            client.post(f"/v2/{repository}/blobs/uploads/?digest={digest(data)}", content=data).raise_for_status()
            descriptors.append({"mediaType": media_type, "digest": digest(data), "size": len(data)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptors[0],
            "layers": descriptors[1:],
            "annotations": {"org.opencontainers.image.revision": "3f2a9c1"},
        }
        payload = json.dumps(manifest).encode()
        headers = {"Content-Type": mt.OCI_MANIFEST}
        client.put(f"/v2/{repository}/manifests/{tag}", content=payload, headers=headers).raise_for_status()
    return {"digest": digest(payload), "config_size": len(config)}


@pytest.fixture(scope="module")
def pushed(server: RegistryServer) -> dict[str, Any]:
    ok(shipshape(server, "registry", "create", "img-dev", "--environment", "development"))
    created = json.loads(
        ok(shipshape(server, "credential", "create", "ci", "--registry", "img-dev", "--kind", "ci", "--json")).stdout
    )
    login = (created["username"], created["secret"])
    return push(server, "img-dev/web", "v1.0.0", login) | {"pusher": created["username"]}


def test_image_show_json_is_the_api_body(server: RegistryServer, pushed: dict[str, Any]) -> None:
    image = json.loads(ok(shipshape(server, "image", "show", "img-dev/web:v1.0.0", "--json")).stdout)
    assert image["digest"] == pushed["digest"] and image["tags"] == ["v1.0.0"]
    assert image["provenance"] == {"via": "push", "by": pushed["pusher"], "credential": pushed["pusher"],
                                   "promoted_from": None, "built_by_ci": True}  # fmt: skip
    assert image["traceability"]["revision"] == "3f2a9c1" and image["traceability"]["source"] == SOURCE
    assert image["layers"][0]["size"] == len(LAYER) and image["size"] == pushed["config_size"] + len(LAYER)


def test_image_show_prints_provenance_traceability_and_sizes(server: RegistryServer, pushed: dict[str, Any]) -> None:
    out = ok(shipshape(server, "image", "show", f"img-dev/web@{pushed['digest']}")).stdout
    lines = out.splitlines()
    for line in (
        f"digest: {pushed['digest']}",
        "tags: v1.0.0",
        "arrived via: push",
        f"arrived by: {pushed['pusher']}",
        "promoted from: -",
        "revision: 3f2a9c1",
        f"source: {SOURCE}",
        "size: 1.5MiB (config and 1 layer(s))",
    ):
        assert line in lines, out
    layer = digest(LAYER)[: len("sha256:") + 12]  # tables show short digests
    assert any(line.split() == [layer, LAYER_TYPE, "1.5MiB"] for line in lines), out
    assert any("org.opencontainers.image.source" in line and "config label" in line for line in lines), out
    assert "No referrers" in out


def test_image_show_of_an_unknown_tag_says_so_and_fails(server: RegistryServer, pushed: dict[str, Any]) -> None:
    result = shipshape(server, "image", "show", "img-dev/web:v9.9.9")
    assert result.exit_code == 1
    assert "img-dev/web has no tag v9.9.9" in result.stderr
