"""Trust (`require_signature`): a tag may point only at a manifest that has a signature among its referrers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shipshape.domain.access import Registry
from shipshape.policy.refusals import Refusal

# Artifact types of signatures stored as OCI referrers: cosign (OCI 1.1 mode and sigstore bundles) and Notary v2.
SIGNATURE_ARTIFACT_TYPES = frozenset(
    {
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.cncf.notary.signature",
    }
)


def check_signed(
    registry: Registry, repository: str, digest: str, tag: str, referrer_types: Iterable[str | None]
) -> Refusal | None:
    """Refuse tagging `digest` when the registry requires signatures and none of its referrers is one."""
    if not registry.rules.require_signature or any(kind in SIGNATURE_ARTIFACT_TYPES for kind in referrer_types):
        return None
    return Refusal(
        "require_signature",
        f"{registry.label} requires a signature before tagging (require_signature) and {repository}@{digest} has"
        f" none: push the image by digest, sign it (cosign sign --registry-referrers-mode=oci-1-1 or notation"
        f" sign), then push the tag {tag!r}",
        {"digest": digest, "tag": tag},
    )


def check_signature_delete(
    registry: Registry, repository: str, signature: str, subject: str, subject_tags: Sequence[str], remaining: int
) -> Refusal | None:
    """Refuse deleting the last signature of a tagged manifest where signatures are required."""
    if not registry.rules.require_signature or not subject_tags or remaining > 0:
        return None
    return Refusal(
        "require_signature",
        f"{registry.label} requires signatures (require_signature) and {signature} is the only signature of"
        f" {repository}@{subject}, tagged {', '.join(subject_tags[:5])}: attach a new signature before deleting"
        " this one",
        {"digest": signature, "subject": subject},
    )
