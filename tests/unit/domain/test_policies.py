"""The policy document: presets, validation of every field, partial updates, tag patterns."""

from __future__ import annotations

import pytest

from shipshape.domain.errors import PolicyInvalid
from shipshape.domain.policies import (
    PRESETS,
    Environment,
    ManifestCreators,
    RegistryPolicy,
    TagMutability,
    policy_from_document,
    preset,
)


def test_presets_follow_the_environment_table() -> None:
    development, staging, production = (preset(e) for e in Environment)
    assert development == RegistryPolicy()
    assert staging.tag_mutability is TagMutability.IMMUTABLE and staging.denied_tags == ("latest",)
    assert staging.manifest_creators is ManifestCreators.CI_OR_PROMOTION
    assert production.denied_tags == ("latest", "dev", "test", "stable")
    assert production.allowed_tags == ("semver", "date", "commit")
    assert production.promotion_sources == ("env:staging",)
    assert staging.promotion_sources == ("env:development",)


@pytest.mark.parametrize("environment", list(Environment))
def test_a_document_round_trips(environment: Environment) -> None:
    assert policy_from_document(PRESETS[environment].document()) == PRESETS[environment]


@pytest.mark.parametrize(
    ("tag", "allowed"),
    [
        ("v1.2.3", True),
        ("1.2.3", True),
        ("1.2.3-rc.1", True),
        ("v10.0.0+build.7", True),
        ("2026.01.15", True),
        ("2026.01.15-2", True),
        ("commit-3f2a9c1", True),
        ("3f2a9c1", True),
        ("3f2a9c1" * 5 + "abcde", True),
        ("v1.2", False),
        ("01.2.3", False),
        ("2026.13.01", False),
        ("2026-01-15", False),
        ("commit-3f2a9c", False),
        ("3F2A9C1", False),
        ("latest", False),
    ],
)
def test_production_patterns(tag: str, allowed: bool) -> None:
    assert preset(Environment.PRODUCTION).tag_allowed_by_patterns(tag) is allowed


def test_no_patterns_allow_any_tag_and_a_regex_must_match_whole() -> None:
    assert RegistryPolicy().tag_allowed_by_patterns("anything")
    custom = RegistryPolicy(allowed_tags=("regex:release-[0-9]+",))
    assert custom.tag_allowed_by_patterns("release-7")
    assert not custom.tag_allowed_by_patterns("release-7x")
    assert not custom.tag_allowed_by_patterns("xrelease-7")


def test_mutable_exceptions_are_globs() -> None:
    policy = RegistryPolicy(tag_mutability=TagMutability.IMMUTABLE, mutable_tags=("dev-*",))
    assert not policy.tag_is_immutable("dev-main")
    assert policy.tag_is_immutable("v1.0.0")
    assert not RegistryPolicy().tag_is_immutable("v1.0.0")


def test_denied_tags_are_globs() -> None:
    policy = RegistryPolicy(denied_tags=("latest", "tmp-*"))
    assert policy.denied_pattern("tmp-42") == "tmp-*"
    assert policy.denied_pattern("latest") == "latest"
    assert policy.denied_pattern("Latest") == "latest" and policy.denied_pattern("TMP-1") == "tmp-*"
    assert policy.denied_pattern("v1.0.0") is None


def test_updated_changes_only_the_given_fields() -> None:
    production = preset(Environment.PRODUCTION)
    changed = production.updated({"require_signature": True, "mutable_tags": ["dev-*", "dev-*"]})
    assert changed.require_signature and changed.mutable_tags == ("dev-*",)
    assert changed.denied_tags == production.denied_tags


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"tag_mutability": "sometimes"}, "tag_mutability must be one of mutable, immutable"),
        ({"manifest_creators": 3}, "manifest_creators must be one of any, ci, ci-or-promotion"),
        ({"denied_tags": "latest"}, "denied_tags must be a list of strings"),
        ({"denied_tags": [""]}, "non-empty strings"),
        ({"mutable_tags": ["dev/*"]}, "can never match a tag"),
        ({"denied_tags": ["\u0000"]}, "can never match a tag"),
        ({"denied_tags": ["x"] * 51}, "at most 50"),
        ({"allowed_tags": ["calver"]}, "neither a named pattern (semver, date, commit)"),
        ({"allowed_tags": ["regex:("]}, "not a valid regular expression"),
        ({"promotion_sources": ["env:qa"]}, "promotion_sources must be one of development, staging, production"),
        ({"promotion_sources": ["Bad Name"]}, "neither a registry name nor env:<environment>"),
        ({"require_signature": "yes"}, "require_signature must be true or false"),
        ({"colour": "blue"}, "unknown policy field(s) colour"),
    ],
)
def test_invalid_changes_say_what_is_wrong(changes: dict[str, object], complaint: str) -> None:
    with pytest.raises(PolicyInvalid) as raised:
        preset(Environment.PRODUCTION).updated(changes)
    assert complaint in raised.value.message


def test_a_document_missing_fields_is_invalid() -> None:
    with pytest.raises(PolicyInvalid, match="lacks"):
        policy_from_document({"tag_mutability": "mutable"})


def test_custom_patterns_match_in_linear_time() -> None:
    # `(a+)+b` backtracks exponentially in Python's `re`; RE2 answers at once, so no policy can stall the server.
    policy = RegistryPolicy(allowed_tags=("regex:(a+)+b",))
    assert not policy.tag_allowed_by_patterns("a" * 128)
    assert policy.tag_allowed_by_patterns("aaab")


def test_backreferences_are_refused_with_the_syntax_to_use() -> None:
    with pytest.raises(PolicyInvalid, match="RE2's: no backreferences or lookarounds"):
        RegistryPolicy().updated({"allowed_tags": [r"regex:(v)\1"]})
