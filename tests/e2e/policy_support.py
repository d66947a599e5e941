"""Helpers for the policy and promotion end-to-end tests: an `--auth` server with the account `acme` and its
development, staging and production registries, one `ci` credential for all of them, cosign-style signatures
attached with the oras client, and raw reads with Basic credentials."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oras.oci  # type: ignore[import-untyped]
import oras.provider  # type: ignore[import-untyped]
import requests

from .auth_support import AuthWorld, Credential, auth_world, basic_auth
from .support import MANIFEST_ACCEPT, OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST, sha256_digest

COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json"

REGISTRIES = (("acme-dev", "development"), ("acme-stage", "staging"), ("acme-prod", "production"))


@dataclass
class Acme:
    """The account `acme` on a module's `--auth` server, and a `ci` credential (pull, push, delete) that reaches
    every registry of it."""

    world: AuthWorld
    ci: Credential

    @property
    def address(self) -> str:
        return self.world.server.address

    @property
    def url(self) -> str:
        return self.world.server.url

    def ref(self, image: str) -> str:
        """`docker://HOST:PORT/image`, as skopeo takes it."""
        return f"docker://{self.address}/{image}"


@contextlib.contextmanager
def acme_world(
    prefix: str, extra_registries: tuple[tuple[str, str], ...] = (), extra_args: tuple[str, ...] = ()
) -> Iterator[Acme]:
    """An `--auth` server with `acme-dev`, `acme-stage`, `acme-prod` (and `extra_registries`) in the account
    `acme`, each with its environment's preset policy; skipped on the Distribution target like every auth test."""
    with auth_world(prefix, extra_args) as world:
        world.admin.run("account", "create", "acme")
        registries = (*REGISTRIES, *extra_registries)
        for name, environment in registries:
            world.registry(name, environment, "--account", "acme")
        scopes = [arg for name, _ in registries for arg in ("--registry", name)]
        issued = world.admin.json(
            "credential", "create", "ci", *scopes, "--kind", "ci", "--actions", "pull,push,delete"
        )
        yield Acme(world, Credential(str(issued["username"]), str(issued["secret"])))


def get_manifest(acme: Acme, repository: str, reference: str, credential: Credential) -> requests.Response:
    """GET a manifest (any OCI or Docker media type) with Basic credentials."""
    return requests.get(
        f"{acme.url}/v2/{repository}/manifests/{reference}",
        headers={**basic_auth(credential), "Accept": MANIFEST_ACCEPT},
        timeout=30,
    )


def referrers(acme: Acme, repository: str, digest: str, credential: Credential) -> list[dict[str, Any]]:
    """The descriptors the referrers API lists for `digest`."""
    response = requests.get(f"{acme.url}/v2/{repository}/referrers/{digest}", headers=basic_auth(credential),
                            timeout=30)  # fmt: skip
    assert response.status_code == 200, (response.status_code, response.text)
    return list(response.json()["manifests"])


def sign(acme: Acme, repository: str, subject_digest: str, credential: Credential, workdir: Path) -> str:
    """Attach a cosign-style signature to `repository@subject_digest` with the oras client, the way
    `cosign sign --registry-referrers-mode=oci-1-1` stores one: an OCI 1.1 artifact (artifactType
    `application/vnd.dev.cosign.artifact.sig.v1+json`, empty config, the simple-signing payload as its layer, the
    image as its `subject`), pushed by digest so that it needs no tag. Returns the signature's digest."""
    subject = get_manifest(acme, repository, subject_digest, credential)
    assert subject.status_code == 200, (subject.status_code, subject.text)
    media_type = subject.headers["Content-Type"].split(";")[0].strip()
    # Basic credentials on every request: oras-py's token backend keeps its first token (pull) and answers the
    # next challenge (push) with it again, while shipshape, like Distribution, wants a token with the new scope.
    client = oras.provider.Registry(hostname=acme.address, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(credential.username, credential.secret)

    workdir.mkdir(parents=True, exist_ok=True)
    payload = workdir / "simplesigning.json"
    payload.write_text(
        json.dumps(
            {
                "critical": {
                    "identity": {"docker-reference": f"{acme.address}/{repository}"},
                    "image": {"docker-manifest-digest": subject_digest},
                    "type": "cosign container image signature",
                },
                "optional": None,
            }
        )
    )
    empty = workdir / "empty.json"
    empty.write_text("{}")
    empty_desc = {"mediaType": OCI_EMPTY, "digest": OCI_EMPTY_DIGEST, "size": 2}
    layer = oras.oci.NewLayer(str(payload), media_type=COSIGN_PAYLOAD)
    layer["annotations"] = {"dev.cosignproject.cosign/signature": "MEUCIQDe2e-not-a-real-signature"}
    container = client.get_container(f"{acme.address}/{repository}")
    for path, desc in ((payload, layer), (empty, empty_desc)):
        uploaded = client.upload_blob(str(path), container, desc)
        assert uploaded.status_code in (200, 201), (uploaded.status_code, uploaded.text)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": COSIGN_SIGNATURE,
        "config": empty_desc,
        "layers": [layer],
        "subject": {"mediaType": media_type, "digest": subject_digest, "size": len(subject.content)},
    }
    # oras PUTs `json=manifest`, which requests serialises with json.dumps: those are the bytes the digest names.
    digest = sha256_digest(json.dumps(manifest).encode())
    pushed = client.upload_manifest(manifest, client.get_container(f"{acme.address}/{repository}@{digest}"))
    assert pushed.status_code == 201, (pushed.status_code, pushed.text)
    assert pushed.headers.get("Docker-Content-Digest") == digest
    assert pushed.headers.get("OCI-Subject") == subject_digest
    return digest


def tags(acme: Acme, repository: str, credential: Credential) -> list[str] | None:
    """The repository's tags, or None when the registry does not know the repository (404)."""
    response = requests.get(f"{acme.url}/v2/{repository}/tags/list", headers=basic_auth(credential), timeout=30)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, (response.status_code, response.text)
    return list(response.json().get("tags") or [])
