"""Content digests (`algorithm:hex`) and the streaming hashers that produce them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from shipshape.domain.errors import DigestInvalid

# Algorithms a digest may name, with the exact length of their hex encoding.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_ENCODED = re.compile(r"^[a-f0-9]+$")
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class Hasher(Protocol):
    """The part of `hashlib`'s interface a streaming upload needs."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Digest:
    """A validated content digest such as `sha256:9f86d0…`."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate `text`; raise `DigestInvalid` with the reason otherwise."""
        if not _GRAMMAR.fullmatch(text):
            raise DigestInvalid(f"invalid digest {text!r}: expected algorithm:hex such as sha256:<64 hex>")
        algorithm, _, encoded = text.partition(":")
        length = ALGORITHMS.get(algorithm)
        if length is None:
            supported = ", ".join(ALGORITHMS)
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}: use one of {supported}")
        if len(encoded) != length or not _ENCODED.fullmatch(encoded):
            raise DigestInvalid(f"invalid digest {text!r}: {algorithm} needs {length} lowercase hex characters")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of `data`."""
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def new_hasher(algorithm: str = "sha256") -> Hasher:
    """A fresh hasher for `algorithm` (one of `ALGORITHMS`)."""
    if algorithm not in ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)
