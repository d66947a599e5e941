"""Whether a manifest may be deleted: not under an immutable tag, and not as the last signature of a tagged image
where signatures are required."""

from __future__ import annotations

from shipshape.domain.access import Registry
from shipshape.domain.records import ManifestDeletion
from shipshape.policy.refusals import Refusal
from shipshape.policy.tags import check_manifest_delete
from shipshape.policy.trust import SIGNATURE_ARTIFACT_TYPES, check_signature_delete


def check_deletion(registry: Registry, repository: str, deletion: ManifestDeletion) -> Refusal | None:
    refusal = check_manifest_delete(registry, repository, deletion.digest, deletion.tags)
    if refusal is not None or deletion.subject is None or deletion.artifact_type not in SIGNATURE_ARTIFACT_TYPES:
        return refusal
    remaining = sum(kind in SIGNATURE_ARTIFACT_TYPES for kind in deletion.other_referrer_types)
    return check_signature_delete(
        registry, repository, deletion.digest, deletion.subject, deletion.subject_tags, remaining
    )
