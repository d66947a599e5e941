import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipshape.domain.access import Action, Credential, CredentialKind, Scope, SecretHash
from shipshape.domain.credentials import DEFAULT_GRACE, DEFAULT_LIFETIME, expiry, reset, revoke, rotate, verify
from shipshape.domain.errors import CredentialExpired, CredentialRequestInvalid, CredentialRevoked, Unauthorized

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


OLD, NEW, NEWER = sha("old"), sha("new"), sha("newer")


def make_credential(**overrides: Any) -> Credential:
    fields: dict[str, Any] = {
        "username": "acme-prod+ci",
        "name": "ci",
        "account": "acme",
        "kind": CredentialKind.CI,
        "scopes": (Scope("acme-prod", frozenset({Action.PULL, Action.PUSH})),),
        "expires_at": NOW + DEFAULT_LIFETIME,
        "created_at": NOW - timedelta(days=1),
        "created_by": "admin",
        "secrets": (SecretHash(OLD),),
    }
    fields.update(overrides)
    return Credential(**fields)


def test_defaults_are_90_days_and_24_hours() -> None:
    assert DEFAULT_LIFETIME.days == 90
    assert DEFAULT_GRACE.total_seconds() == 24 * 3600


def test_current_secret_verifies() -> None:
    verify(make_credential(), OLD, NOW)


def test_unknown_secret_is_refused_without_saying_which_part_was_wrong() -> None:
    with pytest.raises(Unauthorized) as refused:
        verify(make_credential(), NEW, NOW)
    assert type(refused.value) is Unauthorized
    assert refused.value.message == "invalid username or secret"


def test_rotation_makes_the_new_secret_current() -> None:
    rotated = rotate(make_credential(), NEW, NOW, timedelta(hours=24))
    assert rotated.secrets[0] == SecretHash(NEW)
    verify(rotated, NEW, NOW + timedelta(days=30))


def test_both_secrets_work_inside_the_grace_window() -> None:
    rotated = rotate(make_credential(), NEW, NOW, timedelta(hours=24))
    for secret in (OLD, NEW):
        verify(rotated, secret, NOW + timedelta(hours=23, minutes=59))


def test_old_secret_fails_once_the_grace_window_has_passed() -> None:
    rotated = rotate(make_credential(), NEW, NOW, timedelta(hours=24))
    with pytest.raises(Unauthorized, match="invalid username or secret"):
        verify(rotated, OLD, NOW + timedelta(hours=24))
    verify(rotated, NEW, NOW + timedelta(hours=24))


def test_rotation_with_zero_grace_ends_the_old_secret_at_once() -> None:
    rotated = rotate(make_credential(), NEW, NOW, timedelta(0))
    assert rotated.secrets == (SecretHash(NEW),)
    with pytest.raises(Unauthorized):
        verify(rotated, OLD, NOW)


def test_rotation_drops_rotated_secrets_whose_window_has_passed() -> None:
    once = rotate(make_credential(), NEW, NOW, timedelta(hours=1))
    twice = rotate(once, NEWER, NOW + timedelta(hours=2), timedelta(hours=24))
    assert [s.sha256 for s in twice.secrets] == [NEWER, NEW]


def test_rotation_keeps_rotated_secrets_still_inside_their_window() -> None:
    once = rotate(make_credential(), NEW, NOW, timedelta(hours=24))
    twice = rotate(once, NEWER, NOW + timedelta(hours=1), timedelta(hours=24))
    assert [s.sha256 for s in twice.secrets] == [NEWER, NEW, OLD]
    verify(twice, OLD, NOW + timedelta(hours=23))


def test_negative_grace_is_refused() -> None:
    with pytest.raises(CredentialRequestInvalid, match="use 0"):
        rotate(make_credential(), NEW, NOW, timedelta(hours=-1))


def test_rotation_refuses_a_raw_secret_instead_of_its_hash() -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        rotate(make_credential(), "shps_notahash", NOW, DEFAULT_GRACE)


def test_rotation_with_a_new_expiry_renews_an_expired_credential() -> None:
    expired = make_credential(expires_at=NOW - timedelta(days=1))
    renewed = rotate(expired, NEW, NOW, DEFAULT_GRACE, expires_at=NOW + DEFAULT_LIFETIME)
    verify(renewed, NEW, NOW)


def test_rotating_an_expired_credential_does_not_revive_its_old_secret() -> None:
    expired = make_credential(expires_at=NOW - timedelta(days=1))
    renewed = rotate(expired, NEW, NOW, DEFAULT_GRACE, expires_at=NOW + DEFAULT_LIFETIME)
    with pytest.raises(Unauthorized):
        verify(renewed, OLD, NOW)


