"""`/api/v1/members`: adding members under the password policy, roles, removal and password changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shipshape.api.oci.access import ACCESS
from tests.http.manage_support import PASSWORD, ManageApi, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManageApi]:
    async with running_api(tmp_path) as api:
        await api.account("acme")
        yield api


async def test_added_member_logs_in_and_is_listed(api: ManageApi) -> None:
    body = {"username": "alice", "role": "developer", "account": "acme", "password": PASSWORD}
    answer = await api.post("/members", body)
    assert answer.status == 201 and answer.body == {"username": "alice", "account": "acme", "role": "developer"}
    me = await api.get("/me", as_=("alice", PASSWORD))
    assert me.status == 200 and me.body["role"] == "developer"
    listed = await api.get("/members?account=acme")
    assert listed.body == {"members": [{"username": "alice", "account": "acme", "role": "developer"}]}


async def test_passwords_are_stored_as_argon2id(api: ManageApi) -> None:
    await api.member("alice", "viewer", account="acme")
    store = api.client.server.app[ACCESS].store
    found = await store.get_member("alice")
    assert found is not None and found[1].startswith("$argon2id$") and PASSWORD not in found[1]


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short-pw", "too short"), ("password1234!", "too common"), ("xx-alice-in-wonderland", "contains the username")],
)
async def test_password_policy_refusals_say_why(api: ManageApi, password: str, reason: str) -> None:
    body = {"username": "alice", "role": "viewer", "account": "acme", "password": password}
    answer = await api.post("/members", body)
    assert answer.status == 422 and answer.code == "PASSWORD_REJECTED"
    assert reason in answer.message and password not in answer.message
    audit = await api.audit()
    assert audit[0]["action"] == "member.add" and audit[0]["result"] == "failure"
    assert password not in str(audit)


async def test_usernames_are_shared_with_credentials(api: ManageApi) -> None:
    await api.member("alice", "viewer", account="acme")
    answer = await api.post("/members", {"username": "alice", "role": "viewer", "password": PASSWORD})
    assert answer.status == 409


async def test_admins_manage_members_but_only_owners_make_owners(api: ManageApi) -> None:
    admin = await api.member("adam", "admin", account="acme")
    ok = await api.post("/members", {"username": "dev", "role": "developer", "password": PASSWORD}, as_=admin)
    assert ok.status == 201 and ok.body["account"] == "acme"
    refused = await api.post("/members", {"username": "boss", "role": "owner", "password": PASSWORD}, as_=admin)
    assert refused.status == 403 and "only owners" in refused.message
    owner = await api.member("olivia", "owner", account="acme")
    made = await api.post("/members", {"username": "boss", "role": "owner", "password": PASSWORD}, as_=owner)
    assert made.status == 201


async def test_developers_cannot_list_or_add_members(api: ManageApi) -> None:
    developer = await api.member("dev", "developer", account="acme")
    assert (await api.get("/members", as_=developer)).status == 403
    answer = await api.post("/members", {"username": "x1", "role": "viewer", "password": PASSWORD}, as_=developer)
    assert answer.status == 403 and "owner or admin" in answer.message


async def test_removed_member_cannot_log_in_at_once(api: ManageApi) -> None:
    login = await api.member("alice", "viewer", account="acme")
    assert (await api.get("/me", as_=login)).status == 200  # now cached as a verified login
    assert (await api.call("DELETE", "/members/alice")).status == 204
    assert (await api.get("/me", as_=login)).status == 401
    assert (await api.call("DELETE", "/members/alice")).status == 404


async def test_the_last_owner_cannot_be_removed(api: ManageApi) -> None:
    answer = await api.call("DELETE", "/members/admin")
    assert answer.status == 403 and "last owner" in answer.message
    await api.member("second", "owner", account="default")
    assert (await api.call("DELETE", "/members/admin")).status == 204


async def test_password_change_ends_the_old_password_at_once(api: ManageApi) -> None:
    login = await api.member("alice", "viewer", account="acme")
    assert (await api.get("/me", as_=login)).status == 200
    new = "a-brand-new-long-passphrase"
    answer = await api.call("PUT", "/members/alice/password", {"password": new}, as_=login)
    assert answer.status == 204
    assert (await api.get("/me", as_=login)).status == 401
    assert (await api.get("/me", as_=("alice", new))).status == 200


async def test_viewers_cannot_change_others_passwords(api: ManageApi) -> None:
    viewer = await api.member("vera", "viewer", account="acme")
    await api.member("alice", "viewer", account="acme")
    answer = await api.call("PUT", "/members/alice/password", {"password": "another-long-passphrase"}, as_=viewer)
    assert answer.status == 403
