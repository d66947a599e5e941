"""A registry's policy in words: the sentences the console shows for each rule."""

from shipshape.domain.policies import Environment, ManifestCreators, RegistryPolicy, TagMutability, preset
from shipshape.domain.policy_words import describe, plain, promotion_source_words, summary


def test_production_preset_reads_as_its_rules() -> None:
    assert describe(preset(Environment.PRODUCTION)) == [
        "Tags are immutable",
        "`latest`, `dev`, `test` and `stable` are refused",
        "Tags must look like a version (v1.2.3), a date (2026.01.15) or a commit (commit-3f2a9c1)",
        "Only CI credentials may push; promotions from staging registries are accepted if CI built the image",
    ]


def test_staging_preset_refuses_latest_and_takes_promotions_from_development() -> None:
    assert describe(preset(Environment.STAGING)) == [
        "Tags are immutable",
        "`latest` is refused",
        "Only CI credentials may push; promotions from development registries are accepted if CI built the image",
    ]


def test_development_preset_lets_anyone_with_push_rights_move_tags() -> None:
    assert describe(preset(Environment.DEVELOPMENT)) == [
        "Tags are mutable: a push may move a tag to another image",
        "Members and credentials with push rights may push; promotions are accepted from no registry",
    ]


def test_mutable_exceptions_signature_and_size_limit_are_named() -> None:
    policy = RegistryPolicy(
        tag_mutability=TagMutability.IMMUTABLE,
        mutable_tags=("dev-*", "pr-*"),
        require_signature=True,
        max_image_size=2 * 1024**3,
    )
    words = describe(policy)
    assert words[0] == "Tags are immutable (except dev-* and pr-*)"
    assert "Images need a signature (cosign or Notation) before they can be tagged" in words
    assert words[-1] == "Images larger than 2GiB are refused"


def test_ci_only_registry_refuses_promotions() -> None:
    policy = RegistryPolicy(manifest_creators=ManifestCreators.CI, promotion_sources=("acme-stage",))
    assert describe(policy)[-1] == "Only CI credentials may push; promotions are refused"


def test_named_sources_and_regular_expressions_read_as_written() -> None:
    policy = RegistryPolicy(allowed_tags=("regex:release-[0-9]+",), promotion_sources=("acme-qa", "env:staging"))
    words = describe(policy)
    assert "Tags must look like `release-[0-9]+` (a regular expression)" in words
    assert words[-1].endswith("promotions from acme-qa or staging registries are accepted")


def test_promotion_sources_are_joined_in_words() -> None:
    assert promotion_source_words(["env:development", "acme-qa", "acme-ci"]) == (
        "development registries, acme-qa or acme-ci"
    )


def test_plain_quotes_what_backticks_mark_and_summary_is_one_paragraph() -> None:
    assert plain("`latest` is refused") == "“latest” is refused"
    assert summary(preset(Environment.STAGING)) == (
        "Tags are immutable. “latest” is refused. Only CI credentials may push; promotions from development"
        " registries are accepted if CI built the image."
    )
