"""A registry's policy: the release rules it enforces, with a preset per environment and a JSON document form.

Every field can be changed per registry; `preset` gives an environment's defaults (the table in DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import TypeVar

import re2

from shipshape.domain.errors import NameInvalid, PolicyInvalid
from shipshape.domain.names import validate_registry_name

_E = TypeVar("_E", bound=StrEnum)

MAX_PATTERNS = 50  # per list: the checks run on every push
MAX_PATTERN_LENGTH = 256


class Environment(StrEnum):
    """A registry's stage in the release path; it picks the registry's preset policy."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class TagMutability(StrEnum):
    MUTABLE = "mutable"
    IMMUTABLE = "immutable"  # a tag never moves to another digest and is never deleted


class ManifestCreators(StrEnum):
    """Who may create manifests in the registry."""

    ANY = "any"  # anyone with push rights: members and every kind of credential
    CI = "ci"  # pushes by `ci` credentials only; no promotion into the registry
    CI_OR_PROMOTION = "ci-or-promotion"  # pushes by `ci` credentials, and promotions from allowed sources


# Named tag patterns: a production tag names a version, a date or a commit.
TAG_PATTERNS: dict[str, str] = {
    "semver": r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?",
    "date": r"\d{4}\.(0[1-9]|1[0-2])\.(0[1-9]|[12]\d|3[01])([.-][0-9A-Za-z]+)*",
    "commit": r"(commit-)?[0-9a-f]{7,40}",
}
TAG_PATTERN_EXAMPLES = {"semver": "v1.2.3", "date": "2026.01.15", "commit": "commit-3f2a9c1"}
REGEX_PREFIX = "regex:"
ENVIRONMENT_PREFIX = "env:"  # a promotion source naming every registry of the account in that environment


@dataclass(frozen=True, slots=True)
class RegistryPolicy:
    tag_mutability: TagMutability = TagMutability.MUTABLE
    mutable_tags: tuple[str, ...] = ()  # glob patterns that stay mutable in an immutable registry, e.g. `dev-*`
    denied_tags: tuple[str, ...] = ()  # glob patterns, e.g. `latest`
    allowed_tags: tuple[str, ...] = ()  # named patterns or `regex:…`; empty: any tag
    manifest_creators: ManifestCreators = ManifestCreators.ANY
    promotion_sources: tuple[str, ...] = ()  # registry names or `env:<environment>` (the account's registries)
    require_signature: bool = False
    max_image_size: int | None = None  # bytes: config, layers and manifest together; None: no limit

    def tag_is_immutable(self, tag: str) -> bool:
        if self.tag_mutability is TagMutability.MUTABLE:
            return False
        return not any(fnmatchcase(tag, pattern) for pattern in self.mutable_tags)

    def denied_pattern(self, tag: str) -> str | None:
        """The first denied pattern matching `tag`, ignoring case: `LATEST` is as mutable as `latest`."""
        folded = tag.casefold()
        return next((pattern for pattern in self.denied_tags if fnmatchcase(folded, pattern.casefold())), None)

    def tag_allowed_by_patterns(self, tag: str) -> bool:
        return not self.allowed_tags or any(_compiled(entry).fullmatch(tag) for entry in self.allowed_tags)

    def allows_promotion(self) -> bool:
        return self.manifest_creators is not ManifestCreators.CI

    def document(self) -> dict[str, object]:
        """The JSON form, as stored and shown."""
        return {
            "tag_mutability": self.tag_mutability.value,
            "mutable_tags": list(self.mutable_tags),
            "denied_tags": list(self.denied_tags),
            "allowed_tags": list(self.allowed_tags),
            "manifest_creators": self.manifest_creators.value,
            "promotion_sources": list(self.promotion_sources),
            "require_signature": self.require_signature,
            "max_image_size": self.max_image_size,
        }

    def updated(self, changes: Mapping[str, object]) -> RegistryPolicy:
        """This policy with the fields of `changes` (a partial document) replaced; raises `PolicyInvalid`."""
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise PolicyInvalid(f"unknown policy field(s) {', '.join(unknown)}: the fields are {', '.join(_FIELDS)}")
        merged = self.document() | dict(changes)
        return policy_from_document(merged)


_FIELDS = tuple(RegistryPolicy().document())
_OPTIONAL_FIELDS = ("max_image_size",)  # added later: documents stored before it lack it

PRESETS: dict[Environment, RegistryPolicy] = {
    Environment.DEVELOPMENT: RegistryPolicy(),
    Environment.STAGING: RegistryPolicy(
        tag_mutability=TagMutability.IMMUTABLE,
        denied_tags=("latest",),
        manifest_creators=ManifestCreators.CI_OR_PROMOTION,
        promotion_sources=(f"{ENVIRONMENT_PREFIX}development",),
    ),
    Environment.PRODUCTION: RegistryPolicy(
        tag_mutability=TagMutability.IMMUTABLE,
        denied_tags=("latest", "dev", "test", "stable"),
        allowed_tags=("semver", "date", "commit"),
        manifest_creators=ManifestCreators.CI_OR_PROMOTION,
        promotion_sources=(f"{ENVIRONMENT_PREFIX}staging",),
    ),
}


def preset(environment: Environment) -> RegistryPolicy:
    return PRESETS[environment]


