"""Scopes hold with real clients: a credential for `acme-dev` reaches nothing in `acme-prod` (pull, push, list,
mount), a pull-only credential cannot push, and a viewer cannot create credentials."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .auth_support import (
    AuthWorld,
    Credential,
    auth_world,
    basic_auth,
    failed,
    output,
    strong_password,
)
from .support import OciLayoutImage, Skopeo, build_umoci_image, require_tool

pytestmark = pytest.mark.e2e


@dataclass
class Acme:
    world: AuthWorld
    prod_image: OciLayoutImage
    dev: Credential  # pull, push and delete on acme-dev, nothing else
    prod: Credential  # pull and push on acme-prod

    @property
    def address(self) -> str:
        return self.world.server.address

    def ref(self, path: str) -> str:
        return f"docker://{self.address}/{path}"


@pytest.fixture(scope="module")
def acme() -> Iterator[Acme]:
    require_tool("skopeo")
    with auth_world() as world:
        world.admin.run("account", "create", "acme")
        world.registry("acme-dev", "development", "--account", "acme")
        world.registry("acme-prod", "production", "--account", "acme")
        prod = world.admin.credential("ci", "acme-prod", "ci", "pull,push")
        dev = world.admin.credential("ci", "acme-dev", "ci", "pull,push,delete")
        image = build_umoci_image(world.root / "prod-image")
        Skopeo(world.root / "sk").copy(
            image.ref, f"docker://{world.server.address}/acme-prod/app:v1.0.0", "--dest-creds", prod.creds
        )
        yield Acme(world, image, dev, prod)


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, acme: Acme) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{acme.world.server.log_tail()}")


@pytest.fixture
def skopeo(e2e_tmp: Path) -> Skopeo:
    return Skopeo(e2e_tmp / "sk")


def test_dev_credential_cannot_pull_from_prod(acme: Acme, skopeo: Skopeo, e2e_tmp: Path) -> None:
    # The same credential pulls from its own registry, so the refusal is about scope, not about the login.
    skopeo.copy(acme.prod_image.ref, acme.ref("acme-dev/app:v1"), "--dest-creds", acme.dev.creds)
    own = skopeo.run("inspect", "--tls-verify=false", "--creds", acme.dev.creds, acme.ref("acme-dev/app:v1"))
    assert own.returncode == 0

    inspected = skopeo.run(
        "inspect", "--tls-verify=false", "--creds", acme.dev.creds, acme.ref("acme-prod/app:v1.0.0"), check=False
    )
    copied = skopeo.copy(
        acme.ref("acme-prod/app:v1.0.0"), f"oci:{e2e_tmp / 'stolen'}:v1", "--src-creds", acme.dev.creds, check=False
    )

    assert inspected.returncode != 0
    assert "denied: acme-dev+ci may not pull acme-prod/app" in output(inspected), output(inspected)
    assert copied.returncode != 0
    assert "may not pull acme-prod/app" in output(copied), output(copied)
    assert not (e2e_tmp / "stolen" / "index.json").exists()
    # Raw HTTP with Basic credentials: neither the manifest nor a layer is served.
    manifest = requests.get(
        f"{acme.world.server.url}/v2/acme-prod/app/manifests/v1", headers=basic_auth(acme.dev), timeout=30
    )
    layer = acme.prod_image.layer_digests[0]
    blob = requests.get(
        f"{acme.world.server.url}/v2/acme-prod/app/blobs/{layer}", headers=basic_auth(acme.dev), timeout=30
    )
    assert manifest.status_code == 403 and "DENIED" in manifest.text, manifest.text
    assert blob.status_code == 403 and "DENIED" in blob.text, blob.text
    # A caller without pull rights learns nothing: an existing repository is refused just like a missing one.
    missing = skopeo.run(
        "inspect", "--tls-verify=false", "--creds", acme.dev.creds, acme.ref("acme-prod/missing:v1.0.0"), check=False
    )
    assert output(missing).split("reading manifest")[1] == (
        output(inspected).split("reading manifest")[1].replace("acme-prod/app", "acme-prod/missing")
    )


def test_dev_credential_cannot_push_to_prod(acme: Acme, skopeo: Skopeo) -> None:
    pushed = skopeo.copy(
        acme.prod_image.ref, acme.ref("acme-prod/app:from-dev"), "--dest-creds", acme.dev.creds, check=False
    )

    assert pushed.returncode != 0
    assert "403 (Forbidden)" in output(pushed), output(pushed)  # skopeo's first step, a HEAD, is refused
    # Raw HTTP with Basic credentials: the upload is refused with the spec's DENIED and the server's reason.
    upload = requests.post(
        f"{acme.world.server.url}/v2/acme-prod/app/blobs/uploads/", headers=basic_auth(acme.dev), timeout=30
    )
    assert upload.status_code == 403, upload.text
    assert upload.json()["errors"][0]["code"] == "DENIED"
    assert "may not push acme-prod/app" in upload.json()["errors"][0]["message"]
    tags = requests.get(
        f"{acme.world.server.url}/v2/acme-prod/app/tags/list", headers=basic_auth(acme.prod), timeout=30
    )
    assert tags.json()["tags"] == ["v1.0.0"]


def test_dev_credential_cannot_list_prod_tags(acme: Acme, skopeo: Skopeo) -> None:
    listed = skopeo.run(
        "list-tags", "--tls-verify=false", "--creds", acme.dev.creds, acme.ref("acme-prod/app"), check=False
    )

    assert listed.returncode != 0
    assert "403 (Forbidden)" in output(listed), output(listed)
    assert "v1" not in listed.stdout.decode()
    catalog = requests.get(f"{acme.world.server.url}/v2/_catalog", headers=basic_auth(acme.dev), timeout=30)
    assert catalog.status_code == 200
    assert not [name for name in catalog.json()["repositories"] if name.startswith("acme-prod/")]
    allowed = requests.get(f"{acme.world.server.url}/v2/_catalog", headers=basic_auth(acme.prod), timeout=30)
    assert "acme-prod/app" in allowed.json()["repositories"]  # it is there for those who may pull it


def test_dev_credential_cannot_mount_a_prod_blob(acme: Acme, skopeo: Skopeo) -> None:
    layer = acme.prod_image.layer_digests[0]

    copied = skopeo.copy(
        acme.ref("acme-prod/app:v1.0.0"),
        acme.ref("acme-dev/x:v1"),
        "--src-creds",
        acme.dev.creds,
        "--dest-creds",
        acme.dev.creds,
        check=False,
    )
    mount = requests.post(
        f"{acme.world.server.url}/v2/acme-dev/x/blobs/uploads/",
        params={"mount": layer, "from": "acme-prod/app"},
        headers=basic_auth(acme.dev),
        timeout=30,
    )

    assert copied.returncode != 0
    assert "may not pull acme-prod/app" in output(copied), output(copied)
    # No pull right on the source: the mount falls back to a plain upload session (202), it does not link (201).
    assert mount.status_code == 202, (mount.status_code, mount.text)
    assert "/v2/acme-dev/x/blobs/uploads/" in mount.headers["Location"]
    head = requests.head(
        f"{acme.world.server.url}/v2/acme-dev/x/blobs/{layer}", headers=basic_auth(acme.dev), timeout=30
    )
    assert head.status_code == 404


def test_pull_credential_cannot_push_and_skopeo_shows_the_denied_message(acme: Acme, skopeo: Skopeo) -> None:
    reader = acme.world.admin.credential("reader", "acme-dev", "pull")
    image = acme.prod_image

    pushed = skopeo.copy(image.ref, acme.ref("acme-dev/pulled-only:v1"), "--dest-creds", reader.creds, check=False)

    assert pushed.returncode != 0
    text = output(pushed)
    assert "denied" in text.lower(), text
    assert f"{reader.username} may not push acme-dev/pulled-only" in text, text


def test_viewer_cannot_create_credentials(acme: Acme) -> None:
    password = strong_password()
    acme.world.admin.run(
        "member", "add", "vera", "--account", "acme", "--role", "viewer", "--password-stdin", stdin=password
    )
    vera = acme.world.cli("vera", "vera", password)
    assert [r["name"] for r in vera.json("registry", "list")] == ["acme-dev", "acme-prod"]  # she is logged in

    refused = vera.run("credential", "create", "mine", "--registry", "acme-dev", "--kind", "ci", "--json", check=False)

    assert refused.returncode != 0
    assert refused.stdout == b""
    assert "viewer" in refused.stderr.decode() and "credential" in refused.stderr.decode(), refused.stderr
    listed = acme.world.admin.json("credential", "list", "--account", "acme")
    assert not [c for c in listed if c["username"].endswith("+mine")]
