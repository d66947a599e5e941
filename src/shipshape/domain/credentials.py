"""A credential's life: expiry on creation, rotation with a grace window, reset, revocation and verification.

Pure functions over `Credential`; they take secrets only as SHA-256 hex (`shipshape.domain.secrets.secret_sha256`)
and the time as an argument, so callers own the clock and the store.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import replace
from datetime import datetime, timedelta

from shipshape.domain.access import Credential, SecretHash
from shipshape.domain.errors import CredentialExpired, CredentialRequestInvalid, CredentialRevoked, Unauthorized

DEFAULT_LIFETIME = timedelta(days=90)
DEFAULT_GRACE = timedelta(hours=24)
INVALID_LOGIN = "invalid username or secret"  # the same words for every failure, so none reveals which part was wrong

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _require_sha256(value: str) -> str:
    """Return `value` if it is lowercase SHA-256 hex; anything else (a raw secret, say) must never be stored."""
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError("expected the SHA-256 hex of a secret, not the secret itself")
    return value


def _format_duration(duration: timedelta) -> str:
    """`90d`, `12h`, `30m` or `45s`: the largest unit that divides `duration` exactly, as the CLI accepts them."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _refuse_if_revoked(credential: Credential) -> None:
    """Raise `CredentialRevoked` if `credential` has been revoked: revocation is final."""
    if credential.revoked_at is not None:
        raise CredentialRevoked(
            f"credential {credential.username} was revoked at {credential.revoked_at.isoformat()}"
            " and cannot be used or restored: create a new credential"
        )


def expiry(now: datetime, requested: timedelta | None, default: timedelta, maximum: timedelta) -> datetime:
    """When a credential created or renewed at `now` expires: `requested` or `default`, never beyond `maximum`."""
    if requested is None:
        return now + min(default, maximum)
    if requested <= timedelta(0):
        raise CredentialRequestInvalid(
            f"a credential lifetime must be positive: ask for one such as {_format_duration(min(default, maximum))}"
        )
    if requested > maximum:
        raise CredentialRequestInvalid(
            f"a lifetime of {_format_duration(requested)} exceeds this account's maximum of"
            f" {_format_duration(maximum)}: ask for {_format_duration(maximum)} or less, or ask an administrator"
            " to raise the account's maximum credential lifetime"
        )
    return now + requested


def rotate(
    credential: Credential,
    new_secret_sha256: str,
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
    expires_at: datetime | None = None,
) -> Credential:
    """Make the new secret current; the old current one stays valid until `now + grace` (zero: not at all).

    Rotated-out secrets whose window has passed are dropped. An expired credential's old secrets are not carried
    over. `expires_at`, when given, renews the credential (the fix for an expired one).
    """
    _require_sha256(new_secret_sha256)
    _refuse_if_revoked(credential)
    if grace < timedelta(0):
        raise CredentialRequestInvalid("a grace window cannot be negative: use 0 to end the old secret at once")
    kept: list[SecretHash] = []
    if credential.expires_at > now:
        for secret in credential.secrets:
            if secret.valid_until is None:
                if grace > timedelta(0):
                    kept.append(SecretHash(secret.sha256, valid_until=now + grace))
            elif secret.valid_until > now:
                kept.append(secret)
    return replace(
        credential,
        secrets=(SecretHash(new_secret_sha256), *kept),
        expires_at=credential.expires_at if expires_at is None else expires_at,
        rotated_at=now,
    )


def reset(
    credential: Credential, new_secret_sha256: str, expires_at: datetime | None = None, *, now: datetime | None = None
) -> Credential:
    """Replace every secret of `credential` with the new one: old secrets stop working at once. `now`, when given,
    is recorded as when the current secret was issued (`rotated_at`)."""
    _require_sha256(new_secret_sha256)
    _refuse_if_revoked(credential)
    return replace(
        credential,
        secrets=(SecretHash(new_secret_sha256),),
        expires_at=credential.expires_at if expires_at is None else expires_at,
        rotated_at=credential.rotated_at if now is None else now,
    )


def revoke(credential: Credential, now: datetime) -> Credential:
    """End `credential` for good; revoking it again keeps the first revocation time."""
    if credential.revoked_at is not None:
        return credential
    return replace(credential, revoked_at=now)


def verify(credential: Credential, secret_sha256: str, now: datetime) -> None:
    """Raise `Unauthorized` (or its `CredentialExpired` / `CredentialRevoked`) unless the secret logs in at `now`.

    The secret is checked first, so only a holder of a valid secret learns that a credential expired or was revoked.
    """
    offered = secret_sha256.encode()
    matched = False
    for secret in credential.secrets:  # no early exit: the time taken does not depend on which secret matched
        live = secret.valid_until is None or now < secret.valid_until
        matched |= hmac.compare_digest(secret.sha256.encode(), offered) and live
    if not matched:
        raise Unauthorized(INVALID_LOGIN)
    _refuse_if_revoked(credential)
    if now >= credential.expires_at:
        raise CredentialExpired(
            f"credential {credential.username} expired at {credential.expires_at.isoformat()}:"
            " create a new credential or rotate this one with a new expiry"
            f" (`shipshape credential rotate {credential.username}`, by an account admin)"
        )
