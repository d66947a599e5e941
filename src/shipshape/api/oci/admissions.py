"""Requests already let in, remembered briefly: a client sends the same `Authorization` header for the same
repository and action over and over (every layer of a pull, every manifest of a CI push).

An admission is the caller found for (a hash of the header, the repository, the action) after authentication
and authorisation both passed. It holds while no epoch has moved since the check began (a revocation, a reset,
a change of a registry or its policy advances one) and for at most `ttl`, the login cache's lifetime, never past
the expiry of the token or credential it was granted to. Refusals are never remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from shipshape.domain.access import Action
from shipshape.ports import Epoch

MAX_ADMISSIONS = 10_000

Admitted = TypeVar("Admitted")


@dataclass(frozen=True, slots=True)
class _Admission(Generic[Admitted]):
    admitted: Admitted
    until: datetime
    stamp: int


class Admissions(Generic[Admitted]):
    def __init__(self, epochs: Sequence[Epoch], ttl: timedelta) -> None:
        self._epochs = tuple(epochs)
        self._ttl = ttl
        self._admitted: dict[tuple[bytes, str, Action], _Admission[Admitted]] = {}

    def stamp(self) -> int:
        """Where the epochs stand: every epoch only grows, so the sum moves when any of them does."""
        return sum(epoch.current() for epoch in self._epochs)

    @staticmethod
    def key(authorization: str, path: str, action: Action) -> tuple[bytes, str, Action]:
        # A hash, so that no secret is kept; surrogateescape, so that any header aiohttp decoded has one.
        digest = hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()
        return digest, path, action

    def get(self, key: tuple[bytes, str, Action], now: datetime, stamp: int) -> Admitted | None:
        found = self._admitted.get(key)
        if found is None or found.stamp != stamp or found.until <= now:
            return None
        return found.admitted

    def remember(
        self, key: tuple[bytes, str, Action], admitted: Admitted, now: datetime, stamp: int, expires: datetime | None
    ) -> None:
        """Remember `admitted` as checked when the epochs stood at `stamp` (taken before the check began)."""
        if len(self._admitted) >= MAX_ADMISSIONS:
            self._admitted.clear()  # crude but bounded: a refill costs one check per client
        until = now + self._ttl if expires is None else min(now + self._ttl, expires)
        self._admitted[key] = _Admission(admitted, until, stamp)
