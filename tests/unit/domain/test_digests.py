import hashlib

import pytest

from shipshape.domain.digests import Digest
from shipshape.domain.errors import DigestInvalid


def test_parse_accepts_sha256_and_sha512() -> None:
    sha256 = "sha256:" + hashlib.sha256(b"x").hexdigest()
    sha512 = "sha512:" + hashlib.sha512(b"x").hexdigest()
    assert str(Digest.parse(sha256)) == sha256
    assert Digest.parse(sha512).algorithm == "sha512"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:abc",
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "md5:" + "a" * 32,
        "sha512:" + "a" * 64,
        ":" + "a" * 64,
    ],
)
def test_parse_rejects_malformed_digests(text: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


def test_unsupported_algorithm_message_names_the_supported_ones() -> None:
    with pytest.raises(DigestInvalid, match="sha256, sha512"):
        Digest.parse("md5:" + "a" * 32)


def test_of_hashes_the_exact_bytes() -> None:
    assert Digest.of(b"hello").hex == hashlib.sha256(b"hello").hexdigest()
    assert Digest.of(b"hello", "sha512").hex == hashlib.sha512(b"hello").hexdigest()
