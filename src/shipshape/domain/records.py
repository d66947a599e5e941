"""What the metadata store keeps about manifests and uploads, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as stored in one repository."""

    repository: str
    digest: str
    media_type: str
    payload: bytes
    artifact_type: str | None
    subject: str | None
    annotations: dict[str, str]
    created_at: datetime

    @property
    def size(self) -> int:
        return len(self.payload)


@dataclass(frozen=True, slots=True)
class UploadSession:
    """An upload in progress. Its bytes live in the blob store; the hash state lives in the receiving process."""

    id: str
    repository: str
    created_at: datetime
    updated_at: datetime
