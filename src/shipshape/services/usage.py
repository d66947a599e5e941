"""`shipshape usage`: what an account (or one registry of it) stores and where — totals against the quota, per
registry and per repository, the largest repositories, images and layers, the images nobody pulls, the images that
grew most since their previous tag, and the daily history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Protocol

from shipshape.domain.access import Account, Registry
from shipshape.domain.records import StoredImage
from shipshape.domain.usage import Usage, UsageSnapshot, percent_of
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.accounts import known_account
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.registries import known_registry

HISTORY_DAYS = 30


class UsageStore(Protocol):
    async def usage(self, registries: Sequence[str]) -> Usage: ...

    async def linked_blobs(self, registries: Sequence[str]) -> list[tuple[str, str, int]]: ...

    async def record_snapshots(self, account: str, day: date, totals: Mapping[str, int]) -> None: ...

    async def snapshots(self, account: str, registry: str, since: date) -> list[UsageSnapshot]: ...


class ImageInventory(Protocol):
    async def images(self, registry: str, repository: str | None = None) -> list[StoredImage]: ...


@dataclass(frozen=True, slots=True)
class ScopeUsage:
    """A registry's or repository's distinct blobs (a blob shared by two repositories counts in each)."""

    name: str
    bytes: int
    blobs: int
    manifests: int


@dataclass(frozen=True, slots=True)
class ImageUsage:
    repository: str
    digest: str
    tags: tuple[str, ...]
    size: int
    pushed_at: datetime
    last_pulled_at: datetime | None


@dataclass(frozen=True, slots=True)
class LayerUsage:
    digest: str
    size: int
    repositories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Growth:
    """An image against the image tagged before it in the same repository."""

    image: ImageUsage
    previous: ImageUsage

    @property
    def grew_by(self) -> int:
        return self.image.size - self.previous.size


@dataclass(frozen=True, slots=True)
class UsageReport:
    account: Account
    registry: str | None  # the one registry reported on, or None for the whole account
    used: Usage  # of the scope reported on
    account_bytes: int  # what counts against the quota
    registries: tuple[ScopeUsage, ...]
    repositories: tuple[ScopeUsage, ...]  # every one, largest first
    largest_images: tuple[ImageUsage, ...]
    largest_layers: tuple[LayerUsage, ...]
    unpulled: tuple[ImageUsage, ...]  # not pulled for `unpulled_days`, oldest push first
    unpulled_days: int
    growth: tuple[Growth, ...]  # grew most first
    history: tuple[UsageSnapshot, ...]
    at: datetime

    @property
    def percent(self) -> int:
        return percent_of(self.account_bytes, self.account.quota_bytes)


class UsageReports:
    def __init__(
        self, usage: UsageStore, images: ImageInventory, access: AccessStore, audit: AuditLog, clock: Clock
    ) -> None:
        self._usage = usage
        self._images = images
        self._access = access
        self._audit = audit
        self._clock = clock

    async def report(
        self,
        actor: Actor,
        account: str | None = None,
        registry: str | None = None,
        unpulled_days: int = 30,
        top: int = 10,
    ) -> UsageReport:
        """Usage of `registry`, or of `account` (default: the caller's own)."""
        scope: Registry | None = await known_registry(self._access, registry) if registry is not None else None
        name = scope.account if scope is not None else (account or actor.member.account)
        await self._audit.enforce(actor, rights.may_read(actor.member, name), "usage.show", name, name)
        found = await known_account(self._access, name)
        every = [each.name for each in await self._access.list_registries(name)]
        names = [scope.name] if scope is not None else every
        now = self._clock.now()
        links = await self._usage.linked_blobs(names)
        images = [image for each in names for image in await self._images.images(each)]
        account_usage = await self._usage.usage(every)
        used = account_usage if scope is None else await self._usage.usage(names)
        per_registry = {each: await self._usage.usage([each]) for each in names}
        await self._usage.record_snapshots(
            name, now.date(), {"": account_usage.bytes, **{each: usage.bytes for each, usage in per_registry.items()}}
        )
        history = await self._usage.snapshots(name, scope.name if scope else "", now.date() - timedelta(HISTORY_DAYS))
        sized = [_image_usage(image) for image in images]
        cutoff = now - timedelta(days=unpulled_days)
        return UsageReport(
            account=found,
            registry=scope.name if scope is not None else None,
            used=used,
            account_bytes=account_usage.bytes,
            registries=tuple(
                ScopeUsage(each, usage.bytes, usage.blobs, usage.manifests) for each, usage in per_registry.items()
            ),
            repositories=tuple(_by_repository(links, images)),
            largest_images=tuple(sorted(sized, key=lambda image: (-image.size, image.repository)))[:top],
            largest_layers=tuple(_largest_layers(links, top)),
            unpulled=tuple(
                sorted(
                    (image for image in sized if (image.last_pulled_at or image.pushed_at) < cutoff),
                    key=lambda image: image.pushed_at,
                )
            ),
            unpulled_days=unpulled_days,
            growth=tuple(_growth(images, top)),
            history=tuple(history),
            at=now,
        )

    async def snapshot_all(self) -> int:
        """Today's usage of every account and registry (the server does this daily); returns the accounts seen."""
        accounts = await self._access.list_accounts()
        today = self._clock.now().date()
        for account in accounts:
            names = [each.name for each in await self._access.list_registries(account.name)]
            totals = {"": (await self._usage.usage(names)).bytes}
            for each in names:
                totals[each] = (await self._usage.usage([each])).bytes
            await self._usage.record_snapshots(account.name, today, totals)
        return len(accounts)


def _image_usage(image: StoredImage) -> ImageUsage:
    return ImageUsage(
        repository=image.repository,
        digest=image.digest,
        tags=image.tags,
        size=sum(image.blobs.values()),
        pushed_at=image.last_pushed_at,
        last_pulled_at=image.last_pulled_at,
    )


def _by_repository(links: Iterable[tuple[str, str, int]], images: Iterable[StoredImage]) -> list[ScopeUsage]:
    sizes: dict[str, dict[str, int]] = defaultdict(dict)
    for repository, digest, size in links:
        sizes[repository][digest] = size
    manifests: dict[str, int] = defaultdict(int)
    for image in images:
        manifests[image.repository] += 1
    found = [
        ScopeUsage(repository, sum(blobs.values()), len(blobs), manifests.get(repository, 0))
        for repository, blobs in sizes.items()
    ]
    return sorted(found, key=lambda scope: (-scope.bytes, scope.name))


def _largest_layers(links: Iterable[tuple[str, str, int]], top: int) -> list[LayerUsage]:
    where: dict[str, set[str]] = defaultdict(set)
    sizes: dict[str, int] = {}
    for repository, digest, size in links:
        where[digest].add(repository)
        sizes[digest] = size
    largest = sorted(sizes, key=lambda digest: (-sizes[digest], digest))[:top]
    return [LayerUsage(digest, sizes[digest], tuple(sorted(where[digest]))) for digest in largest]


def _growth(images: Iterable[StoredImage], top: int) -> list[Growth]:
    """Each tagged image against the one tagged before it in its repository; those that grew, most first."""
    by_repository: dict[str, list[StoredImage]] = defaultdict(list)
    for image in images:
        if image.tags and image.blobs:
            by_repository[image.repository].append(image)
    grown: list[Growth] = []
    for tagged in by_repository.values():
        ordered = sorted(tagged, key=lambda image: image.last_pushed_at)
        for previous, image in pairwise(ordered):
            growth = Growth(_image_usage(image), _image_usage(previous))
            if growth.grew_by > 0:
                grown.append(growth)
    return sorted(grown, key=lambda growth: -growth.grew_by)[:top]
