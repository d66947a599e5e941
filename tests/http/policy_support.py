"""Pushing test images over `/v2/` for the policy and promotion tests: distinct content per image, any reference."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shipshape.domain import media_types as mt
from tests.http.manage_support import ManageApi, basic

COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@dataclass
class Pushed:
    status: int
    body: Any
    digest: str  # of the manifest, whether or not the push succeeded

    @property
    def message(self) -> str:
        return str(self.body["errors"][0]["message"])

    @property
    def rule(self) -> str:
        return str(self.body["errors"][0]["detail"]["rule"])


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class UploadRefused(Exception):
    def __init__(self, pushed: Pushed) -> None:
        super().__init__(pushed.body)
        self.pushed = pushed


async def upload(api: ManageApi, repository: str, data: bytes, login: tuple[str, str]) -> str:
    digest = _digest(data)
    response = await api.client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", data=data,
                                     headers=basic(*login))  # fmt: skip
    if response.status != 201:
        raise UploadRefused(Pushed(response.status, await response.json(), digest))
    return digest


async def put_manifest(
    api: ManageApi, repository: str, reference: str, manifest: dict[str, Any], login: tuple[str, str]
) -> Pushed:
    payload = json.dumps(manifest).encode()
    response = await api.client.put(
        f"/v2/{repository}/manifests/{reference}",
        data=payload,
        headers={**basic(*login), "Content-Type": manifest["mediaType"]},
    )
    body = await response.json() if response.status >= 400 else None
    return Pushed(response.status, body, _digest(payload))


async def push(api: ManageApi, repository: str, reference: str, login: tuple[str, str], content: str = "one") -> Pushed:
    """Push a one-layer image whose layer holds `content` (so different contents give different digests); a refused
    blob upload is answered like a refused manifest."""
    layer = content.encode()
    try:
        config = await upload(api, repository, b'{"architecture":"amd64","os":"linux"}', login)
        layer_digest = await upload(api, repository, layer, login)
    except UploadRefused as refused:
        return refused.pushed
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 37},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}],
        "annotations": {"org.opencontainers.image.revision": "3f2a9c1"},
    }  # fmt: skip
    return await put_manifest(api, repository, reference, manifest, login)


async def sign(api: ManageApi, repository: str, subject: str, login: tuple[str, str]) -> Pushed:
    """Attach a cosign-style signature (an OCI 1.1 referrer) to manifest `subject`; pushed by digest."""
    empty = await upload(api, repository, b"{}", login)
    signature = b'{"critical":{"image":{"docker-manifest-digest":"' + subject.encode() + b'"}}}'
    layer = await upload(api, repository, signature, login)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": COSIGN_SIGNATURE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer,
                    "size": len(signature)}],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": subject, "size": 1},
    }  # fmt: skip
    payload_digest = _digest(json.dumps(manifest).encode())
    return await put_manifest(api, repository, payload_digest, manifest, login)
