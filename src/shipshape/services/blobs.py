"""Reading and unlinking blobs of a repository."""

from __future__ import annotations

from shipshape.domain.digests import Digest
from shipshape.domain.errors import BlobUnknown
from shipshape.ports import BlobIndex, BlobStore, OpenBlob


class BlobService:
    def __init__(self, blobs: BlobStore, index: BlobIndex) -> None:
        self._blobs = blobs
        self._index = index

    async def size(self, repository: str, digest: Digest) -> int:
        size = await self._index.linked_blob_size(repository, str(digest))
        if size is None:
            raise BlobUnknown(f"blob {digest} is not in repository {repository}")
        return size

    async def open(self, repository: str, digest: Digest) -> OpenBlob:
        await self.size(repository, digest)
        try:
            return await self._blobs.open_blob(digest)
        except FileNotFoundError:
            raise BlobUnknown(f"blob {digest} is recorded in {repository} but its bytes are missing") from None

    async def unlink(self, repository: str, digest: Digest) -> None:
        """Remove the blob from the repository; the bytes stay until garbage collection."""
        await self._index.unlink_blob(repository, str(digest))
