"""What a registry stores, listed and deleted by hand: `image list` and `image delete`.

Deleting by tag works as ECR's `batch-delete-image` does: the tag goes, and the image with it once no other tag
points at it. Deleting by digest deletes the image and all its tags. Registry policies apply either way (an
immutable tag is never deleted), and the bytes are garbage collection's to free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shipshape.domain.access import Action, Principal, split_repository
from shipshape.domain.digests import Digest
from shipshape.domain.errors import Conflict, ManifestUnknown, TagInvalid
from shipshape.domain.names import Reference, parse_image_reference, validate_name
from shipshape.domain.records import StoredImage
from shipshape.ports import ImageRecords
from shipshape.services.authorization import Authorizer
from shipshape.services.manifests import ManifestService
from shipshape.services.pulls import PullRecorder


class InventoryStore(Protocol):
    async def images(self, registry: str, repository: str | None = None) -> list[StoredImage]: ...


@dataclass(frozen=True, slots=True)
class ListedImage:
    image: StoredImage
    size: int  # config and layers; for an index, the distinct blobs of the images it lists


def sized(images: list[StoredImage]) -> list[ListedImage]:
    """Each image with its size; an index's is counted over its children among `images`."""
    by_key = {(image.repository, image.digest): image for image in images}
    listed = []
    for image in images:
        blobs = dict(image.blobs)
        for child in image.children:
            found = by_key.get((image.repository, child))
            if found is not None:
                blobs.update(found.blobs)
        listed.append(ListedImage(image, sum(blobs.values())))
    return listed


@dataclass(frozen=True, slots=True)
class ImageDeletion:
    """What `image delete` did."""

    repository: str
    digest: str
    tags_removed: tuple[str, ...]
    manifest_deleted: bool
    note: str | None = None  # why the manifest stayed, when it did


class Inventory:
    def __init__(
        self,
        store: InventoryStore,
        records: ImageRecords,
        manifests: ManifestService,
        authorizer: Authorizer,
        pulls: PullRecorder | None = None,
    ) -> None:
        self._store = store
        self._records = records
        self._manifests = manifests
        self._authorizer = authorizer
        self._pulls = pulls

    async def list_images(self, principal: Principal, path: str) -> list[ListedImage]:
        """The images of registry `path` (or of the repository `path` names) that `principal` may pull."""
        validate_name(path)
        registry, repository = split_repository(path)
        if self._pulls is not None:
            await self._pulls.flush()
        found = await self._store.images(registry, path if repository else None)
        readable: dict[str, bool] = {}
        for name in {image.repository for image in found}:
            readable[name] = Action.PULL in await self._authorizer.actions(principal, name)
        visible = [image for image in found if readable[image.repository]]
        if not visible:
            # Nothing to show: say why if the caller may not look here at all (or the registry does not exist).
            await self._authorizer.require(principal, path, Action.PULL)
        return sized(visible)

    async def delete_image(self, principal: Principal, reference: str) -> ImageDeletion:
        repository, parsed = parse_image_reference(reference)
        if parsed is None:
            raise TagInvalid(
                f"delete which image? name it by tag or digest, e.g. {reference}:v1 or {reference}@sha256:…"
            )
        await self._authorizer.require(principal, repository, Action.DELETE)
        record = await self._records.image_record(repository, parsed)
        if record is None:
            raise ManifestUnknown(f"{reference} is not stored: see `shipshape image list {repository}`")
        digest = record.manifest.digest
        if parsed.tag is None:
            await self._manifests.delete(repository, parsed, principal)
            return ImageDeletion(repository, digest, record.tags, manifest_deleted=True)
        await self._manifests.delete(repository, parsed, principal)
        others = tuple(tag for tag in record.tags if tag != parsed.tag)
        if others:
            return ImageDeletion(
                repository, digest, (parsed.tag,), False, f"still tagged {', '.join(others)}: the image stays"
            )
        try:
            await self._manifests.delete(repository, Reference(digest=Digest.parse(digest)), principal)
        except Conflict as error:
            return ImageDeletion(repository, digest, (parsed.tag,), False, error.message)
        except ManifestUnknown:
            pass  # deleted meanwhile
        return ImageDeletion(repository, digest, (parsed.tag,), True)
