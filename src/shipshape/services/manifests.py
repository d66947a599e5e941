"""Manifests: push (validated, by tag or digest), pull with content negotiation, delete; tags and referrers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from shipshape.domain import media_types as mt
from shipshape.domain.access import Anonymous, AuditEvent, Principal, Registry
from shipshape.domain.digests import Digest
from shipshape.domain.errors import DigestInvalid, ManifestUnknown, NameUnknown, PolicyRefused
from shipshape.domain.events import EventKind
from shipshape.domain.manifests import Manifest, parse_manifest
from shipshape.domain.names import Reference
from shipshape.domain.records import ManifestDeletion, StoredManifest
from shipshape.policy.creators import check_push
from shipshape.policy.deletion import check_deletion
from shipshape.policy.image_size import check_image_size
from shipshape.policy.refusals import enforce
from shipshape.policy.tags import check_tag_delete, check_tag_move, check_tag_name
from shipshape.policy.trust import check_signed
from shipshape.ports import Alongside, Clock, ManifestIndex
from shipshape.services.policies import RegistryRules, pushed_by

# When a client does not accept an index, it gets this platform's image, as Distribution does.
DEFAULT_PLATFORM = {"os": "linux", "architecture": "amd64"}


class ManifestAdmission(Protocol):
    """The storage quota, as a manifest push meets it (`shipshape.services.quotas`)."""

    async def admit_manifest(self, registry: Registry, repository: str, digest: str, size: int) -> None: ...


class ManifestService:
    """`rules` is None when authentication is off: then there are no registries, so no policies and no events."""

    def __init__(
        self,
        index: ManifestIndex,
        clock: Clock,
        rules: RegistryRules | None = None,
        quota: ManifestAdmission | None = None,
    ) -> None:
        self._quota = quota
        self._index = index
        self._clock = clock
        self._rules = rules

    async def push(
        self,
        repository: str,
        reference: Reference,
        payload: bytes,
        content_type: str | None,
        principal: Principal | None = None,
        audit: AuditEvent | None = None,
    ) -> Manifest:
        """Validate and store `manifest`, judged by its registry's policy; `audit` (the request's entry in the
        audit trail) and the push's webhook deliveries are recorded in the same transaction."""
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        manifest = parse_manifest(payload, content_type, algorithm)
        if reference.digest is not None and reference.digest != manifest.digest:
            raise DigestInvalid(
                f"manifest content has digest {manifest.digest}, not {reference.digest}: push it by tag"
                " or by its real digest"
            )
        rules = self._rules
        registry = await rules.registry_of(repository) if rules is not None else None
        if rules is None:
            await self._index.put_manifest(repository, manifest, reference.tag, self._clock.now())
            return manifest
        if registry is None:  # deleted after the request was let in
            raise NameUnknown(
                f"registry of {repository!r} does not exist: create it first", detail={"name": repository}
            )
        digest, tag = str(manifest.digest), reference.tag
        try:
            enforce(check_push(registry, principal or Anonymous()))
            if tag is not None:
                enforce(check_tag_name(registry, tag))
            enforce(check_image_size(registry, manifest))
            if self._quota is not None:
                await self._quota.admit_manifest(registry, repository, digest, len(payload))

            # Judged inside the write transaction, on what is stored then.
            def may_move(current: str) -> None:
                enforce(check_tag_move(registry, repository, tag or "", current, digest))

            def may_tag(referrer_types: Sequence[str | None]) -> None:
                enforce(check_signed(registry, repository, digest, tag or "", referrer_types))

            owed = await rules.owed(
                rules.event(EventKind.PUSH, registry, repository, principal, digest=digest, tag=tag)
            )
            alongside = Alongside(audit=(audit,) if audit is not None else (), deliveries=owed)
            await self._index.put_manifest(
                repository, manifest, tag, self._clock.now(), pushed_by(principal), may_move,
                may_tag if registry.rules.require_signature else None, alongside, registry.name,
            )  # fmt: skip
        except PolicyRefused as error:
            await self._refused(error, registry, repository, principal, digest, tag)
            raise
        rules.recorded(owed)
        return manifest

    async def require_creator(self, repository: str, principal: Principal | None) -> None:
        """Refuse, before any bytes arrive, an upload by someone who may never create manifests here: their blobs
        could only be left behind."""
        registry = await self._rules.registry_of(repository) if self._rules is not None else None
        if registry is not None:
            enforce(check_push(registry, principal or Anonymous()))

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

    async def delete(self, repository: str, reference: Reference, principal: Principal | None = None) -> None:
        registry = await self._rules.registry_of(repository) if self._rules is not None else None
        tag, digest = reference.tag, str(reference.digest) if reference.digest else None
        try:
            if tag is not None:
                await self._delete_tag(registry, repository, tag)
            else:
                await self._delete_manifest(registry, repository, str(digest))
        except PolicyRefused as error:
            if registry is not None:
                await self._refused(error, registry, repository, principal, digest, tag)
            raise
        if registry is not None:
            await self._publish(EventKind.DELETE, registry, repository, principal, digest, tag)

    async def _delete_tag(self, registry: Registry | None, repository: str, tag: str) -> None:
        if registry is not None and registry.rules.tag_is_immutable(tag):
            await self._find(repository, Reference(tag=tag))  # an unknown tag is unknown, not refused
            enforce(check_tag_delete(registry, repository, tag))
        await self._index.delete_tag(repository, tag)

    async def _delete_manifest(self, registry: Registry | None, repository: str, digest: str) -> None:
        if registry is None:
            await self._index.delete_manifest(repository, digest)
            return

        def may_delete(deletion: ManifestDeletion) -> None:
            enforce(check_deletion(registry, repository, deletion))

        await self._index.delete_manifest(repository, digest, may_delete)

    async def _publish(
        self, kind: EventKind, registry: Registry, repository: str, principal: Principal | None,
        digest: str | None, tag: str | None,
    ) -> None:  # fmt: skip
        if self._rules is not None:
            await self._rules.publish(kind, registry, repository, principal, digest=digest, tag=tag)

    async def _refused(
        self, error: PolicyRefused, registry: Registry, repository: str, principal: Principal | None,
        digest: str | None, tag: str | None,
    ) -> None:  # fmt: skip
        if self._rules is not None:
            await self._rules.refused(error, registry, repository, principal, digest=digest, tag=tag)

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
