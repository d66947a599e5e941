"""Deleting a manifest: immutable tags first, then the last signature of a tagged image."""

from __future__ import annotations

from dataclasses import replace

from shipshape.domain.access import Environment, Registry
from shipshape.domain.records import ManifestDeletion
from shipshape.policy.deletion import check_deletion

COSIGN = "application/vnd.dev.cosign.artifact.sig.v1+json"
PROD = Registry("acme-prod", "acme", Environment.PRODUCTION)
SIGNED = replace(PROD, policy=PROD.rules.updated({"require_signature": True}))


def signature(subject_tags: tuple[str, ...] = ("v1.0.0",), others: tuple[str | None, ...] = ()) -> ManifestDeletion:
    return ManifestDeletion("sha256:s", (), COSIGN, "sha256:a", subject_tags, others)


def test_a_manifest_under_an_immutable_tag_is_refused_by_tag_mutability() -> None:
    refusal = check_deletion(SIGNED, "acme-prod/web", ManifestDeletion("sha256:a", ("v1.0.0",), None, None))
    assert refusal is not None and refusal.rule == "tag_mutability"


def test_the_last_signature_of_a_tagged_image_is_refused_where_required() -> None:
    refusal = check_deletion(SIGNED, "acme-prod/web", signature())
    assert refusal is not None and refusal.rule == "require_signature"
    assert check_deletion(SIGNED, "acme-prod/web", signature(others=(COSIGN,))) is None
    assert check_deletion(SIGNED, "acme-prod/web", signature(others=("text/spdx",))) is not None
    assert check_deletion(SIGNED, "acme-prod/web", signature(subject_tags=())) is None
    assert check_deletion(PROD, "acme-prod/web", signature()) is None
    sbom = replace(signature(), artifact_type="text/spdx")
    assert check_deletion(SIGNED, "acme-prod/web", sbom) is None
