"""Tag rules: which names a tag may have, and whether it may move or be deleted (`tag_mutability`)."""

from __future__ import annotations

from collections.abc import Iterable

from shipshape.domain.access import Registry
from shipshape.domain.policies import describe_allowed_tags
from shipshape.policy.refusals import Refusal

VERSION_TAG_ADVICE = "use an immutable version tag such as v1.2.3"


def check_tag_name(registry: Registry, tag: str) -> Refusal | None:
    """Refuse a tag the registry denies by name or that matches none of its allowed patterns."""
    policy = registry.rules
    denied = policy.denied_pattern(tag)
    if denied is not None:
        advice = f"use a tag such as {_example(registry)}" if policy.allowed_tags else VERSION_TAG_ADVICE
        return Refusal(
            "denied_tags",
            f"tag {tag!r} is not allowed in {registry.label}: {advice}",
            {"tag": tag, "pattern": denied},
        )
    if not policy.tag_allowed_by_patterns(tag):
        return Refusal(
            "allowed_tags",
            f"tag {tag!r} does not match the tag patterns of {registry.label}: name it by"
            f" {describe_allowed_tags(policy)}",
            {"tag": tag},
        )
    return None


def check_tag_move(registry: Registry, repository: str, tag: str, current: str, new: str) -> Refusal | None:
    """Refuse moving an immutable tag from the manifest `current` to another one, `new`."""
    if current == new or not registry.rules.tag_is_immutable(tag):
        return None
    return Refusal(
        "tag_mutability",
        f"tag {tag!r} of {repository} is immutable in {registry.label} and points at {current}: push this image"
        f" under a new tag (for example the next version) instead of moving {tag!r}",
        {"tag": tag, "current": current, "pushed": new},
    )


def check_tag_delete(registry: Registry, repository: str, tag: str) -> Refusal | None:
    """Refuse deleting an immutable tag: it is released, and a deployment may be pulling it."""
    if not registry.rules.tag_is_immutable(tag):
        return None
    return Refusal(
        "tag_mutability",
        f"tag {tag!r} of {repository} is immutable in {registry.label} and cannot be deleted: leave it to the"
        " retention rules, or have an administrator set tag_mutability to mutable first",
        {"tag": tag},
    )


def check_manifest_delete(registry: Registry, repository: str, digest: str, tags: Iterable[str]) -> Refusal | None:
    """Refuse deleting a manifest that an immutable tag points at."""
    immutable = sorted(tag for tag in tags if registry.rules.tag_is_immutable(tag))
    if not immutable:
        return None
    named = ", ".join(immutable[:5]) + (", …" if len(immutable) > 5 else "")
    return Refusal(
        "tag_mutability",
        f"manifest {digest} of {repository} is tagged {named}, immutable in {registry.label}: it cannot be"
        " deleted while an immutable tag points at it; leave it to the retention rules, or have an administrator"
        " set tag_mutability to mutable first",
        {"digest": digest, "tags": ",".join(immutable)},
    )


def _example(registry: Registry) -> str:
    return "v1.2.3" if "semver" in registry.rules.allowed_tags or not registry.rules.allowed_tags else "2026.01.15"
