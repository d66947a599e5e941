from datetime import UTC, datetime, timedelta

import pytest

from shipshape.domain.access import (
    Action,
    Anonymous,
    Credential,
    CredentialKind,
    Environment,
    Member,
    Registry,
    Role,
    Scope,
    allowed_actions,
    split_repository,
    validate_registry_name,
)
from shipshape.domain.errors import NameInvalid

NOW = datetime(2026, 1, 15, tzinfo=UTC)
DEV = Registry("acme-dev", "acme", Environment.DEVELOPMENT)
PROD = Registry("acme-prod", "acme", Environment.PRODUCTION)
PUBLIC = Registry("acme-pub", "acme", Environment.PRODUCTION, public=True)
OTHER = Registry("beta-prod", "beta", Environment.PRODUCTION)


def credential(*scopes: Scope, kind: CredentialKind = CredentialKind.CI) -> Credential:
    return Credential(
        username="acme-dev+ci", name="ci", account="acme", kind=kind, scopes=scopes,
        expires_at=NOW + timedelta(days=90), created_at=NOW, created_by="admin",
    )  # fmt: skip


def test_registry_names_are_one_lowercase_component() -> None:
    assert validate_registry_name("acme-prod") == "acme-prod"
    for bad in ("Acme", "acme/prod", "-acme", "a" * 65, ""):
        with pytest.raises(NameInvalid):
            validate_registry_name(bad)


def test_first_path_component_is_the_registry() -> None:
    assert split_repository("acme-prod/web/api") == ("acme-prod", "web/api")
    assert split_repository("acme-prod") == ("acme-prod", "")


def test_credential_acts_only_inside_its_scopes() -> None:
    dev_only = credential(Scope("acme-dev", frozenset({Action.PULL, Action.PUSH})))
    assert allowed_actions(dev_only, DEV, "web/api") == {Action.PULL, Action.PUSH}
    assert allowed_actions(dev_only, PROD, "web/api") == frozenset()


def test_repository_glob_narrows_a_scope() -> None:
    web_only = credential(Scope("acme-dev", frozenset({Action.PULL}), repositories="web/*"))
    assert allowed_actions(web_only, DEV, "web/api") == {Action.PULL}
    assert allowed_actions(web_only, DEV, "batch/job") == frozenset()


def test_scopes_add_up() -> None:
    two = credential(Scope("acme-dev", frozenset({Action.PULL})), Scope("acme-dev", frozenset({Action.DELETE})))
    assert allowed_actions(two, DEV, "x") == {Action.PULL, Action.DELETE}


def test_member_roles_within_their_account() -> None:
    assert allowed_actions(Member("o", "acme", Role.OWNER), PROD, "x") == set(Action)
    assert allowed_actions(Member("d", "acme", Role.DEVELOPER), PROD, "x") == {Action.PULL, Action.PUSH}
    assert allowed_actions(Member("v", "acme", Role.VIEWER), PROD, "x") == {Action.PULL}
    assert allowed_actions(Member("o", "acme", Role.OWNER), OTHER, "x") == frozenset()


def test_public_registry_allows_anonymous_pull_only() -> None:
    assert allowed_actions(Anonymous(), PUBLIC, "x") == {Action.PULL}
    assert allowed_actions(Anonymous(), PROD, "x") == frozenset()
    outsider = Member("o", "beta", Role.OWNER)
    assert allowed_actions(outsider, PUBLIC, "x") == {Action.PULL}
