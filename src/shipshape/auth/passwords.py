"""Member passwords hashed with Argon2id (argon2-cffi); the policy they must meet is `shipshape.domain.passwords`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import argon2
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """Argon2id cost parameters; a hash records its own, so changing these only affects new hashes (and rehashes)."""

    time_cost: int = 2
    memory_kib: int = 32 * 1024
    parallelism: int = 1  # one lane: the server hashes in a thread pool, other requests use the other cores


# About 75 ms per hash on a modest 2-core server; above OWASP's Argon2id minimum (19 MiB, 2 passes).
DEFAULT_PARAMETERS = Argon2Parameters()


@lru_cache(maxsize=8)
def _hasher(parameters: Argon2Parameters) -> argon2.PasswordHasher:
    """The argon2-cffi hasher for `parameters`."""
    return argon2.PasswordHasher(
        time_cost=parameters.time_cost,
        memory_cost=parameters.memory_kib,
        parallelism=parameters.parallelism,
        type=argon2.Type.ID,
    )


def hash_password(password: str, parameters: Argon2Parameters = DEFAULT_PARAMETERS) -> str:
    """The Argon2id hash of `password` in PHC string form (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)."""
    return _hasher(parameters).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; False, never an exception, for a wrong password.

    Raises `ValueError` only if `password_hash` is not an Argon2 hash at all: a corrupt record, not a failed login.
    """
    try:
        return _hasher(DEFAULT_PARAMETERS).verify(password_hash, password)
    except InvalidHashError:
        raise ValueError("stored password hash is not an Argon2 hash") from None
    except VerificationError:
        return False


def needs_rehash(password_hash: str, parameters: Argon2Parameters = DEFAULT_PARAMETERS) -> bool:
    """Whether `password_hash` was made with other parameters than `parameters` (rehash after the next good login)."""
    return _hasher(parameters).check_needs_rehash(password_hash)


@lru_cache(maxsize=8)
def _decoy_hash(parameters: Argon2Parameters) -> str:
    """A hash to verify against when the username is unknown, made once per parameter set."""
    return hash_password("decoy for unknown usernames", parameters)


def verify_unknown_user(password: str, parameters: Argon2Parameters = DEFAULT_PARAMETERS) -> bool:
    """Spend what a real verification costs, then return False: a login for an unknown username takes as long."""
    verify_password(_decoy_hash(parameters), password)
    return False