def policy_from_document(document: Mapping[str, object]) -> RegistryPolicy:
    """Validate a whole policy document (as `RegistryPolicy.document` writes it); raises `PolicyInvalid`."""
    missing = [name for name in _FIELDS if name not in document and name not in _OPTIONAL_FIELDS]
    if missing:
        raise PolicyInvalid(f"policy document lacks {', '.join(missing)}")
    return RegistryPolicy(
        tag_mutability=_choice(TagMutability, document["tag_mutability"], "tag_mutability"),
        mutable_tags=_globs(document["mutable_tags"], "mutable_tags"),
        denied_tags=_globs(document["denied_tags"], "denied_tags"),
        allowed_tags=tuple(_tag_pattern(entry) for entry in _strings(document["allowed_tags"], "allowed_tags")),
        manifest_creators=_choice(ManifestCreators, document["manifest_creators"], "manifest_creators"),
        promotion_sources=tuple(
            _promotion_source(entry) for entry in _strings(document["promotion_sources"], "promotion_sources")
        ),
        require_signature=_boolean(document["require_signature"], "require_signature"),
        max_image_size=_optional_size(document.get("max_image_size"), "max_image_size"),
    )


def describe_allowed_tags(policy: RegistryPolicy) -> str:
    """`semver (v1.2.3), date (2026.01.15) or commit (commit-3f2a9c1)`, for refusal messages."""
    names = [f"{entry} ({TAG_PATTERN_EXAMPLES[entry]})" if entry in TAG_PATTERNS else entry for entry in
             policy.allowed_tags]  # fmt: skip
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _compiled(entry: str) -> re2._Regexp[str]:
    return _compile(TAG_PATTERNS.get(entry) or entry.removeprefix(REGEX_PREFIX))


# Patterns are matched with RE2, in time linear in the tag's length: a pattern an account sets, such as `(a+)+b`,
# cannot stall the server for everyone (Python's `re` backtracks exponentially on it).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_CACHE: dict[str, re2._Regexp[str]] = {}


def _compile(expression: str) -> re2._Regexp[str]:
    compiled = _CACHE.get(expression)
    if compiled is None:
        if len(_CACHE) > 1000:
            _CACHE.clear()
        compiled = _CACHE[expression] = re2.compile(expression, _RE2_OPTIONS)
    return compiled


def _tag_pattern(entry: str) -> str:
    if entry in TAG_PATTERNS:
        return entry
    if not entry.startswith(REGEX_PREFIX):
        raise PolicyInvalid(
            f"allowed_tags entry {entry!r} is neither a named pattern ({', '.join(TAG_PATTERNS)})"
            f" nor a regular expression written {REGEX_PREFIX}<expression>, e.g. {REGEX_PREFIX}release-[0-9]+"
        )
    try:
        _compile(entry.removeprefix(REGEX_PREFIX))
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise PolicyInvalid(
            f"allowed_tags entry {entry!r} is not a valid regular expression ({reason}); the syntax is RE2's:"
            " no backreferences or lookarounds"
        ) from None
    return entry


def _promotion_source(entry: str) -> str:
    if entry.startswith(ENVIRONMENT_PREFIX):
        _choice(Environment, entry.removeprefix(ENVIRONMENT_PREFIX), "promotion_sources")
        return entry
    try:
        return validate_registry_name(entry)
    except NameInvalid:
        raise PolicyInvalid(
            f"promotion_sources entry {entry!r} is neither a registry name nor {ENVIRONMENT_PREFIX}<environment>"
            f" (e.g. {ENVIRONMENT_PREFIX}staging: the account's staging registries)"
        ) from None


# What a tag may contain, plus the glob characters `* ? [ ] !`.
_GLOB = re2.compile(r"[A-Za-z0-9_.\-*?\[\]!]+")


def _globs(value: object, field: str) -> tuple[str, ...]:
    globs = _strings(value, field)
    for glob in globs:
        if not _GLOB.fullmatch(glob):
            raise PolicyInvalid(
                f"{field} entry {glob!r} can never match a tag: use letters, digits, '_', '.', '-' and the glob"
                " characters * ? [ ], e.g. dev-*"
            )
    return tuple(globs)


def _strings(value: object, field: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PolicyInvalid(f"{field} must be a list of strings")
    if len(value) > MAX_PATTERNS:
        raise PolicyInvalid(f"{field} has {len(value)} entries; at most {MAX_PATTERNS} are allowed")
    entries: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not entry or len(entry) > MAX_PATTERN_LENGTH:
            raise PolicyInvalid(f"{field} entries must be non-empty strings of at most {MAX_PATTERN_LENGTH} characters")
        if entry not in entries:
            entries.append(entry)
    return entries


def _choice(kind: type[_E], value: object, field: str) -> _E:
    try:
        return kind(str(value)) if isinstance(value, str) else kind("\0")
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise PolicyInvalid(f"{field} must be one of {choices}, not {value!r}") from None


def _optional_size(value: object, field: str) -> int | None:
    """Bytes, or None for no limit (0 and null both turn it off)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyInvalid(f"{field} must be a size in bytes (0 or null: no limit), not {value!r}")
    return value or None


def _boolean(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyInvalid(f"{field} must be true or false, not {value!r}")
    return value
