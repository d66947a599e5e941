import pytest

from shipshape.domain.errors import PasswordRejected
from shipshape.domain.passwords import check_password


def test_long_uncommon_password_is_accepted() -> None:
    check_password("glacier-violin-turnip-42", "alice")


def test_short_password_is_refused_with_the_minimum_length() -> None:
    with pytest.raises(PasswordRejected, match="at least 12 characters"):
        check_password("x7#kQ9!pz", "alice")


def test_overlong_password_is_refused() -> None:
    with pytest.raises(PasswordRejected, match="at most 1024 characters"):
        check_password("glacier-violin " * 100, "alice")


@pytest.mark.parametrize(
    "password", ["qwertyuiopasdfghjkl", "123456789012", "passwordpassword", "CorrectHorseBatteryStaple"]
)
def test_common_password_is_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="too common"):
        check_password(password, "alice")


@pytest.mark.parametrize(
    "password", ["password1234!", "Password2024!!", "LETMEIN123456", "sunshine_2025", "qwerty123456"]
)
def test_common_password_with_digits_or_symbols_appended_is_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="too common"):
        check_password(password, "alice")


def test_common_word_inside_a_longer_phrase_is_accepted() -> None:
    check_password("password-of-the-blue-heron", "alice")


def test_password_containing_the_username_is_refused_whatever_the_case() -> None:
    with pytest.raises(PasswordRejected, match="contains the username"):
        check_password("xx-ALICE-violin-turnip", "alice")


def test_refusal_never_repeats_the_password() -> None:
    for password in ["short1!", "password1234!", "alice-glacier-violin"]:
        with pytest.raises(PasswordRejected) as refused:
            check_password(password, "alice")
        assert password not in refused.value.message
