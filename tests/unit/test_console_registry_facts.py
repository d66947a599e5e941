"""What the console's registry and image pages derive by themselves: credential warnings, the registries an image
may be promoted to, and repositories summed up from the inventory's images."""

from datetime import UTC, datetime, timedelta

from shipshape.domain.access import Action, Credential, CredentialKind, Environment, Registry, Scope
from shipshape.domain.policies import ManifestCreators, RegistryPolicy
from shipshape.domain.records import StoredImage
from shipshape.services.inventory import sized
from shipshape.web.credential_health import reaching, warnings
from shipshape.web.image_pages import promotion_targets
from shipshape.web.repositories import page_number, paged, summarize, tag_rows, top_level, untagged

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEV = Registry("acme-dev", "acme", Environment.DEVELOPMENT)
STAGE = Registry("acme-stage", "acme", Environment.STAGING)
PROD = Registry("acme-prod", "acme", Environment.PRODUCTION)


def credential(
    name: str = "ci", expires_in: timedelta = timedelta(days=60), last_used: timedelta | None = timedelta(hours=1),
    registry: str = "acme-prod", revoked: bool = False,
) -> Credential:  # fmt: skip
    return Credential(
        username=f"{registry}+{name}", name=name, account="acme", kind=CredentialKind.CI,
        scopes=(Scope(registry, frozenset({Action.PULL, Action.PUSH})),), expires_at=NOW + expires_in,
        created_at=NOW - timedelta(days=10), created_by="olive",
        last_used_at=NOW - last_used if last_used is not None else None,
        revoked_at=NOW if revoked else None,
    )  # fmt: skip


def image(repository: str, digest: str, tags: tuple[str, ...] = (), pushed: int = 0, **fields: object) -> StoredImage:
    values: dict[str, object] = {
        "repository": repository, "digest": digest, "media_type": "application/vnd.oci.image.manifest.v1+json",
        "tags": tags, "pushed_at": NOW - timedelta(hours=pushed), "tagged_at": None, "pull_count": 0,
        "last_pulled_at": None, "subject": None, "children": (), "blobs": {f"layer-{digest}": 100, "base": 1000},
    }  # fmt: skip
    values.update(fields)
    return StoredImage(**values)  # type: ignore[arg-type]


def test_a_healthy_credential_has_no_warning() -> None:
    assert warnings(credential(), NOW) == []


def test_expiring_expired_never_used_and_long_unused_credentials_are_flagged() -> None:
    assert warnings(credential(expires_in=timedelta(days=5)), NOW) == ["expires soon: rotate it with a new expiry"]
    assert warnings(credential(expires_in=-timedelta(days=3)), NOW)[0].startswith("expired 3 days ago")
    assert warnings(credential(last_used=None), NOW) == ["never used: revoke it if nothing needs it"]
    assert warnings(credential(last_used=timedelta(days=45)), NOW) == [
        "unused for 45 days: revoke it if nothing needs it"
    ]


def test_only_unrevoked_credentials_reaching_the_registry_are_listed_those_needing_attention_first() -> None:
    listed = reaching(
        [credential("a"), credential("b", last_used=None), credential("c", revoked=True),
         credential("d", registry="acme-dev")],
        "acme-prod", NOW,
    )  # fmt: skip
    assert [each.credential.name for each in listed] == ["b", "a"]
    assert listed[1].actions == ("pull", "push") and listed[1].state == "active"


def test_promotion_targets_follow_the_targets_policies() -> None:
    qa = Registry("acme-qa", "acme", Environment.STAGING, policy=RegistryPolicy(promotion_sources=("acme-stage",)))
    ci_only = Registry(
        "acme-ci", "acme", Environment.PRODUCTION,
        policy=RegistryPolicy(manifest_creators=ManifestCreators.CI, promotion_sources=("env:staging",)),
    )  # fmt: skip
    other_account = Registry("beta-prod", "beta", Environment.PRODUCTION)
    registries = [DEV, STAGE, PROD, qa, ci_only, other_account]
    assert [t.registry.name for t in promotion_targets(STAGE, registries)] == ["acme-prod", "acme-qa"]
    assert [t.registry.name for t in promotion_targets(DEV, registries)] == ["acme-stage"]
    assert promotion_targets(PROD, registries) == []
    assert "Only CI credentials may push" in promotion_targets(STAGE, registries)[0].policy


def test_repositories_count_tags_images_and_distinct_bytes_without_platforms_or_signatures() -> None:
    images = sized(
        [
            image("acme-dev/web", "sha256:index", ("v1",), pushed=1, children=("sha256:amd64",), blobs={}),
            image("acme-dev/web", "sha256:amd64"),
            image("acme-dev/web", "sha256:sig", subject="sha256:index", blobs={"sig": 10}),
            image("acme-dev/web", "sha256:old", pushed=5),
            image("acme-dev/api", "sha256:api", ("v2", "latest"), pushed=3),
        ]
    )
    web, api = summarize(images)
    assert (web.name, web.tags, web.images, web.bytes) == ("web", 1, 2, 100 + 1000 + 10 + 100)
    assert (api.name, api.tags, api.images) == ("api", 2, 1)
    assert [each.image.digest for each in top_level(images)] == ["sha256:index", "sha256:old", "sha256:api"]
    assert [each.image.digest for each in untagged(images)] == ["sha256:old"]
    rows = tag_rows(top_level(images), {"v1": True, "v2": True, "latest": False})
    assert [(row.tag, row.immutable) for row in rows] == [("v1", True), ("latest", False), ("v2", True)]


def test_pages_of_a_list() -> None:
    assert page_number("3") == 3 and page_number("0") == 1 and page_number("x") == 1 and page_number(None) == 1
    shown = paged(list(range(120)), 3)
    assert shown.rows == tuple(range(100, 120)) and not shown.more
    assert paged(list(range(120)), 2).more
