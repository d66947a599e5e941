r"""Machine-credential secrets: generated here, shown once, stored only as SHA-256.

Format (54 characters): `shps_` + 43 base62 characters encoding 32 random bytes + 6 base62 characters encoding
the CRC32 of those 43 characters (as ASCII), both left-padded with `0`, alphabet `0-9A-Za-z`. A secret scanner
can find leaked secrets with `\bshps_[0-9A-Za-z]{49}\b` and discard false positives by checking the CRC32, as
for GitHub's tokens. The checksum catches typos without a lookup; it is no defence against forgery, the hash
lookup is. 256 random bits make a slow hash pointless, so secrets are stored as plain SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

PREFIX = "shps_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_BYTES = 32
BODY_LENGTH = 43  # 62**43 > 2**256
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
SECRET_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
SCANNER_PATTERN = re.compile(rf"\b{PREFIX}[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}\b", re.ASCII)
_WELL_FORMED = re.compile(rf"{PREFIX}[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}")


def _base62(value: int, width: int) -> str:
    """Encode a non-negative `value` in base62, left-padded with `0` to `width` characters."""
    digits: list[str] = []
    while value:
        value, remainder = divmod(value, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def _checksum(body: str) -> str:
    """The 6-character base62 CRC32 of a secret's random part."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_secret() -> str:
    """A new secret: the prefix, 32 random bytes in base62 and their checksum."""
    body = _base62(int.from_bytes(secrets.token_bytes(RANDOM_BYTES), "big"), BODY_LENGTH)
    return f"{PREFIX}{body}{_checksum(body)}"


def is_well_formed(secret: str) -> bool:
    """Whether `secret` has the prefix, length, alphabet and checksum of a generated secret."""
    if not _WELL_FORMED.fullmatch(secret):
        return False
    body = secret[len(PREFIX) : len(PREFIX) + BODY_LENGTH]
    return secret[-CHECKSUM_LENGTH:] == _checksum(body)


def secret_sha256(secret: str) -> str:
    """The lowercase hex SHA-256 of `secret` (UTF-8), the only form in which a secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
