"""An image's page (its manifest or index, layers, labels, provenance, referrers and pulls) and promoting it to
another registry of the account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from shipshape.domain.access import ROLE_ACTIONS, Action, Member, Registry, split_repository
from shipshape.domain.errors import TagInvalid
from shipshape.domain.names import parse_image_reference
from shipshape.domain.policy_words import summary
from shipshape.policy.promotion import check_promotion_source
from shipshape.policy.trust import SIGNATURE_ARTIFACT_TYPES
from shipshape.services.images import Referrer
from shipshape.web.context import actor, manage, signed_in, url
from shipshape.web.overview import registry_host
from shipshape.web.registry_pages import available
from shipshape.web.render import redirect, render, short_digest
from shipshape.web.repositories import Origin

_SBOM_WORDS = ("spdx", "cyclonedx", "sbom")


@dataclass(frozen=True, slots=True)
class PromotionTarget:
    """A registry the image may be promoted to, with its policy in words for the form to explain."""

    registry: Registry
    policy: str


@dataclass(frozen=True, slots=True)
class ReferrerGroup:
    kind: str  # Signature, SBOM, Attestation…
    artifact_type: str | None
    referrers: tuple[Referrer, ...]


async def image(request: web.Request) -> web.Response:
    services, who = manage(request), actor(request)
    reference = request.query.get("ref", "").strip()
    if not reference:
        raise TagInvalid("show which image? open it from a repository's page, or add ?ref=registry/repo:tag")
    details = await available(services.images, "showing images").show(who.member, reference)
    source = await services.administration.get_registry(who, split_repository(details.repository)[0])
    promoter = may_promote(who.member, source)
    targets: list[PromotionTarget] = []
    if promoter:
        targets = promotion_targets(source, await services.administration.list_registries(who, source.account))
    _, parsed = parse_image_reference(reference)
    tag = parsed.tag if parsed is not None and parsed.tag else (details.tags[0] if details.tags else "")
    context = {
        "registry": source,
        "image": details,
        "reference": reference,
        "by_digest": f"{details.repository}@{details.manifest.digest}",
        "tag": tag,
        "immutable": {each: source.rules.tag_is_immutable(each) for each in details.tags},
        "origin": Origin.of(details.provenance),
        "referrers": referrer_groups(details.referrers),
        "targets": targets,
        "may_promote": promoter,
        "inside": split_repository(details.repository)[1] or details.repository,
        "host": registry_host(request),
    }
    return render(request, "image.html", context)


async def promote(request: web.Request) -> web.Response:
    form = await request.post()
    source = _field(form, "source")
    if not source:
        raise TagInvalid("promote what? open the image's page and use its Promote form")
    target = promotion_target(form)
    promotions = available(manage(request).promotions, "promotion")
    done = await promotions.promote(signed_in(request).member, source, target, request.remote)
    repository, _ = parse_image_reference(done.target.partition("@")[0])
    digest = done.image.digest
    notice = f"Promoted {done.source} to {done.target} (same digest {short_digest(digest)}, no byte copied)"
    raise redirect(request, url(f"/image?ref={quote(f'{repository}@{digest}', safe='/')}"), notice)


def may_promote(member: Member, source: Registry) -> bool:
    """Who sees the Promote form: members of the image's account whose role may push (a viewer only pulls). The
    promotion service decides, whoever posts the form."""
    return member.account == source.account and Action.PUSH in ROLE_ACTIONS[member.role]


def promotion_targets(source: Registry, registries: Sequence[Registry]) -> list[PromotionTarget]:
    """The account's other registries whose policy accepts promotions from `source`, as the service checks it."""
    return [
        PromotionTarget(each, summary(each.rules))
        for each in registries
        if each.name != source.name
        and each.account == source.account
        and each.rules.allows_promotion()
        and check_promotion_source(each, source) is None
    ]


def promotion_target(form: Mapping[str, object]) -> str:
    """`registry/repository[:tag]` from the form's `target`, or from its `registry`, `repository` and `tag`."""
    target = _field(form, "target")
    if target:
        return target
    registry, repository, tag = (_field(form, key).strip("/") for key in ("registry", "repository", "tag"))
    if not registry or not repository:
        raise TagInvalid("promote where? choose a target registry and a repository")
    return f"{registry}/{repository}" + (f":{tag}" if tag else "")


def referrer_groups(referrers: Sequence[Referrer]) -> list[ReferrerGroup]:
    """Signatures first, then SBOMs, then the rest, each artifact type in its own group."""
    by_type: dict[str | None, list[Referrer]] = {}
    for each in referrers:
        by_type.setdefault(each.artifact_type, []).append(each)
    groups = [ReferrerGroup(_kind(kind), kind, tuple(found)) for kind, found in by_type.items()]
    order = {"Signature": 0, "SBOM": 1}
    return sorted(groups, key=lambda g: (order.get(g.kind, 2), g.artifact_type or ""))


def _kind(artifact_type: str | None) -> str:
    if artifact_type in SIGNATURE_ARTIFACT_TYPES:
        return "Signature"
    if artifact_type is not None and any(word in artifact_type.lower() for word in _SBOM_WORDS):
        return "SBOM"
    if artifact_type is not None and ("in-toto" in artifact_type or "attestation" in artifact_type):
        return "Attestation"
    return "Artifact"


def _field(form: Mapping[str, object], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""
