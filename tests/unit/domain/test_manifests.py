import json

import pytest

from shipshape.domain import media_types as mt
from shipshape.domain.digests import Digest
from shipshape.domain.errors import ManifestInvalid, ManifestTooLarge
from shipshape.domain.manifests import MAX_MANIFEST_BYTES, parse_manifest

CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "1" * 64, "size": 2}
LAYER = {
    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
    "digest": "sha256:" + "2" * 64,
    "size": 3,
}


def image(**extra: object) -> dict[str, object]:
    return {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG, "layers": [LAYER], **extra}


def encode(document: dict[str, object]) -> bytes:
    return json.dumps(document, indent=3).encode()


def test_image_manifest_lists_config_and_layers_and_keeps_exact_bytes() -> None:
    payload = encode(image())
    manifest = parse_manifest(payload, mt.OCI_MANIFEST)
    assert manifest.payload == payload
    assert manifest.digest == Digest.of(payload)
    assert [b.digest for b in manifest.blobs] == [CONFIG["digest"], LAYER["digest"]]
    assert manifest.children == ()
    assert manifest.artifact_type == CONFIG["mediaType"]


def test_index_lists_children() -> None:
    child = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": "sha256:" + "3" * 64,
        "size": 10,
        "platform": {"os": "linux", "architecture": "arm64"},
    }
    manifest = parse_manifest(encode({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child]}), None)
    assert manifest.is_index
    assert [c.digest for c in manifest.children] == [child["digest"]]


def test_subject_and_artifact_type_are_read() -> None:
    subject = {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "4" * 64, "size": 5}
    manifest = parse_manifest(encode(image(subject=subject, artifactType="application/x-sig")), mt.OCI_MANIFEST)
    assert manifest.subject is not None and manifest.subject.digest == subject["digest"]
    assert manifest.artifact_type == "application/x-sig"


def test_docker_schema2_manifest_is_recognised_from_its_body() -> None:
    document = image()
    document["mediaType"] = mt.DOCKER_MANIFEST
    assert parse_manifest(encode(document), None).media_type == mt.DOCKER_MANIFEST


def test_media_type_must_match_content_type() -> None:
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse_manifest(encode(image()), mt.DOCKER_MANIFEST)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (
            encode({"schemaVersion": 1, "mediaType": mt.OCI_MANIFEST, "config": CONFIG, "layers": []}),
            "schemaVersion",
        ),
        (encode({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []}), "config"),
        (encode(image(layers=[{**LAYER, "digest": "sha256:bad"}])), "layers"),
        (encode(image(layers=[{**LAYER, "size": -1}])), "size"),
        (encode({"schemaVersion": 2, "mediaType": "text/plain"}), "unsupported manifest media type"),
        (encode({"schemaVersion": 1, "mediaType": mt.DOCKER_SCHEMA1}), "schema 1"),
    ],
)
def test_malformed_manifests_are_refused_with_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ManifestInvalid, match=reason):
        parse_manifest(payload, None)


def test_manifest_over_4_mib_is_refused() -> None:
    with pytest.raises(ManifestTooLarge):
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1), mt.OCI_MANIFEST)
