"""The production-readiness checklist as a pure function: each item's verdict, evidence and fix from plain facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shipshape.domain.access import Action, Credential, CredentialKind, Environment, Registry, Scope
from shipshape.domain.policies import ManifestCreators, TagMutability, preset
from shipshape.domain.retention import RetentionPolicy, RetentionRule, RuleAction, retention_preset
from shipshape.policy.checklist import ChecklistFacts, ChecklistItem, RegistryChecklist, evaluate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MAX_AGE = timedelta(days=365)
ITEMS = [
    "immutable-tags",
    "credential-rotation",
    "ci-only-production-pushes",
    "pull-secret",
    "environment-separation",
    "retention-policy",
]


def registry(name: str, environment: Environment, account: str = "acme", **policy: object) -> Registry:
    rules = replace(preset(environment), **policy)  # type: ignore[arg-type]
    return Registry(name=name, account=account, environment=environment, policy=rules)


DEV = registry("acme-dev", Environment.DEVELOPMENT)
STAGE = registry("acme-stage", Environment.STAGING)
PROD = registry("acme-prod", Environment.PRODUCTION)
ALL = (DEV, STAGE, PROD)


def credential(
    name: str,
    *registries: str,
    kind: CredentialKind = CredentialKind.CI,
    actions: Sequence[Action] = (Action.PULL, Action.PUSH),
    created: timedelta = 10 * DAY,  # ago
    expires_in: timedelta = 80 * DAY,
    used: timedelta | None = DAY,  # ago; None: never
    rotated: timedelta | None = None,  # ago
    revoked: bool = False,
    repositories: str | None = None,
) -> Credential:
    return Credential(
        username=f"{registries[0]}+{name}",
        name=name,
        account="acme",
        kind=kind,
        scopes=tuple(Scope(r, frozenset(actions), repositories) for r in registries),
        expires_at=NOW + expires_in,
        created_at=NOW - created,
        created_by="alice",
        last_used_at=NOW - used if used is not None else None,
        revoked_at=NOW - DAY if revoked else None,
        rotated_at=NOW - rotated if rotated is not None else None,
    )


def pull(registry: str, **options: object) -> Credential:
    return credential("k8s-default", registry, kind=CredentialKind.PULL, actions=(Action.PULL,), **options)  # type: ignore[arg-type]


def tidy_credentials() -> list[Credential]:
    """One ci credential per environment and a used pull credential for staging and production."""
    return [
        credential("ci", "acme-dev"),
        credential("ci", "acme-stage"),
        credential("ci", "acme-prod"),
        pull("acme-stage"),
        pull("acme-prod"),
    ]


def check(
    target: Registry = PROD,
    registries: Sequence[Registry] = ALL,
    credentials: Sequence[Credential] | None = None,
    retention: RetentionPolicy | str | None = "preset",
    max_age: timedelta = MAX_AGE,
) -> RegistryChecklist:
    registries = [target if r.name == target.name else r for r in registries]
    if target not in registries:
        registries.append(target)
    facts = ChecklistFacts(
        registry=target,
        registries=registries,
        credentials=tidy_credentials() if credentials is None else credentials,
        max_credential_age=max_age,
        retention=retention_preset(target.environment) if retention == "preset" else retention,  # type: ignore[arg-type]
        now=NOW,
    )
    return evaluate(facts)


def item(checked: RegistryChecklist, item_id: str) -> ChecklistItem:
    return next(found for found in checked.items if found.id == item_id)


@pytest.mark.parametrize("target", ALL, ids=lambda r: r.name)
def test_a_well_set_up_account_passes_every_item_of_every_registry(target: Registry) -> None:
    checked = check(target)

    assert [found.id for found in checked.items] == ITEMS
    assert checked.passed, [(found.id, found.evidence) for found in checked.items if not found.passed]
    assert all(found.fix is None and found.title and found.evidence for found in checked.items)


def test_a_fresh_production_registry_with_one_ci_credential_for_every_environment_fails() -> None:
    checked = check(credentials=[credential("ci", "acme-dev", "acme-stage", "acme-prod", used=None)])

    failed = {found.id for found in checked.items if not found.passed}
    assert failed == {"pull-secret", "environment-separation"}
    assert not checked.passed


# immutable-tags


def test_mutable_tags_in_production_fail_with_the_registry_set_command() -> None:
    mutable = registry("acme-prod", Environment.PRODUCTION, tag_mutability=TagMutability.MUTABLE)

    found = item(check(mutable), "immutable-tags")

    assert not found.passed
    assert "tag_mutability mutable" in found.evidence
    assert found.fix == "shipshape registry set acme-prod --tag-mutability immutable"


def test_a_mutable_exception_in_staging_fails_and_the_fix_clears_it() -> None:
    staging = registry("acme-stage", Environment.STAGING, mutable_tags=("nightly-*",))

    found = item(check(staging), "immutable-tags")

    assert not found.passed and "nightly-*" in found.evidence
    assert found.fix == 'shipshape registry set acme-stage --mutable-tags ""'


def test_mutable_tags_in_development_are_not_applicable() -> None:
    found = item(check(DEV), "immutable-tags")

    assert found.passed and not found.applicable
    assert found.evidence.startswith("not applicable:") and "mutable" in found.evidence


# credential-rotation


def test_a_secret_older_than_the_account_maximum_fails_with_rotate() -> None:
    old = credential("ci", "acme-prod", created=400 * DAY, expires_in=10 * DAY)

    found = item(check(credentials=[*tidy_credentials()[:2], old, *tidy_credentials()[3:]]), "credential-rotation")

    assert not found.passed
    assert "acme-prod+ci's secret was created 400d ago, beyond the account's maximum credential age of 365d" in (
        found.evidence
    )
    assert found.fix == "shipshape credential rotate acme-prod+ci"


def test_the_age_counts_from_the_last_rotation() -> None:
    rotated = credential("ci", "acme-prod", created=400 * DAY, rotated=20 * DAY)

    found = item(check(credentials=[rotated]), "credential-rotation")

    assert found.passed
    assert found.evidence == (
        "1 live credential, acme-prod+ci, reaches acme-prod; its secret was rotated 20d ago, within the account's"
        " maximum credential age of 365d; none expired while in use"
    )


def test_the_maximum_is_the_accounts() -> None:
    checked = check(credentials=[credential("ci", "acme-prod", created=40 * DAY)], max_age=30 * DAY)

    found = item(checked, "credential-rotation")

    assert not found.passed and "maximum credential age of 30d" in found.evidence


def test_a_credential_that_expired_after_being_used_fails_and_one_never_used_does_not() -> None:
    lapsed = pull("acme-prod", expires_in=-2 * DAY, used=3 * DAY)
    forgotten = credential("old", "acme-prod", expires_in=-DAY, used=None)

    found = item(check(credentials=[lapsed, forgotten]), "credential-rotation")

    assert not found.passed
    assert "acme-prod+k8s-default expired 2026-02-27 12:00 UTC after being used (last 2026-02-26 12:00 UTC)" in (
        found.evidence
    )
    assert "acme-prod+old" not in found.evidence
    assert found.fix == "shipshape credential rotate acme-prod+k8s-default"


def test_several_stale_credentials_get_one_rotate_each() -> None:
    stale = [credential(n, "acme-prod", created=500 * DAY) for n in ("b", "a")]

    found = item(check(credentials=stale), "credential-rotation")

    assert found.fix == "shipshape credential rotate acme-prod+a && shipshape credential rotate acme-prod+b"


def test_revoked_and_other_registries_credentials_do_not_count() -> None:
    others = [
        credential("ci", "acme-prod", created=500 * DAY, revoked=True),
        credential("ci", "acme-dev", created=500 * DAY),
    ]

    found = item(check(credentials=others), "credential-rotation")

    assert found.passed and found.evidence == "no live credential reaches acme-prod"


# ci-only-production-pushes


def test_production_taking_pushes_from_anyone_fails() -> None:
    open_door = registry("acme-prod", Environment.PRODUCTION, manifest_creators=ManifestCreators.ANY)

    found = item(check(open_door), "ci-only-production-pushes")

    assert not found.passed and "manifest_creators any" in found.evidence
    assert found.fix == "shipshape registry set acme-prod --manifest-creators ci-or-promotion"


@pytest.mark.parametrize("creators", [ManifestCreators.CI, ManifestCreators.CI_OR_PROMOTION])
def test_production_taking_ci_pushes_passes_and_names_the_pipeline(creators: ManifestCreators) -> None:
    production = registry("acme-prod", Environment.PRODUCTION, manifest_creators=creators)

    found = item(check(production), "ci-only-production-pushes")

    assert found.passed and f"manifest_creators {creators.value}" in found.evidence
    assert "ci credentials that may push here: acme-prod+ci" in found.evidence


def test_pushes_from_anyone_are_not_applicable_outside_production() -> None:
    found = item(check(DEV), "ci-only-production-pushes")

    assert found.passed and not found.applicable and "members and every credential" in found.evidence


# pull-secret


def test_no_pull_credential_fails_with_the_k8s_pull_secret_command() -> None:
    found = item(check(credentials=[credential("ci", "acme-prod")]), "pull-secret")

    assert not found.passed
    assert "no live pull-only credential reaches acme-prod" in found.evidence
    assert found.fix == "shipshape k8s pull-secret acme-prod --namespace default | kubectl apply -f -"


def test_an_unused_pull_credential_fails_until_something_pulls_with_it() -> None:
    found = item(check(credentials=[pull("acme-prod", used=None)]), "pull-secret")

    assert (
        not found.passed and "acme-prod+k8s-default" in found.evidence and "nothing has logged in" in (found.evidence)
    )
    assert found.fix == (
        "shipshape k8s pull-secret acme-prod --namespace default --credential acme-prod+k8s-default"
        " | kubectl apply -f -"
    )


@pytest.mark.parametrize(
    "unusable",
    [
        pull("acme-prod", revoked=True),
        pull("acme-prod", expires_in=-DAY),
        credential("ci", "acme-prod", kind=CredentialKind.SERVICE, actions=(Action.PULL,)),
    ],
    ids=["revoked", "expired", "service kind"],
)
def test_revoked_expired_or_non_pull_credentials_are_no_pull_secret(unusable: Credential) -> None:
    found = item(check(credentials=[unusable]), "pull-secret")

    assert not found.passed


def test_when_the_default_pull_credential_name_is_taken_the_fix_creates_another() -> None:
    found = item(check(credentials=[pull("acme-prod", revoked=True)]), "pull-secret")

    assert found.fix == "shipshape credential create k8s-pull --registry acme-prod --kind pull"


def test_a_used_pull_credential_passes_with_when_it_last_logged_in() -> None:
    found = item(check(credentials=[pull("acme-prod", used=2 * DAY)]), "pull-secret")

    assert found.passed
    assert "acme-prod+k8s-default last logged in 2026-02-27 12:00 UTC" in found.evidence


def test_a_pull_secret_is_not_asked_of_development() -> None:
    found = item(check(DEV, credentials=[]), "pull-secret")

    assert found.passed and not found.applicable


# environment-separation


def test_a_missing_environment_fails_with_a_registry_create_per_environment() -> None:
    found = item(check(registries=[PROD], credentials=[credential("ci", "acme-prod")]), "environment-separation")

    assert not found.passed
    assert found.evidence == "account acme has no development registry; account acme has no staging registry"
    assert found.fix == (
        "shipshape registry create acme-dev --environment development --account acme"
        " && shipshape registry create acme-staging --environment staging --account acme"
    )


def test_a_credential_spanning_production_and_another_environment_is_split_then_revoked() -> None:
    spanning = credential(
        "ci", "acme-dev", "acme-stage", "acme-prod", actions=(Action.PULL, Action.PUSH, Action.DELETE)
    )

    found = item(check(credentials=[spanning]), "environment-separation")

    assert not found.passed
    assert found.evidence == (
        "acme-dev+ci reaches production (acme-prod) and development (acme-dev), staging (acme-stage)"
    )
    assert found.fix == (
        "shipshape credential create ci-dev --registry acme-dev --registry acme-stage --kind ci"
        " --actions pull,push,delete"
        " && shipshape credential create ci --registry acme-prod --kind ci --actions pull,push,delete"
        " && shipshape credential revoke acme-dev+ci"
    )


def test_the_split_keeps_the_repository_pattern_and_avoids_taken_logins() -> None:
    spanning = credential(
        "deploy", "acme-prod", "acme-stage", kind=CredentialKind.PULL, actions=(Action.PULL,), repositories="web/*"
    )

    found = item(check(credentials=[spanning]), "environment-separation")

    assert found.fix == (
        "shipshape credential create deploy --registry acme-stage --kind pull --actions pull --repositories 'web/*'"
        " && shipshape credential create deploy-prod --registry acme-prod --kind pull --actions pull"
        " --repositories 'web/*'"
        " && shipshape credential revoke acme-prod+deploy"
    )


def test_credentials_spanning_development_and_staging_or_revoked_ones_are_fine() -> None:
    credentials = [
        credential("ci", "acme-dev", "acme-stage"),
        credential("old", "acme-dev", "acme-prod", revoked=True),
    ]

    found = item(check(credentials=credentials), "environment-separation")

    assert found.passed
    assert found.evidence == (
        "account acme has development (acme-dev), staging (acme-stage), production (acme-prod) registries, and no"
        " credential reaches production and another environment"
    )


def test_environment_separation_is_judged_alike_for_every_registry() -> None:
    spanning = [credential("ci", "acme-dev", "acme-prod")]

    verdicts = {target.name: item(check(target, credentials=spanning), "environment-separation") for target in ALL}

    assert len({(found.passed, found.evidence, found.fix) for found in verdicts.values()}) == 1
    assert not verdicts["acme-dev"].passed


# retention-policy


def test_no_retention_rules_fail_with_the_preset_command() -> None:
    found = item(check(retention=None), "retention-policy")

    assert not found.passed and "no retention rules" in found.evidence
    assert found.fix == "shipshape retention set acme-prod --preset"


def test_rules_that_only_keep_expire_nothing_and_fail() -> None:
    keep_only = RetentionPolicy((RetentionRule("keep-all", RuleAction.KEEP, most_recent=10),))

    found = item(check(retention=keep_only), "retention-policy")

    assert not found.passed and "are all keep rules (keep-all): nothing expires" in found.evidence


def test_an_empty_rule_list_fails_too() -> None:
    found = item(check(retention=RetentionPolicy(())), "retention-policy")

    assert not found.passed and "retention rules are empty" in found.evidence


def test_rules_with_an_expire_rule_pass_and_are_named() -> None:
    found = item(check(STAGE), "retention-policy")

    assert found.passed
    assert found.evidence == (
        "acme-stage has 3 retention rules: expire-untagged (expire), keep-last-50 (keep), expire-beyond-50 (expire);"
        " `shipshape retention preview acme-stage` lists what a run deletes"
    )
