"""The pure policy checks: each returns None (allowed) or a refusal naming its rule and the fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shipshape.domain.access import (
    Anonymous,
    Credential,
    CredentialKind,
    Environment,
    Member,
    Principal,
    Registry,
    Role,
)
from shipshape.domain.errors import PolicyRefused
from shipshape.domain.policies import ManifestCreators
from shipshape.policy.creators import check_promotion, check_push
from shipshape.policy.promotion import check_promotion_source
from shipshape.policy.refusals import enforce
from shipshape.policy.tags import check_manifest_delete, check_tag_delete, check_tag_move, check_tag_name
from shipshape.policy.trust import check_signature_delete, check_signed

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DEV = Registry("acme-dev", "acme", Environment.DEVELOPMENT)
STAGE = Registry("acme-stage", "acme", Environment.STAGING)
PROD = Registry("acme-prod", "acme", Environment.PRODUCTION)
OTHER_STAGE = Registry("beta-stage", "beta", Environment.STAGING)


def credential(kind: CredentialKind) -> Credential:
    return Credential(f"acme-prod+{kind.value}", kind.value, "acme", kind, (), NOW, NOW, "admin")


def with_policy(registry: Registry, **changes: object) -> Registry:
    return replace(registry, policy=registry.rules.updated(changes))


def test_denied_tag_names_the_rule_and_the_fix() -> None:
    refusal = check_tag_name(PROD, "latest")
    assert refusal is not None and refusal.rule == "denied_tags"
    assert refusal.message == "tag 'latest' is not allowed in production registry acme-prod: use a tag such as v1.2.3"
    staging = check_tag_name(STAGE, "latest")
    assert staging is not None
    assert staging.message.endswith("use an immutable version tag such as v1.2.3")
    assert check_tag_name(DEV, "latest") is None


def test_unmatched_tag_lists_the_allowed_patterns() -> None:
    refusal = check_tag_name(PROD, "nightly")
    assert refusal is not None and refusal.rule == "allowed_tags"
    assert refusal.message.endswith("name it by semver (v1.2.3), date (2026.01.15) or commit (commit-3f2a9c1)")
    assert check_tag_name(PROD, "v1.2.3") is None


def test_immutable_tags_never_move_but_the_same_digest_is_fine() -> None:
    assert check_tag_move(PROD, "acme-prod/web", "v1.0.0", "sha256:a", "sha256:a") is None
    refusal = check_tag_move(PROD, "acme-prod/web", "v1.0.0", "sha256:a", "sha256:b")
    assert refusal is not None and refusal.rule == "tag_mutability" and "points at sha256:a" in refusal.message
    assert check_tag_move(DEV, "acme-dev/web", "v1.0.0", "sha256:a", "sha256:b") is None
    relaxed = with_policy(PROD, mutable_tags=["dev-*"])
    assert check_tag_move(relaxed, "acme-prod/web", "dev-x", "sha256:a", "sha256:b") is None


def test_immutable_tags_and_their_manifests_are_not_deleted() -> None:
    assert check_tag_delete(PROD, "acme-prod/web", "v1.0.0") is not None
    assert check_tag_delete(DEV, "acme-dev/web", "v1.0.0") is None
    refusal = check_manifest_delete(PROD, "acme-prod/web", "sha256:a", ["v1.0.0", "v1.0"])
    assert refusal is not None and "tagged v1.0, v1.0.0" in refusal.message
    assert check_manifest_delete(PROD, "acme-prod/web", "sha256:a", []) is None


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (credential(CredentialKind.CI), True),
        (credential(CredentialKind.SERVICE), False),
        (credential(CredentialKind.PULL), False),
        (Member("dana", "acme", Role.OWNER), False),
        (Anonymous(), False),
    ],
)
def test_production_takes_pushes_from_ci_credentials_only(principal: Principal, allowed: bool) -> None:
    refusal = check_push(PROD, principal)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.rule == "manifest_creators" and "or promote a tested image into it" in refusal.message
    assert check_push(DEV, principal) is None


def test_a_ci_only_registry_refuses_promotion() -> None:
    ci_only = with_policy(PROD, manifest_creators=ManifestCreators.CI.value)
    assert check_promotion(PROD, "acme-stage/web@sha256:a", built_by_ci=True) is None
    refusal = check_promotion(ci_only, "acme-stage/web@sha256:a", built_by_ci=True)
    assert refusal is not None and refusal.rule == "manifest_creators"
    push_refusal = check_push(ci_only, Anonymous())
    assert push_refusal is not None and "promote" not in push_refusal.message


def test_production_takes_promotions_of_ci_built_images_only() -> None:
    refusal = check_promotion(PROD, "acme-stage/web@sha256:a", built_by_ci=False)
    assert refusal is not None and refusal.rule == "manifest_creators"
    assert "acme-stage/web@sha256:a was not pushed by a ci credential" in refusal.message
    assert check_promotion(DEV, "acme-stage/web@sha256:a", built_by_ci=False) is None


def test_promotion_sources_by_environment_are_the_accounts_own() -> None:
    assert check_promotion_source(PROD, STAGE) is None
    assert check_promotion_source(PROD, OTHER_STAGE) is not None  # another account's staging registry
    assert check_promotion_source(PROD, DEV) is not None
    named = with_policy(PROD, promotion_sources=["beta-stage"])
    assert check_promotion_source(named, OTHER_STAGE) is None
    assert check_promotion_source(named, STAGE) is not None
    assert check_promotion_source(DEV, STAGE) is not None  # development accepts no promotions by default


def test_signature_required_only_when_set() -> None:
    signed = with_policy(PROD, require_signature=True)
    assert check_signed(PROD, "acme-prod/web", "sha256:a", "v1.0.0", []) is None
    refusal = check_signed(signed, "acme-prod/web", "sha256:a", "v1.0.0", [None, "application/spdx+json"])
    assert refusal is not None and refusal.rule == "require_signature"
    for kind in ("application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.cncf.notary.signature"):
        assert check_signed(signed, "acme-prod/web", "sha256:a", "v1.0.0", [kind]) is None


def test_enforce_raises_the_refusal_as_a_denied_error() -> None:
    enforce(None)
    refusal = check_tag_name(PROD, "latest")
    with pytest.raises(PolicyRefused) as raised:
        enforce(refusal)
    assert raised.value.rule == "denied_tags" and raised.value.detail == {
        "rule": "denied_tags",
        "tag": "latest",
        "pattern": "latest",
    }


def test_the_last_signature_of_a_tagged_manifest_is_kept_where_signatures_are_required() -> None:
    signed = with_policy(PROD, require_signature=True)
    refusal = check_signature_delete(signed, "acme-prod/web", "sha256:s", "sha256:a", ["v1.0.0"], remaining=0)
    assert refusal is not None and refusal.rule == "require_signature"
    assert check_signature_delete(signed, "acme-prod/web", "sha256:s", "sha256:a", ["v1.0.0"], remaining=1) is None
    assert check_signature_delete(signed, "acme-prod/web", "sha256:s", "sha256:a", [], remaining=0) is None
    assert check_signature_delete(PROD, "acme-prod/web", "sha256:s", "sha256:a", ["v1.0.0"], remaining=0) is None
