"""Keep images small: a registry's `max_image_size` refuses a manifest whose image is larger."""

from __future__ import annotations

from shipshape.domain.access import Registry
from shipshape.domain.manifests import Manifest
from shipshape.domain.sizes import format_size
from shipshape.policy.refusals import Refusal


def image_size(manifest: Manifest) -> int:
    """The manifest document, its config and its layers."""
    return len(manifest.payload) + sum(descriptor.size for descriptor in manifest.blobs)


def check_image_size(registry: Registry, manifest: Manifest) -> Refusal | None:
    limit = registry.rules.max_image_size
    size = image_size(manifest)
    if limit is None or size <= limit:
        return None
    return Refusal(
        "max_image_size",
        f"image is {format_size(size)}, larger than the {format_size(limit)} {registry.label} allows: make it"
        " smaller (a slimmer base image, a multi-stage build, fewer layers), or raise the limit with `shipshape"
        f" registry set {registry.name} --max-image-size SIZE`",
        {"size": str(size), "limit": str(limit)},
    )