def test_reset_kills_every_old_secret_at_once() -> None:
    rotated = rotate(make_credential(), NEW, NOW, DEFAULT_GRACE)
    after_reset = reset(rotated, NEWER)
    assert after_reset.secrets == (SecretHash(NEWER),)
    for secret in (OLD, NEW):
        with pytest.raises(Unauthorized):
            verify(after_reset, secret, NOW)
    verify(after_reset, NEWER, NOW)


def test_rotation_and_reset_record_when_the_current_secret_was_issued() -> None:
    credential = make_credential()
    assert credential.rotated_at is None and credential.secret_issued_at == credential.created_at

    rotated = rotate(credential, NEW, NOW)
    renewed = reset(rotated, NEWER, now=NOW + timedelta(days=3))

    assert rotated.rotated_at == rotated.secret_issued_at == NOW
    assert renewed.rotated_at == NOW + timedelta(days=3)
    assert reset(rotated, NEWER).rotated_at == NOW  # without `now`, the time it had


def test_revoked_credential_is_refused_as_revoked() -> None:
    revoked = revoke(make_credential(), NOW)
    with pytest.raises(CredentialRevoked, match="revoked at 2026-03-01T12:00:00"):
        verify(revoked, OLD, NOW + timedelta(minutes=1))


def test_revoking_twice_keeps_the_first_time() -> None:
    revoked = revoke(make_credential(), NOW)
    assert revoke(revoked, NOW + timedelta(days=1)).revoked_at == NOW


def test_revoked_credential_cannot_be_rotated_or_reset() -> None:
    revoked = revoke(make_credential(), NOW)
    with pytest.raises(CredentialRevoked, match="create a new credential"):
        rotate(revoked, NEW, NOW, DEFAULT_GRACE)
    with pytest.raises(CredentialRevoked):
        reset(revoked, NEW)


def test_expired_credential_is_refused_with_its_expiry_and_the_fix() -> None:
    credential = make_credential(expires_at=NOW)
    with pytest.raises(CredentialExpired) as refused:
        verify(credential, OLD, NOW)
    message = refused.value.message
    assert "credential acme-prod+ci expired at 2026-03-01T12:00:00+00:00" in message
    assert "create a new credential or rotate" in message
    assert "shipshape credential rotate acme-prod+ci" in message


def test_expiry_is_not_revealed_to_a_wrong_secret() -> None:
    with pytest.raises(Unauthorized) as refused:
        verify(make_credential(expires_at=NOW), NEW, NOW)
    assert type(refused.value) is Unauthorized


def test_secret_in_grace_window_of_a_revoked_credential_is_refused() -> None:
    credential = revoke(rotate(make_credential(), NEW, NOW, DEFAULT_GRACE), NOW)
    with pytest.raises(CredentialRevoked):
        verify(credential, OLD, NOW)


def test_verify_ignores_secret_hash_past_its_window_even_if_not_yet_dropped() -> None:
    credential = replace(make_credential(), secrets=(SecretHash(NEW), SecretHash(OLD, valid_until=NOW)))
    with pytest.raises(Unauthorized):
        verify(credential, OLD, NOW)


def test_expiry_defaults_to_the_default_lifetime() -> None:
    assert expiry(NOW, None, DEFAULT_LIFETIME, timedelta(days=365)) == NOW + DEFAULT_LIFETIME


def test_expiry_uses_the_requested_lifetime() -> None:
    assert expiry(NOW, timedelta(days=30), DEFAULT_LIFETIME, timedelta(days=365)) == NOW + timedelta(days=30)


def test_expiry_allows_exactly_the_maximum() -> None:
    assert expiry(NOW, timedelta(days=90), DEFAULT_LIFETIME, timedelta(days=90)) == NOW + timedelta(days=90)


def test_expiry_beyond_the_account_maximum_is_refused_with_the_limit() -> None:
    with pytest.raises(
        CredentialRequestInvalid, match="400d exceeds this account's maximum of 90d: ask for 90d or less"
    ):
        expiry(NOW, timedelta(days=400), DEFAULT_LIFETIME, timedelta(days=90))


def test_expiry_refuses_a_lifetime_that_is_not_positive() -> None:
    with pytest.raises(CredentialRequestInvalid, match="must be positive"):
        expiry(NOW, timedelta(0), DEFAULT_LIFETIME, timedelta(days=90))


def test_default_lifetime_is_capped_by_the_account_maximum() -> None:
    assert expiry(NOW, None, DEFAULT_LIFETIME, timedelta(days=30)) == NOW + timedelta(days=30)
