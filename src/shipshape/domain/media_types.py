"""Media types of the manifests the registry stores, and their families."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES


def is_index(media_type: str) -> bool:
    return media_type in INDEXES


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether an HTTP `Accept` header admits `media_type` (no header, or a wildcard, admits everything)."""
    if not accept_header:
        return True
    for item in accept_header.split(","):
        candidate = item.split(";", 1)[0].strip().lower()
        if candidate in ("*/*", "application/*", "", media_type):
            return True
    return False
