import pytest

from shipshape.domain.errors import DigestInvalid, NameInvalid, TagInvalid
from shipshape.domain.names import Reference, validate_name, validate_tag


@pytest.mark.parametrize("name", ["a", "acme-prod/web/api", "a.b_c__d---e/f0", "library/ubuntu", "x" * 255])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "a/", "/a", "a//b", "a_", "-a", "a___b", "a..b", "a/B", "a b", "x" * 256, "a:b"]
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "1.2.3-rc.1", "_x", "A" * 128, "commit-3f2a9c1"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a" * 129, "a/b", "a+b"])
def test_invalid_tags_are_refused(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_reference_is_a_digest_when_it_has_a_colon() -> None:
    digest = "sha256:" + "a" * 64
    assert str(Reference.parse(digest).digest) == digest
    assert Reference.parse("v1").tag == "v1"
    with pytest.raises(DigestInvalid):
        Reference.parse("sha256:nothex")
