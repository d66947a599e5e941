"""The OCI grammar of repository names and tags, and manifest references (tag or digest)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipshape.domain.digests import Digest
from shipshape.domain.errors import NameInvalid, TagInvalid

# Matched with `fullmatch`: `$` would also accept a trailing newline (`app\n`), which then breaks every header
# and log line the name or tag is written into.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
MAX_NAME_LENGTH = 255
_REGISTRY_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_REGISTRY_NAME = 64


def validate_registry_name(name: str) -> str:
    """Return `name` if it can name a registry (one lowercase path component), else raise `NameInvalid`."""
    if len(name) > MAX_REGISTRY_NAME or not _REGISTRY_NAME.fullmatch(name):
        raise NameInvalid(
            f"invalid registry name {name!r}: up to {MAX_REGISTRY_NAME} lowercase letters and digits,"
            " with single '.', '_' or '-' between them, e.g. acme-prod"
        )
    return name


def validate_name(name: str) -> str:
    """Return `name` if it is a valid repository name, else raise `NameInvalid` saying why."""
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(f"repository name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}")
    if not _NAME.fullmatch(name):
        raise NameInvalid(
            f"invalid repository name {name!r}: use lowercase letters, digits and separators (. _ __ -),"
            " with / between components, e.g. team/web-app"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return `tag` if it is a valid tag, else raise `TagInvalid` saying why."""
    if not _TAG.fullmatch(tag):
        raise TagInvalid(
            f"invalid tag {tag!r}: up to 128 characters of letters, digits, '_', '.' and '-',"
            " not starting with '.' or '-'"
        )
    return tag


@dataclass(frozen=True, slots=True)
class Reference:
    """What follows `/manifests/` in a URL: exactly one of a tag or a digest."""

    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if ":" in text:
            return cls(digest=Digest.parse(text))
        return cls(tag=validate_tag(text))

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)


def parse_image_reference(text: str) -> tuple[str, Reference | None]:
    """`acme-prod/web/api:v1.2.3` or `…@sha256:…` → (repository, reference); a bare name has no reference."""
    name, at, digest = text.partition("@")
    if at:
        return validate_name(name), Reference(digest=Digest.parse(digest))
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return validate_name(name[:colon]), Reference(tag=validate_tag(name[colon + 1 :]))
    return validate_name(name), None
