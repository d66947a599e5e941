"""The reads behind every pull (a manifest by tag or digest, a blob's size), prepared once per database."""

from __future__ import annotations

from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPIConnection

from shipshape.domain.names import Reference
from shipshape.domain.records import StoredManifest
from shipshape.metadata import blob_links, manifests
from shipshape.metadata.statements import compile_for


class HotReads:
    """One indexed query each, on a DBAPI connection (see `prepared` and `statements`)."""

    def __init__(self, dialect: Dialect) -> None:
        self._manifest_by_tag = compile_for(manifests.BY_TAG, dialect)
        self._manifest_by_digest = compile_for(manifests.BY_DIGEST, dialect)
        self._linked_size = compile_for(blob_links.LINKED_SIZE, dialect)

    def manifest(self, connection: DBAPIConnection, repository: str, reference: Reference) -> StoredManifest | None:
        """The manifest `reference` (a tag or a digest) names in `repository`."""
        if reference.tag is not None:
            row = self._manifest_by_tag.first(connection, {"repository": repository, "tag": reference.tag})
        elif reference.digest is not None:
            row = self._manifest_by_digest.first(
                connection, {"repository": repository, "digest": str(reference.digest)}
            )
        else:
            raise ValueError("a reference names a tag or a digest")
        return None if row is None else manifests.stored(repository, row)

    def linked_blob_size(self, connection: DBAPIConnection, repository: str, digest: str) -> int | None:
        """The size of `digest` if it is linked into `repository`."""
        row = self._linked_size.first(connection, {"repository": repository, "digest": digest})
        return None if row is None else int(row[0])
