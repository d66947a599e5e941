"""The pure parts of the management use cases: what a credential kind may do, names, patterns and states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipshape.domain.access import Action, Credential, CredentialKind, Scope, SecretHash
from shipshape.domain.errors import CredentialRequestInvalid, NameInvalid
from shipshape.services.administration import (
    credential_state,
    describe_scopes,
    rotating_until,
    scope_actions,
    validate_glob,
    validate_name,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def credential(**changes: object) -> Credential:
    values: dict[str, object] = {
        "username": "acme-dev+ci", "name": "ci", "account": "acme", "kind": CredentialKind.CI,
        "scopes": (Scope("acme-dev", frozenset({Action.PULL, Action.PUSH})),), "expires_at": NOW + timedelta(days=1),
        "created_at": NOW - timedelta(days=1), "created_by": "admin", "secrets": (SecretHash("a" * 64),),
    }  # fmt: skip
    values.update(changes)
    return Credential(**values)  # type: ignore[arg-type]


def test_kinds_get_their_default_actions() -> None:
    assert scope_actions(CredentialKind.CI, None) == {Action.PULL, Action.PUSH}
    assert scope_actions(CredentialKind.PULL, None) == {Action.PULL}
    assert scope_actions(CredentialKind.SERVICE, frozenset({Action.DELETE})) == {Action.DELETE}


def test_a_pull_credential_may_only_pull() -> None:
    with pytest.raises(CredentialRequestInvalid, match="may only pull, not push"):
        scope_actions(CredentialKind.PULL, frozenset({Action.PULL, Action.PUSH}))
    with pytest.raises(CredentialRequestInvalid, match="at least one action"):
        scope_actions(CredentialKind.CI, frozenset())


@pytest.mark.parametrize("name", ["CI", "ci pipeline", "a+b", "-ci", "x" * 65, ""])
def test_bad_names_are_refused_with_an_example(name: str) -> None:
    with pytest.raises(NameInvalid, match=r"e\.g\. ci-builder"):
        validate_name(name, "credential name")


def test_globs() -> None:
    assert validate_glob("web/*") == "web/*"
    with pytest.raises(CredentialRequestInvalid, match=r"e\.g\. web"):
        validate_glob("Web/[abc]")


def test_states() -> None:
    assert credential_state(credential(), NOW) == "active"
    assert credential_state(credential(expires_at=NOW), NOW) == "expired"
    assert credential_state(credential(revoked_at=NOW), NOW) == "revoked"
    rotating = credential(secrets=(SecretHash("b" * 64), SecretHash("a" * 64, valid_until=NOW + timedelta(hours=1))))
    assert credential_state(rotating, NOW) == "rotating"
    assert rotating_until(rotating, NOW) == NOW + timedelta(hours=1)
    assert credential_state(rotating, NOW + timedelta(hours=2)) == "active"


def test_scopes_are_described_for_the_audit_log() -> None:
    scopes = (
        Scope("acme-dev", frozenset({Action.PUSH, Action.PULL}), "web/*"),
        Scope("acme-prod", frozenset({Action.PULL})),
    )
    assert describe_scopes(scopes) == "acme-dev/web/*:pull,push acme-prod:pull"
