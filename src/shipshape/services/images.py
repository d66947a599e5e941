"""Showing an image: what it is, how it arrived, what it was built from, what it weighs and what is attached to it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shipshape.domain.access import Action, Principal
from shipshape.domain.digests import Digest
from shipshape.domain.errors import ManifestUnknown, TagInvalid
from shipshape.domain.manifests import Descriptor, Manifest, parse_manifest
from shipshape.domain.names import Reference, parse_image_reference
from shipshape.domain.records import Provenance, Pulls, StoredManifest
from shipshape.ports import ImageRecords, LocalFile, OpenBlob
from shipshape.services.authorization import Authorizer
from shipshape.services.pulls import PullRecorder

MAX_CONFIG_BYTES = 1024 * 1024  # an image config is a few KiB; anything past this is not read
# The OCI annotations (or config labels, where docker, podman and buildah put them) that trace an image to its
# source, shown first.
TRACEABILITY = {
    "revision": "org.opencontainers.image.revision",
    "source": "org.opencontainers.image.source",
    "version": "org.opencontainers.image.version",
    "created": "org.opencontainers.image.created",
}
_IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


class ImageStore(ImageRecords, Protocol):
    """What showing an image reads from the metadata store."""

    async def referrers(self, repository: str, subject: str) -> list[StoredManifest]: ...

    async def repository_exists(self, repository: str) -> bool: ...


class ConfigBlobs(Protocol):
    """Where an image's config blob is read from."""

    async def open_blob(self, digest: Digest) -> OpenBlob: ...


@dataclass(frozen=True, slots=True)
class Platform:
    os: str | None
    architecture: str | None
    variant: str | None


@dataclass(frozen=True, slots=True)
class ChildImage:
    """A manifest an index lists."""

    digest: str
    media_type: str
    platform: Platform | None
    size: int | None  # config + layers; None when the child is not stored or is an index itself


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    artifact_type: str | None


@dataclass(frozen=True, slots=True)
class ImageDetails:
    """Everything `image show` tells about one manifest of one repository."""

    repository: str
    manifest: StoredManifest
    provenance: Provenance
    tags: tuple[str, ...]
    pulls: Pulls
    labels: dict[str, str]  # the config's `config.Labels`
    config: Descriptor | None  # None for an index
    layers: tuple[Descriptor, ...]
    children: tuple[ChildImage, ...]  # of an index
    size: int  # config + layers; for an index, its stored children's distinct blobs
    referrers: tuple[Referrer, ...]

    @property
    def traceability(self) -> dict[str, str | None]:
        """Revision, source, version and build time: the manifest's annotation, else the config's label."""
        annotations = self.manifest.annotations
        return {name: annotations.get(key, self.labels.get(key)) for name, key in TRACEABILITY.items()}


class ImageService:
    def __init__(
        self, store: ImageStore, blobs: ConfigBlobs, authorizer: Authorizer, pulls: PullRecorder | None = None
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._authorizer = authorizer
        self._pulls = pulls

    async def show(self, principal: Principal, reference: str) -> ImageDetails:
        """The image `reference` (`registry/repo:tag` or `registry/repo@sha256:…`) names, for a caller who may
        pull its repository."""
        repository, parsed = parse_image_reference(reference)
        if parsed is None:
            raise TagInvalid(f"show which image? name it by tag or digest, e.g. {reference}:latest")
        await self._authorizer.require(principal, repository, Action.PULL)
        if self._pulls is not None:
            await self._pulls.flush()  # this process's latest pulls, not the last batch's
        record = await self._store.image_record(repository, parsed)
        if record is None:
            raise await self._unknown(repository, parsed)
        stored = record.manifest
        manifest = _parse(stored)
        config = None if manifest.is_index else manifest.blobs[0]
        children, size = await self._children(repository, manifest) if manifest.is_index else ((), _total(manifest))
        referrers = await self._store.referrers(repository, stored.digest)
        return ImageDetails(
            repository=repository,
            manifest=stored,
            provenance=record.provenance,
            tags=record.tags,
            pulls=record.pulls,
            labels=await self._labels(config) if config is not None else {},
            config=config,
            layers=manifest.blobs[1:],
            children=children,
            size=size,
            referrers=tuple(Referrer(r.digest, r.artifact_type) for r in referrers),
        )

    async def _unknown(self, repository: str, reference: Reference) -> ManifestUnknown:
        if not await self._store.repository_exists(repository):
            return ManifestUnknown(
                f"repository {repository} does not exist: check its name (nothing was pushed or promoted to it)"
            )
        if reference.tag is not None:
            return ManifestUnknown(
                f"{repository} has no tag {reference.tag}: check the tag, or name the image by digest"
            )
        return ManifestUnknown(f"manifest {reference.digest} is not in {repository}: check the digest, or use a tag")

    async def _children(self, repository: str, index: Manifest) -> tuple[tuple[ChildImage, ...], int]:
        """The manifests `index` lists, each with its size, and the size of their distinct blobs."""
        stored = {child.digest: child for child in await self._store.child_manifests(repository, str(index.digest))}
        blobs: dict[str, int] = {}
        children = []
        for descriptor in index.children:
            found = stored.get(descriptor.digest)
            child = _parse(found) if found is not None else None
            if child is not None and not child.is_index:
                blobs.update((blob.digest, blob.size) for blob in child.blobs)
            size = _total(child) if child is not None and not child.is_index else None
            children.append(ChildImage(descriptor.digest, descriptor.media_type, _platform(descriptor), size))
        return tuple(children), sum(blobs.values())

    async def _labels(self, config: Descriptor) -> dict[str, str]:
        """The config's `config.Labels`; none when the config is not an image's, too large, missing or invalid."""
        if config.media_type not in _IMAGE_CONFIGS or config.size > MAX_CONFIG_BYTES:
            return {}
        try:
            blob = await self._blobs.open_blob(Digest.parse(config.digest))
            raw = await _head(blob, MAX_CONFIG_BYTES + 1)
        except FileNotFoundError:
            return {}
        return config_labels(raw) if len(raw) <= MAX_CONFIG_BYTES else {}


def config_labels(raw: bytes) -> dict[str, str]:
    """`config.Labels` of an image config document, its string values only; {} when there is none."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    config = document.get("config") if isinstance(document, dict) else None
    labels = config.get("Labels") if isinstance(config, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {key: value for key, value in labels.items() if isinstance(value, str)}


async def _head(blob: OpenBlob, limit: int) -> bytes:
    """The blob's first `limit` bytes (all of a smaller one)."""
    if isinstance(blob, LocalFile):
        return await asyncio.to_thread(_read_file, blob.path, limit)
    return b"".join([chunk async for chunk in blob.read(0, min(limit, blob.size))])


def _read_file(path: Path, limit: int) -> bytes:
    with path.open("rb") as file:
        return file.read(limit)


def _parse(stored: StoredManifest) -> Manifest:
    # Validated when it was pushed; parsed again for its descriptors.
    return parse_manifest(stored.payload, stored.media_type, stored.digest.partition(":")[0])


def _total(manifest: Manifest) -> int:
    """Config + layers, as the manifest describes them."""
    return sum(blob.size for blob in manifest.blobs)


def _platform(descriptor: Descriptor) -> Platform | None:
    platform = descriptor.platform
    if platform is None:
        return None

    def text(key: str) -> str | None:
        value = platform.get(key)
        return value if isinstance(value, str) else None

    return Platform(text("os"), text("architecture"), text("variant"))
