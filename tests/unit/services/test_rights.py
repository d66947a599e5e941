"""Who may manage what: the pure rules behind every management use case."""

from __future__ import annotations

import pytest

from shipshape.domain.access import Member, Role
from shipshape.services import rights


def member(role: Role, account: str = "acme", username: str = "someone") -> Member:
    return Member(username=username, account=account, role=role)


SERVER_ADMIN = member(Role.OWNER, account="default", username="admin")


def test_server_administrators_are_the_owners_of_default() -> None:
    assert rights.is_server_admin(SERVER_ADMIN)
    assert not rights.is_server_admin(member(Role.ADMIN, account="default"))
    assert not rights.is_server_admin(member(Role.OWNER, account="acme"))


def test_only_server_administrators_create_accounts() -> None:
    assert rights.may_create_account(SERVER_ADMIN) is None
    refusal = rights.may_create_account(member(Role.OWNER))
    assert (
        refusal is not None and refusal.rule == "server-admin-only" and "ask a server administrator" in refusal.message
    )


@pytest.mark.parametrize("role", list(Role))
def test_every_member_reads_its_own_account(role: Role) -> None:
    assert rights.may_read(member(role), "acme") is None
    assert rights.may_read(member(role), "globex") is not None
    assert rights.may_read(SERVER_ADMIN, "globex") is None


@pytest.mark.parametrize(("role", "allowed"), [(Role.OWNER, True), (Role.ADMIN, True), (Role.DEVELOPER, False),
                                              (Role.VIEWER, False)])  # fmt: skip
def test_owners_and_admins_manage_their_account(role: Role, allowed: bool) -> None:
    refusal = rights.may_manage(member(role), "acme", "credentials")
    assert (refusal is None) is allowed
    if refusal is not None:
        assert (
            refusal.rule == "owner-or-admin" and f"is a {role}" in refusal.message and "credentials" in refusal.message
        )


def test_managers_of_one_account_do_not_manage_another() -> None:
    refusal = rights.may_manage(member(Role.OWNER), "globex", "registries")
    assert refusal is not None and "not a member of account 'globex'" in refusal.message
    assert rights.may_manage(SERVER_ADMIN, "globex", "registries") is None


def test_only_owners_grant_the_owner_role() -> None:
    assert rights.may_grant(member(Role.ADMIN), "acme", Role.ADMIN) is None
    refusal = rights.may_grant(member(Role.ADMIN), "acme", Role.OWNER)
    assert refusal is not None and refusal.rule == "owners-grant-owner"
    assert rights.may_grant(member(Role.OWNER), "acme", Role.OWNER) is None
    assert rights.may_grant(SERVER_ADMIN, "acme", Role.OWNER) is None


def test_the_last_owner_stays() -> None:
    owner = member(Role.OWNER, username="olivia")
    refusal = rights.may_remove(SERVER_ADMIN, owner, owners_left=0)
    assert refusal is not None and refusal.rule == "last-owner" and "add another owner first" in refusal.message
    assert rights.may_remove(SERVER_ADMIN, owner, owners_left=1) is None
    assert rights.may_remove(member(Role.ADMIN), member(Role.DEVELOPER), owners_left=0) is None


def test_members_set_their_own_password_and_managers_others() -> None:
    viewer = member(Role.VIEWER, username="vera")
    assert rights.may_set_password(viewer, viewer) is None
    assert rights.may_set_password(viewer, member(Role.VIEWER, username="other")) is not None
    assert rights.may_set_password(member(Role.ADMIN), viewer) is None
    assert rights.may_set_password(member(Role.ADMIN), member(Role.OWNER, username="boss")) is not None
