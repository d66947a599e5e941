"""A registry's policy in words, as the console shows it: one short sentence per rule in force.

Sentences name tags and patterns between backticks (`latest`); `plain` turns them into quotes for places that
show text only, such as a select option's explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipshape.domain.policies import (
    ENVIRONMENT_PREFIX,
    REGEX_PREFIX,
    ManifestCreators,
    RegistryPolicy,
    TagMutability,
)
from shipshape.domain.sizes import format_size

_PATTERN_WORDS = {"semver": "a version (v1.2.3)", "date": "a date (2026.01.15)", "commit": "a commit (commit-3f2a9c1)"}


def describe(policy: RegistryPolicy) -> list[str]:
    """The rules of `policy` as sentences, in the order a push meets them: tags, who pushes, trust, size."""
    sentences = [_mutability(policy)]
    if policy.denied_tags:
        names = _either([f"`{pattern}`" for pattern in policy.denied_tags], "and")
        sentences.append(f"{names} {'is' if len(policy.denied_tags) == 1 else 'are'} refused")
    if policy.allowed_tags:
        sentences.append(f"Tags must look like {_either([_pattern(entry) for entry in policy.allowed_tags], 'or')}")
    sentences.append(f"{_creators(policy.manifest_creators)}; {_promotions(policy)}")
    if policy.require_signature:
        sentences.append("Images need a signature (cosign or Notation) before they can be tagged")
    if policy.max_image_size is not None:
        sentences.append(f"Images larger than {format_size(policy.max_image_size)} are refused")
    return sentences


def summary(policy: RegistryPolicy) -> str:
    """`describe` as one plain paragraph."""
    return " ".join(f"{plain(sentence)}." for sentence in describe(policy))


def plain(sentence: str) -> str:
    """`latest` → “latest”: for text shown without markup."""
    parts = sentence.split("`")
    return "".join(f"“{part}”" if index % 2 else part for index, part in enumerate(parts))


def promotion_source_words(sources: Sequence[str]) -> str:
    """`env:staging`, `acme-qa` → `staging registries or acme-qa`."""
    names = [
        f"{entry.removeprefix(ENVIRONMENT_PREFIX)} registries" if entry.startswith(ENVIRONMENT_PREFIX) else entry
        for entry in sources
    ]
    return _either(names, "or")


def _mutability(policy: RegistryPolicy) -> str:
    if policy.tag_mutability is TagMutability.MUTABLE:
        return "Tags are mutable: a push may move a tag to another image"
    if not policy.mutable_tags:
        return "Tags are immutable"
    return f"Tags are immutable (except {_either(list(policy.mutable_tags), 'and')})"


def _pattern(entry: str) -> str:
    if entry in _PATTERN_WORDS:
        return _PATTERN_WORDS[entry]
    return f"`{entry.removeprefix(REGEX_PREFIX)}` (a regular expression)"


def _creators(creators: ManifestCreators) -> str:
    if creators is ManifestCreators.ANY:
        return "Members and credentials with push rights may push"
    return "Only CI credentials may push"


def _promotions(policy: RegistryPolicy) -> str:
    if not policy.allows_promotion():
        return "promotions are refused"
    if not policy.promotion_sources:
        return "promotions are accepted from no registry"
    built = " if CI built the image" if policy.manifest_creators is ManifestCreators.CI_OR_PROMOTION else ""
    return f"promotions from {promotion_source_words(policy.promotion_sources)} are accepted{built}"


def _either(words: list[str], conjunction: str) -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
