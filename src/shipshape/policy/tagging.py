"""Whether a tag may point at a manifest: the rules a push and a promotion both apply."""

from __future__ import annotations

from collections.abc import Iterable

from shipshape.domain.access import Registry
from shipshape.policy.refusals import Refusal
from shipshape.policy.tags import check_tag_name
from shipshape.policy.trust import check_signed


def check_tagging(
    registry: Registry, repository: str, digest: str, tag: str, referrer_types: Iterable[str | None]
) -> Refusal | None:
    """The tag's name first, then (where the registry requires it) a signature among the manifest's referrers."""
    return check_tag_name(registry, tag) or check_signed(registry, repository, digest, tag, referrer_types)
