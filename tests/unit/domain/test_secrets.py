import hashlib
import re
import zlib
from collections.abc import Callable

import pytest

from shipshape.domain.secrets import SCANNER_PATTERN, generate_secret, is_well_formed, secret_sha256

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62_value(text: str) -> int:
    value = 0
    for character in text:
        value = value * 62 + ALPHABET.index(character)
    return value


def test_secret_has_prefix_43_random_and_6_checksum_characters() -> None:
    assert re.fullmatch(r"shps_[0-9A-Za-z]{43}[0-9A-Za-z]{6}", generate_secret())


def test_secret_body_encodes_32_bytes() -> None:
    assert base62_value(generate_secret()[5:48]) < 2**256


def test_secret_checksum_is_base62_crc32_of_the_random_part() -> None:
    secret = generate_secret()
    assert base62_value(secret[48:]) == zlib.crc32(secret[5:48].encode())


def test_secrets_are_unique() -> None:
    assert len({generate_secret() for _ in range(100)}) == 100


def test_generated_secret_is_well_formed() -> None:
    assert is_well_formed(generate_secret())


def test_every_one_character_typo_is_detected() -> None:
    secret = generate_secret()
    for position in range(5, len(secret)):
        replacement = "a" if secret[position] != "a" else "b"
        assert not is_well_formed(secret[:position] + replacement + secret[position + 1 :]), position


def test_swapped_neighbouring_characters_are_detected() -> None:
    secret = generate_secret()
    for position in range(5, len(secret) - 1):
        if secret[position] != secret[position + 1]:
            swapped = secret[:position] + secret[position + 1] + secret[position] + secret[position + 2 :]
            assert not is_well_formed(swapped), position


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: "ghp_" + s[5:],  # another prefix
        lambda s: "SHPS_" + s[5:],
        lambda s: s[:-1],  # too short
        lambda s: s + "0",  # too long
        lambda s: s[:10] + "-" + s[11:],  # outside the alphabet
        lambda s: s + "\n",
        lambda s: "",
    ],
)
def test_malformed_secret_is_refused(mangle: Callable[[str], str]) -> None:
    assert not is_well_formed(mangle(generate_secret()))


def test_scanner_pattern_finds_a_leaked_secret_in_text() -> None:
    secret = generate_secret()
    found = SCANNER_PATTERN.findall(f"export REGISTRY_PASSWORD={secret}\nother text shps_short")
    assert found == [secret]


def test_secret_sha256_is_lowercase_hex_of_the_whole_secret() -> None:
    secret = generate_secret()
    assert secret_sha256(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", secret_sha256(secret))
