"""The small interfaces the services depend on; `shipshape.app` picks the implementations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from shipshape.domain.access import Account, AuditEvent, Credential, Member, Registry
from shipshape.domain.digests import Digest
from shipshape.domain.events import RegistryEvent
from shipshape.domain.manifests import Manifest
from shipshape.domain.names import Reference
from shipshape.domain.policies import RegistryPolicy
from shipshape.domain.records import (
    ManifestDeletion,
    PromotedImage,
    Provenance,
    Pulls,
    PullTally,
    StoredManifest,
    UploadSession,
)
from shipshape.domain.webhooks import Delivery, Webhook

# Policy checks that must see the stored state in the transaction that changes it; they raise to refuse.
TagMoveGuard = Callable[[str], None]  # called with the digest an existing tag points at, when the push moves it
TaggingGuard = Callable[[Sequence[str | None]], None]  # called with the artifact types of the manifest's referrers
ManifestDeleteGuard = Callable[[ManifestDeletion], None]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A committed blob that can be sent straight from the local filesystem (sendfile)."""

    path: Path
    size: int


class RemoteBlob(Protocol):
    """A committed blob held by another service (an object store): streamed through, or fetched by the client."""

    @property
    def size(self) -> int: ...

    @property
    def redirect_url(self) -> str | None:
        """A short-lived URL the client may fetch the bytes from itself (None: stream them)."""
        ...

    def read(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start` up to (not including) `end`."""
        ...


OpenBlob = LocalFile | RemoteBlob


@dataclass(frozen=True, slots=True)
class StoredBytes:
    """A blob's bytes (`name` its digest) or an upload's (`name` its id) as the blob store holds them."""

    name: str
    size: int
    modified_at: datetime


class UploadWriter(Protocol):
    """Appends to one upload's bytes; `close` makes what was written durable enough to read back."""

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class BlobStore(Protocol):
    """Byte storage for blobs and uploads in progress. It knows digests and upload ids, nothing else.

    Errors: a missing upload raises `FileNotFoundError`; a missing blob yields `None` from `stat`.
    """

    async def start_upload(self, upload_id: str) -> None:
        """Create an empty upload."""
        ...

    async def append_to_upload(self, upload_id: str, size: int | None = None) -> UploadWriter:
        """Open the upload for appending at its current end; `size` is that end when the caller just asked
        `upload_size` (it saves the store a lookup)."""
        ...

    async def upload_size(self, upload_id: str) -> int:
        """How many bytes the upload holds."""
        ...

    def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        """The upload's bytes so far (to rebuild a hash state another process held)."""
        ...

    async def seal_upload(self, upload_id: str) -> None:
        """Make the upload's bytes durable (before `commit_upload`, which may run with a database lock held)."""
        ...

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        """Atomically make the sealed upload's bytes the blob `digest`; when the blob is stored already, do nothing
        (the caller then cancels the upload).

        The caller has verified the digest, and calls this inside the transaction that records the blob, with its
        row locked, so that garbage collection cannot delete the bytes meanwhile.
        """
        ...

    async def cancel_upload(self, upload_id: str) -> None:
        """Discard the upload's bytes; missing uploads are ignored."""
        ...

    async def stat(self, digest: Digest) -> int | None:
        """The blob's size, or None when it is not stored."""
        ...

    async def open_blob(self, digest: Digest) -> OpenBlob:
        """Where to read the blob from; raises `FileNotFoundError` when it is not stored."""
        ...

    async def delete_blob(self, digest: Digest) -> None:
        """Remove the blob's bytes; missing blobs are ignored."""
        ...

    def list_blobs(self) -> AsyncIterator[list[StoredBytes]]:
        """Every stored blob, in batches (to find bytes no metadata row knows, left by a crash)."""
        ...

    def list_uploads(self) -> AsyncIterator[list[StoredBytes]]:
        """Every upload's bytes, in batches (to find uploads no session knows, left by a crash)."""
        ...


class BlobIndex(Protocol):
    """Which blobs exist and which repositories may serve them."""

    async def linked_blob_size(self, repository: str, digest: str) -> int | None:
        """The size of `digest` if it is linked into `repository`, else None."""
        ...

    async def repositories_with_blob(self, digest: str, limit: int = 100) -> list[str]:
        """Repositories (sorted) that `digest` is linked into."""
        ...

    async def link_blob(
        self, repository: str, digest: str, size: int, commit: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Record blob `digest` (if new) and link it into `repository` (created if new). Idempotent.

        An upload passes `commit`, which puts its bytes in place: it is awaited, inside the transaction and with
        the blob's row locked, when the blob is new or garbage collection was deleting it. Without `commit` the
        caller vouches that the bytes are stored.
        """
        ...

    async def link_stored_blob(self, repository: str, digest: str) -> None:
        """Link a blob that is stored already into `repository` (a mount). Raises `BlobUnknown` when it is not
        (garbage collection is deleting it)."""
        ...

    async def unlink_blob(self, repository: str, digest: str) -> None:
        """Remove the link. Raises `BlobUnknown` if it is not linked, `Conflict` if a manifest of the
        repository references the blob."""
        ...


@dataclass(frozen=True, slots=True)
class Alongside:
    """What a change records in its own transaction: its audit trail entries and the webhook deliveries it owes.
    A crash after the commit loses neither; the deliveries' table is the outbox the delivery loop reads."""

    audit: Sequence[AuditEvent] = ()
    deliveries: Sequence[Delivery] = ()


class ManifestIndex(Protocol):
    """Manifests, tags and the references between them, per repository."""

    async def put_manifest(
        self,
        repository: str,
        manifest: Manifest,
        tag: str | None,
        now: datetime,
        provenance: Provenance | None = None,
        may_move_tag: TagMoveGuard | None = None,
        may_tag: TaggingGuard | None = None,
        alongside: Alongside | None = None,
        registry: str | None = None,
    ) -> None:
        """Store `manifest` in `repository` (idempotent by digest) and point `tag` at it, in one transaction,
        which records `alongside` too, and which finds `registry` (if given) still there, locked against its
        deletion until the end: a push and the deletion of its registry are one after the other.

        Raises `ManifestBlobUnknown` if a blob it references is not linked into the repository and
        `ManifestUnknown` if a child manifest of an index is not in the repository, `NameUnknown` if `registry`
        is gone; `may_move_tag` is called
        when `tag` exists and points elsewhere, `may_tag` with the manifest's referrers (locked until the end), and
        either may raise. Whatever is raised, nothing is stored.
        `provenance` is recorded when the manifest is new to the repository.
        """
        ...

    async def get_manifest(self, repository: str, reference: Reference) -> StoredManifest | None:
        """The manifest a tag points at, or the manifest with that digest, in `repository`."""
        ...

    async def delete_manifest(
        self, repository: str, digest: str, may_delete: ManifestDeleteGuard | None = None
    ) -> None:
        """Delete the manifest and every tag pointing at it. Raises `ManifestUnknown` if absent and `Conflict`
        if an index in the repository lists it; `may_delete` is shown what the deletion changes (its tags, and for
        a referrer its subject's tags and other referrers) before the transaction commits, and may raise."""
        ...

    async def delete_tag(self, repository: str, tag: str) -> None:
        """Remove the tag only. Raises `ManifestUnknown` if there is no such tag."""
        ...

    async def repository_exists(self, repository: str) -> bool: ...

    async def list_tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        """Tags of `repository` sorted lexically, after `last`, at most `limit` (None: all)."""
        ...

    async def list_repositories(self, last: str | None, limit: int) -> list[str]:
        """Repository names sorted lexically, after `last`, at most `limit`."""
        ...

    async def referrers(self, repository: str, subject: str) -> list[StoredManifest]:
        """Manifests in `repository` whose subject is `subject`, oldest first."""
        ...


class PromotionIndex(Protocol):
    """Promotion: the same manifests by digest in another repository, sharing the blobs."""

    async def promote(
        self,
        source: str,
        digest: str,
        target: str,
        tag: str | None,
        now: datetime,
        provenance: Provenance,
        may_move_tag: TagMoveGuard | None = None,
    ) -> PromotedImage:
        """In one transaction: link the blobs of `source@digest`, of the manifests it lists and of their referrers
        into `target`, store those manifests there (provenance: promoted from `source`) and point `tag` at
        `digest`. Raises `ManifestUnknown` if `source` lacks `digest`; whatever is raised, nothing is stored."""
        ...


class UploadIndex(Protocol):
    """Upload sessions in progress."""

    async def create_upload(self, session: UploadSession) -> None: ...

    async def get_upload(self, repository: str, upload_id: str) -> UploadSession | None: ...

    async def touch_upload(self, upload_id: str, now: datetime) -> None: ...

    async def delete_upload(self, upload_id: str) -> None: ...

    async def uploads_idle_since(self, before: datetime, limit: int = 1000) -> list[UploadSession]:
        """Sessions not touched since `before` (to purge abandoned uploads)."""
        ...


class PullLog(Protocol):
    """Where batches of pulls are written (`shipshape.services.pulls`)."""

    async def record_pulls(self, tallies: Sequence[PullTally]) -> int:
        """Add the tallies to their manifests' counts; returns how many manifests were found."""
        ...


class MetadataStore(BlobIndex, ManifestIndex, PromotionIndex, UploadIndex, Protocol):
    """Everything the registry records in SQL. Services depend on the narrower parts."""

    async def close(self) -> None: ...


class AccessStore(Protocol):
    """Accounts, registries, members, credentials, failed logins and the audit trail.

    Names are unique server-wide: account names, registry names, and usernames (members and credentials share
    one namespace so a login name is never ambiguous). Creating a duplicate raises `Conflict`.
    """

    async def create_account(self, account: Account) -> None: ...

    async def get_account(self, name: str) -> Account | None: ...

    async def list_accounts(self) -> list[Account]: ...

    async def set_account_quota(self, name: str, quota_bytes: int) -> Account:
        """Raises `NameUnknown` if the account does not exist."""
        ...

    async def create_registry(self, registry: Registry, now: datetime) -> None:
        """Raises `NameUnknown` if the account does not exist."""
        ...

    async def get_registry(self, name: str) -> Registry | None: ...

    async def list_registries(self, account: str | None) -> list[Registry]:
        """Sorted by name; every account's when `account` is None."""
        ...

    async def change_registry_policy(
        self, name: str, change: Callable[[RegistryPolicy], RegistryPolicy]
    ) -> tuple[Registry, RegistryPolicy]:
        """Replace the registry's policy with `change(current)` in one transaction (`change` may raise: then
        nothing changes); the registry as it was, and the new policy. Raises `NameUnknown` if absent."""
        ...

    async def delete_registry(self, name: str) -> None:
        """Raises `NameUnknown` if absent and `Conflict` while it holds images."""
        ...

    async def retention_document(self, name: str) -> dict[str, Any] | None:
        """The registry's retention rules as stored (`shipshape.domain.retention`); None: none. `NameUnknown` if
        absent."""
        ...

    async def set_retention_document(self, name: str, document: dict[str, Any] | None) -> None:
        """Replace the registry's retention rules (None: none). `NameUnknown` if absent."""
        ...

    async def registries_with_retention(self) -> list[str]:
        """Names of the registries with retention rules, sorted."""
        ...

    async def add_member(self, member: Member, password_hash: str, now: datetime) -> None: ...

    async def get_member(self, username: str) -> tuple[Member, str] | None:
        """The member and their password hash."""
        ...

    async def set_member_password(self, username: str, password_hash: str) -> None: ...

    async def list_members(self, account: str) -> list[Member]: ...

    async def remove_member(self, account: str, username: str) -> None:
        """Raises `NameUnknown` if absent."""
        ...

    async def create_credential(self, credential: Credential) -> None: ...

    async def get_credential(self, username: str) -> Credential | None: ...

    async def list_credentials(self, account: str) -> list[Credential]: ...

    async def save_credential(self, credential: Credential) -> None:
        """Replace the stored secrets, expiry, revocation, rotation and last-used times of an existing credential."""
        ...

    async def record_credential_use(self, username: str, now: datetime) -> None:
        """Move the last-used time forward to `now`, touching nothing else (so it cannot undo a revoke)."""
        ...

    async def forget_login_failures_before(self, before: datetime) -> int:
        """Delete failed logins older than `before`; returns how many."""
        ...

    async def record_login_failure(self, identity: str, remote: str | None, now: datetime) -> None: ...

    async def login_failures_since(self, identity: str, remote: str | None, since: datetime) -> tuple[int, int]:
        """Failures since `since` for this identity, and from this client address."""
        ...

    async def clear_login_failures(self, identity: str) -> None: ...

    async def record_audit(self, event: AuditEvent) -> None: ...

    async def audit_events(
        self, account: str | None, registry: str | None, since: datetime | None, limit: int
    ) -> list[AuditEvent]:
        """Newest first."""
        ...


class Epoch(Protocol):
    """A number every server process can read cheaply, advanced whenever what some cache holds changes: the
    revocation epoch when a secret stops being valid early (reset, revoke, password change), so that caches of
    verified logins everywhere are dropped at once; the settings epoch when a registry, its policy or a webhook
    changes."""

    def current(self) -> int: ...

    def advance(self) -> None: ...


class EpochCounter(Protocol):
    """Epochs where every process can read them, on any host: the metadata database. `name` is `revocations`
    or `settings`."""

    async def epoch(self, name: str) -> int: ...

    async def advance_epoch(self, name: str) -> None: ...


class EventSink(Protocol):
    """Where registry events go (the webhooks). Publishing never fails the operation that caused the event."""

    async def publish(self, event: RegistryEvent) -> None: ...

    async def owed(self, event: RegistryEvent) -> list[Delivery]:
        """The deliveries `event` owes, for the change that causes it to record in its own transaction."""
        ...

    def recorded(self) -> None:
        """Deliveries were recorded with a change (committed): deliver them now."""
        ...


class WebhookStore(Protocol):
    """Webhooks per account or registry (`shipshape.domain.webhooks`), and reading back their deliveries."""

    async def create_webhook(self, webhook: Webhook) -> None:
        """Raises `NameUnknown` if the account does not exist."""
        ...

    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    async def list_webhooks(self, account: str | None, registry: str | None) -> list[Webhook]:
        """Those of `account` and `registry` (None: any), oldest first."""
        ...

    async def delete_webhook(self, webhook_id: str) -> None:
        """Delete it and its deliveries. Raises `NameUnknown` if absent."""
        ...

    async def subscribers(self, account: str, registry: str) -> list[Webhook]:
        """The webhooks of `account` that hear every registry, and those of `registry`."""
        ...

    async def deliveries(self, webhook_id: str, limit: int) -> list[Delivery]:
        """Newest first, at most `limit`."""
        ...


class DeliveryQueue(Protocol):
    """Deliveries owed to webhooks, claimed with a lease so that no two processes send one at the same time."""

    async def enqueue(self, owed: Sequence[Delivery]) -> None: ...

    async def forget_finished(self, before: datetime) -> int:
        """Delete delivered and failed deliveries created before `before`; returns how many."""
        ...

    async def claim(self, now: datetime, lease_until: datetime, claim: str, limit: int) -> list[Delivery]:
        """Up to `limit` pending deliveries due at `now`, each with one more attempt counted, hidden from other
        claims until `lease_until` (and marked with `claim`)."""
        ...

    async def finish(self, attempt: Delivery, claim: str) -> bool:
        """Record the state, status, error, next attempt and delivery time of `attempt`, if `claim` still holds
        it; False when it does not (the lease ran out and another claim took over)."""
        ...


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A manifest with how it arrived in its repository and the tags pointing at it."""

    manifest: StoredManifest
    provenance: Provenance
    tags: tuple[str, ...]  # sorted
    pulls: Pulls = field(default_factory=Pulls)


class ImageRecords(Protocol):
    """What showing an image reads besides its referrers: the manifest with its provenance and tags, and the
    manifests an index lists."""

    async def image_record(self, repository: str, reference: Reference) -> ImageRecord | None:
        """The manifest a tag points at, or the manifest with that digest, in `repository`; None if absent."""
        ...

    async def child_manifests(self, repository: str, digest: str) -> list[StoredManifest]:
        """The manifests that index `digest` of `repository` lists and the repository stores, by digest."""
        ...
