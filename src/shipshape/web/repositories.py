"""What the registry and repository pages list, shaped from the inventory's images: repositories with their
counts, a repository's tags one row each, its untagged manifests, and the slice of a list one page shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from shipshape.domain.access import split_repository
from shipshape.domain.records import Arrival, Provenance
from shipshape.services.inventory import ListedImage

PER_PAGE = 50
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    path: str  # `acme-dev/web/api`
    name: str  # `web/api`, inside its registry
    tags: int
    images: int  # manifests that are images or indexes: not an index's platforms, not signatures
    bytes: int  # the distinct blobs its manifests reference
    last_push: datetime


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """One page of a list: its rows, its number, and whether another page follows."""

    rows: tuple[T, ...]
    page: int
    more: bool


@dataclass(frozen=True, slots=True)
class TagRow:
    """One tag of a repository, and the image it names."""

    tag: str
    listed: ListedImage
    immutable: bool


@dataclass(frozen=True, slots=True)
class Origin:
    """How an image came into its repository: pushed or promoted, by whom, and from where."""

    how: str  # "pushed" or "promoted"
    by: str | None  # the credential when a machine acted, else the member; None when authentication was off
    source: str | None  # `registry/repo@digest` of a promotion
    built_by_ci: bool

    @classmethod
    def of(cls, provenance: Provenance) -> Origin:
        how = "promoted" if provenance.via is Arrival.PROMOTION else "pushed"
        by = provenance.credential or provenance.actor
        return cls(how, by, provenance.promoted_from, provenance.built_by_ci)


def page_number(text: str | None) -> int:
    """`?page=`: a positive number, else the first page."""
    try:
        number = int(text or "1")
    except ValueError:
        return 1
    return number if number >= 1 else 1


def paged(rows: Sequence[T], page: int, per_page: int = PER_PAGE) -> Slice[T]:
    start = (page - 1) * per_page
    return Slice(tuple(rows[start : start + per_page]), page, len(rows) > start + per_page)


def top_level(images: Sequence[ListedImage]) -> list[ListedImage]:
    """The images and indexes people push: not the platforms an index of the same repository lists, not the
    signatures and SBOMs attached to an image."""
    children = {(each.image.repository, child) for each in images for child in each.image.children}
    return [
        each
        for each in images
        if each.image.subject is None and (each.image.repository, each.image.digest) not in children
    ]


def summarize(images: Sequence[ListedImage]) -> list[RepositorySummary]:
    """Each repository of `images`, the most recently pushed first."""
    by_path: dict[str, list[ListedImage]] = {}
    for each in images:
        by_path.setdefault(each.image.repository, []).append(each)
    summaries = []
    for path, found in by_path.items():
        blobs: dict[str, int] = {}
        for each in found:
            blobs.update(each.image.blobs)
        shown = top_level(found)
        summaries.append(
            RepositorySummary(
                path=path,
                name=split_repository(path)[1] or path,
                tags=sum(len(each.image.tags) for each in found),
                images=len(shown),
                bytes=sum(blobs.values()),
                last_push=max(each.image.last_pushed_at for each in found),
            )
        )
    return sorted(summaries, key=lambda s: (-s.last_push.timestamp(), s.path))


def search(summaries: Sequence[RepositorySummary], query: str) -> list[RepositorySummary]:
    """The repositories whose name contains `query`, ignoring case (all of them for an empty query)."""
    needle = query.strip().casefold()
    return [each for each in summaries if needle in each.name.casefold()] if needle else list(summaries)


def tag_rows(images: Sequence[ListedImage], immutable: Mapping[str, bool]) -> list[TagRow]:
    """One row per tag, the most recently pushed image first; `immutable` tells each tag's state."""
    rows = [TagRow(tag, each, immutable[tag]) for each in images for tag in each.image.tags]
    return sorted(rows, key=lambda row: (-row.listed.image.last_pushed_at.timestamp(), row.tag))


def untagged(images: Sequence[ListedImage]) -> list[ListedImage]:
    """Top-level manifests no tag names (what `expire-untagged` retention rules delete), the newest first."""
    found = [each for each in top_level(images) if not each.image.tags]
    return sorted(found, key=lambda each: -each.image.last_pushed_at.timestamp())
