import pytest

from shipshape.auth.passwords import (
    DEFAULT_PARAMETERS,
    Argon2Parameters,
    hash_password,
    needs_rehash,
    verify_password,
    verify_unknown_user,
)

CHEAP = Argon2Parameters(time_cost=1, memory_kib=8, parallelism=1)


def test_hash_is_an_argon2id_phc_string_with_its_parameters() -> None:
    assert hash_password("glacier-violin-turnip", CHEAP).startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("glacier-violin-turnip", CHEAP) != hash_password("glacier-violin-turnip", CHEAP)


def test_right_password_verifies() -> None:
    assert verify_password(hash_password("glacier-violin-turnip", CHEAP), "glacier-violin-turnip")


def test_wrong_password_returns_false() -> None:
    assert not verify_password(hash_password("glacier-violin-turnip", CHEAP), "glacier-violin-turnips")


def test_corrupt_stored_hash_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not an Argon2 hash"):
        verify_password("not-a-hash", "glacier-violin-turnip")


def test_hash_made_with_other_parameters_needs_rehash() -> None:
    assert needs_rehash(hash_password("glacier-violin-turnip", CHEAP), DEFAULT_PARAMETERS)


def test_hash_made_with_current_parameters_needs_no_rehash() -> None:
    assert not needs_rehash(hash_password("glacier-violin-turnip", CHEAP), CHEAP)


def test_unknown_user_never_verifies() -> None:
    assert not verify_unknown_user("decoy for unknown usernames", CHEAP)


def test_default_parameters_meet_the_owasp_argon2id_minimum() -> None:
    assert DEFAULT_PARAMETERS.memory_kib >= 19 * 1024
    assert DEFAULT_PARAMETERS.time_cost >= 2
