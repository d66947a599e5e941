"""What the metadata store keeps about manifests and uploads, as plain values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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


class Arrival(StrEnum):
    """How a manifest arrived in a repository."""

    PUSH = "push"
    PROMOTION = "promotion"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who brought a manifest into its repository, how, and (for a promotion) from where."""

    via: Arrival = Arrival.PUSH
    actor: str | None = None  # a member's or credential's username; None when authentication is off
    credential: str | None = None  # the credential's username when a machine acted
    promoted_from: str | None = None  # `registry/repo@digest` for a promotion
    built_by_ci: bool = False  # pushed by a `ci` credential, or promoted from a manifest that was


@dataclass(frozen=True, slots=True)
class PromotedImage:
    """What a promotion put into the target repository."""

    digest: str
    manifests: int  # manifests in the promoted closure (the image, an index's images, referrers)
    blobs: int  # distinct blobs linked into the target (none copied)


@dataclass(frozen=True, slots=True)
class ManifestDeletion:
    """What deleting a manifest would change, read inside the deleting transaction for a policy to judge."""

    digest: str
    tags: Sequence[str]  # the tags pointing at it (they go with it)
    artifact_type: str | None
    subject: str | None  # the manifest it refers to, if it is a referrer
    subject_tags: Sequence[str] = ()  # the subject's tags
    other_referrer_types: Sequence[str | None] = ()  # artifact types of the subject's remaining referrers


@dataclass(frozen=True, slots=True)
class PullTally:
    """Pulls of one manifest by one puller since the last batch was written."""

    repository: str
    digest: str
    puller: str  # a credential's or member's username, or `anonymous`
    count: int
    last_pulled_at: datetime


@dataclass(frozen=True, slots=True)
class PullCount:
    """How often one puller pulled a manifest, and when last."""

    puller: str
    count: int
    last_pulled_at: datetime


@dataclass(frozen=True, slots=True)
class Pulls:
    """A manifest's pulls: in all, and per puller (most recent first)."""

    count: int = 0
    last_pulled_at: datetime | None = None
    by: tuple[PullCount, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A manifest as listings and retention see it: where it is, its tags, what it references, when it was pushed
    and pulled."""

    repository: str  # the full path, `acme-dev/web/api`
    digest: str
    media_type: str
    tags: tuple[str, ...]  # sorted
    pushed_at: datetime  # when it arrived in the repository
    tagged_at: datetime | None  # when one of its tags was last set
    pull_count: int
    last_pulled_at: datetime | None
    subject: str | None  # for a referrer, the manifest it refers to
    children: tuple[str, ...]  # for an index, the manifests it lists
    blobs: Mapping[str, int]  # digest → size of the config and layers it references

    @property
    def last_pushed_at(self) -> datetime:
        """When it arrived or was last tagged, whichever is later: a re-tag counts as a push."""
        return max(self.pushed_at, self.tagged_at) if self.tagged_at is not None else self.pushed_at
