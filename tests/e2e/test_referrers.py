"""Artifacts with a ``subject`` (pushed with the oras client) are listed by the referrers API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import oras.oci  # type: ignore[import-untyped]
import oras.provider  # type: ignore[import-untyped]
import pytest

from .support import (
    OCI_EMPTY,
    OCI_EMPTY_DIGEST,
    OCI_INDEX,
    OCI_MANIFEST,
    TARGET_DISTRIBUTION,
    OciLayoutImage,
    RegistryHTTP,
    RegistryServer,
    Skopeo,
    sha256_digest,
)

pytestmark = pytest.mark.e2e

SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"


def _manifest_digest(http: RegistryHTTP, name: str, reference: str) -> tuple[str, int, bytes]:
    r = http.get_manifest(name, reference)
    assert r.status_code == 200, r.text
    return sha256_digest(r.content), len(r.content), r.content


def test_referrers_api_lists_artifacts_by_subject_and_filters_by_artifact_type(
    registry: RegistryServer,
    skopeo: Skopeo,
    http: RegistryHTTP,
    make_oci_image: Callable[..., OciLayoutImage],
    e2e_tmp: Path,
) -> None:
    image = make_oci_image()
    skopeo.copy(image.ref, f"docker://{registry.address}/reg/app:v1")
    subject_digest, subject_size, _ = _manifest_digest(http, "reg/app", "v1")
    subject = oras.oci.Subject(mediaType=OCI_MANIFEST, digest=subject_digest, size=subject_size)
    client = oras.provider.Registry(hostname=registry.address, insecure=True)
    container = client.get_container(f"{registry.address}/reg/app:sbom")

    # Artifact 1: an SBOM, OCI 1.1 style -- explicit artifactType, empty config, one blob; built with
    # oras' blob/manifest primitives because its push() has no artifactType parameter.
    sbom = e2e_tmp / "sbom.spdx.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "reg/app"}))
    empty = e2e_tmp / "empty.json"
    empty.write_text("{}")
    empty_desc = {"mediaType": OCI_EMPTY, "digest": OCI_EMPTY_DIGEST, "size": 2}
    layer = oras.oci.NewLayer(str(sbom), media_type="application/spdx+json")
    for path, desc in ((sbom, layer), (empty, empty_desc)):
        response = client.upload_blob(str(path), container, desc)
        assert response.status_code in (200, 201), response.text
    sbom_manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": empty_desc,
        "layers": [layer],
        "subject": {"mediaType": subject.mediaType, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "e2e.kind": "sbom"},
    }
    response = client.upload_manifest(sbom_manifest, container)
    assert response.status_code == 201, response.text
    if registry.target != TARGET_DISTRIBUTION:
        # A registry with the referrers API acknowledges the subject it processed.
        assert response.headers.get("OCI-Subject") == subject_digest
    sbom_digest, sbom_size, sbom_bytes = _manifest_digest(http, "reg/app", "sbom")
    assert json.loads(sbom_bytes)["subject"]["digest"] == subject_digest

    # Artifact 2: a signature pushed with oras' high-level push(); no artifactType field, so its
    # artifact type is its config's media type.
    signature = e2e_tmp / "signature.json"
    signature.write_text(json.dumps({"signed": subject_digest}))
    response = client.push(
        target=f"{registry.address}/reg/app:sig",
        files=[f"{signature}:application/vnd.example.signature.payload"],
        manifest_config=f"{empty}:{SIGNATURE_TYPE}",
        subject=subject,
        disable_path_validation=True,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    sig_digest, sig_size, sig_bytes = _manifest_digest(http, "reg/app", "sig")
    assert json.loads(sig_bytes)["config"]["mediaType"] == SIGNATURE_TYPE

    if registry.target == TARGET_DISTRIBUTION:
        pytest.skip("Distribution 2.8 has no referrers API; artifacts with a subject were accepted")

    url = f"{registry.url}/v2/reg/app/referrers/{subject_digest}"

    # Unfiltered: both artifacts, as descriptors carrying their artifactType.
    r = http.session.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0].strip() == OCI_INDEX
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {sbom_digest, sig_digest}
    assert by_digest[sbom_digest]["mediaType"] == OCI_MANIFEST
    assert by_digest[sbom_digest]["size"] == sbom_size
    assert by_digest[sbom_digest]["artifactType"] == SBOM_TYPE
    assert by_digest[sbom_digest]["annotations"] == sbom_manifest["annotations"]
    assert by_digest[sig_digest]["size"] == sig_size
    assert by_digest[sig_digest]["artifactType"] == SIGNATURE_TYPE
    assert "OCI-Filters-Applied" not in r.headers

    # Filtered by artifactType.
    r = http.session.get(url, params={"artifactType": SBOM_TYPE}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    assert [d["digest"] for d in r.json()["manifests"]] == [sbom_digest]

    r = http.session.get(url, params={"artifactType": "application/vnd.example.none"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    assert r.json()["manifests"] == []

    # A manifest nothing refers to: an empty index, not a 404.
    r = http.session.get(f"{registry.url}/v2/reg/app/referrers/{sbom_digest}", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["manifests"] == []
