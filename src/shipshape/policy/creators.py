"""Who may create manifests in a registry (`manifest_creators`): anyone with push rights, `ci` credentials only,
or `ci` credentials and promotions."""

from __future__ import annotations

from shipshape.domain.access import Anonymous, Credential, CredentialKind, Member, Principal, Registry
from shipshape.domain.policies import ManifestCreators
from shipshape.policy.refusals import Refusal


def check_push(registry: Registry, principal: Principal) -> Refusal | None:
    """Refuse a manifest push by anyone but a `ci` credential where the registry takes only CI pushes."""
    creators = registry.rules.manifest_creators
    if creators is ManifestCreators.ANY:
        return None
    if isinstance(principal, Credential) and principal.kind is CredentialKind.CI:
        return None
    promote = " or promote a tested image into it (shipshape promote)" if registry.rules.allows_promotion() else ""
    return Refusal(
        "manifest_creators",
        f"{registry.label} takes new images only from CI (manifest_creators: {creators.value}) and {_who(principal)}"
        f" is not a ci credential: push from your CI pipeline with a ci credential{promote}",
        {"pusher": _who(principal)},
    )


def check_promotion(registry: Registry, image: str, built_by_ci: bool) -> Refusal | None:
    """Refuse a promotion into a registry that takes only CI pushes, or, where it takes CI-built images only, of an
    image that no `ci` credential pushed (on its way through the registries before)."""
    creators = registry.rules.manifest_creators
    if creators is ManifestCreators.CI:
        return Refusal(
            "manifest_creators",
            f"{registry.label} takes new images only from CI pushes (manifest_creators: ci), not by promotion:"
            " push the image from CI, or set manifest_creators to ci-or-promotion",
        )
    if creators is ManifestCreators.CI_OR_PROMOTION and not built_by_ci:
        return Refusal(
            "manifest_creators",
            f"{registry.label} takes only images built by CI (manifest_creators: {creators.value}) and {image} was"
            " not pushed by a ci credential: build and push it from your CI pipeline, then promote that image",
            {"image": image},
        )
    return None


def _who(principal: Principal) -> str:
    if isinstance(principal, Member):
        return f"member {principal.username}"
    if isinstance(principal, Credential):
        return f"{principal.kind.value} credential {principal.username}"
    assert isinstance(principal, Anonymous)
    return "an anonymous caller"
