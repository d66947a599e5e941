"""Manifests: push (validated, by tag or digest), pull with content negotiation, delete; tags and referrers."""

from __future__ import annotations

import json

from shipshape.domain import media_types as mt
from shipshape.domain.digests import Digest
from shipshape.domain.errors import DigestInvalid, ManifestUnknown, NameUnknown
from shipshape.domain.manifests import Manifest, parse_manifest
from shipshape.domain.names import Reference
from shipshape.domain.records import StoredManifest
from shipshape.ports import Clock, ManifestIndex

# When a client does not accept an index, it gets this platform's image, as Distribution does.
DEFAULT_PLATFORM = {"os": "linux", "architecture": "amd64"}


class ManifestService:
    def __init__(self, index: ManifestIndex, clock: Clock) -> None:
        self._index = index
        self._clock = clock

    async def push(self, repository: str, reference: Reference, payload: bytes, content_type: str | None) -> Manifest:
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        manifest = parse_manifest(payload, content_type, algorithm)
        if reference.digest is not None and reference.digest != manifest.digest:
            raise DigestInvalid(
                f"manifest content has digest {manifest.digest}, not {reference.digest}: push it by tag"
                " or by its real digest"
            )
        await self._index.put_manifest(repository, manifest, reference.tag, self._clock.now())
        return manifest

    async def pull(self, repository: str, reference: Reference, accept: str | None) -> StoredManifest:
        stored = await self._find(repository, reference)
        if mt.accepts(accept, stored.media_type) or stored.media_type not in mt.INDEXES:
            # Image manifests are served as stored even to clients that do not list their type (as
            # Distribution does); only an index falls back to one of its images.
            return stored
        child = await self._default_platform_child(stored, accept)
        if child is None:
            raise ManifestUnknown(
                f"{repository}:{reference} is a {stored.media_type}, which the client does not accept,"
                f" and it has no {DEFAULT_PLATFORM['os']}/{DEFAULT_PLATFORM['architecture']} image:"
                " ask for the index media type"
            )
        return child

    async def delete(self, repository: str, reference: Reference) -> None:
        if reference.tag is not None:
            await self._index.delete_tag(repository, reference.tag)
        else:
            await self._index.delete_manifest(repository, str(reference.digest))

    async def tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        if not await self._index.repository_exists(repository):
            raise NameUnknown(f"repository {repository} is not known to this registry")
        return await self._index.list_tags(repository, last, limit)

    async def repositories(self, last: str | None, limit: int) -> list[str]:
        return await self._index.list_repositories(last, limit)

    async def referrers(self, repository: str, subject: Digest, artifact_type: str | None) -> bytes:
        """The OCI image index listing the manifests whose subject is `subject`."""
        descriptors = []
        for referrer in await self._index.referrers(repository, str(subject)):
            if artifact_type is not None and referrer.artifact_type != artifact_type:
                continue
            descriptor: dict[str, object] = {
                "mediaType": referrer.media_type,
                "digest": referrer.digest,
                "size": referrer.size,
            }
            if referrer.artifact_type:
                descriptor["artifactType"] = referrer.artifact_type
            if referrer.annotations:
                descriptor["annotations"] = referrer.annotations
            descriptors.append(descriptor)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
        return json.dumps(index, separators=(",", ":")).encode()

    async def _find(self, repository: str, reference: Reference) -> StoredManifest:
        stored = await self._index.get_manifest(repository, reference)
        if stored is None:
            raise ManifestUnknown(f"manifest {reference} is not in repository {repository}")
        return stored

    async def _default_platform_child(self, index: StoredManifest, accept: str | None) -> StoredManifest | None:
        for child in json.loads(index.payload).get("manifests", []):
            platform = child.get("platform") or {}
            wanted = all(platform.get(key) == value for key, value in DEFAULT_PLATFORM.items())
            if wanted and mt.accepts(accept, child.get("mediaType", "")):
                return await self._index.get_manifest(index.repository, Reference(digest=Digest.parse(child["digest"])))
        return None
