"""Authenticator on a real SQLite file with a fake clock: rotation, reset, expiry, revocation, lockout, caching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipshape.auth.passwords import Argon2Parameters, hash_password
from shipshape.domain import credentials as lifecycle
from shipshape.domain.access import (
    Account,
    Action,
    Credential,
    CredentialKind,
    Environment,
    Member,
    Registry,
    Role,
    Scope,
    SecretHash,
)
from shipshape.domain.errors import CredentialExpired, LoginLocked, Unauthorized
from shipshape.domain.secrets import generate_secret, secret_sha256
from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.metadata.migrate import migrate
from shipshape.services.authentication import Authenticator, LoginPolicy

CHEAP = Argon2Parameters(time_cost=1, memory_kib=8, parallelism=1)
POLICY = LoginPolicy(max_failures_per_identity=3, slowdown_step=0.0, slowdown_cap=0.0)


@dataclass
class FakeClock:
    moment: datetime = field(default_factory=lambda: datetime(2026, 1, 15, 12, tzinfo=UTC))

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqlAccessStore]:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    migrate(url)
    access = open_access_store(url)
    await access.create_account(Account("acme", clock.now()))
    await access.create_registry(Registry("acme-dev", "acme", Environment.DEVELOPMENT), clock.now())
    yield access
    await access.close()


async def new_credential(store: SqlAccessStore, clock: FakeClock) -> tuple[Credential, str]:
    secret = generate_secret()
    credential = Credential(
        username="acme-dev+ci", name="ci", account="acme", kind=CredentialKind.CI,
        scopes=(Scope("acme-dev", frozenset({Action.PULL, Action.PUSH})),),
        expires_at=clock.now() + timedelta(days=30), created_at=clock.now(), created_by="admin",
        secrets=(SecretHash(secret_sha256(secret)),),
    )  # fmt: skip
    await store.create_credential(credential)
    return credential, secret


async def test_credential_secret_authenticates_and_records_last_use(store: SqlAccessStore, clock: FakeClock) -> None:
    _, secret = await new_credential(store, clock)
    principal = await Authenticator(store, clock, POLICY).basic("acme-dev+ci", secret, "127.0.0.1")
    assert isinstance(principal, Credential) and principal.username == "acme-dev+ci"
    stored = await store.get_credential("acme-dev+ci")
    assert stored is not None and stored.last_used_at == clock.now()


async def test_rotated_secret_keeps_working_for_the_grace_window_only(store: SqlAccessStore, clock: FakeClock) -> None:
    credential, old = await new_credential(store, clock)
    new = generate_secret()
    await store.save_credential(lifecycle.rotate(credential, secret_sha256(new), clock.now(), timedelta(hours=24)))
    clock.moment += timedelta(hours=23)
    authenticator = Authenticator(store, clock, POLICY)
    assert await authenticator.basic("acme-dev+ci", old, None)
    assert await authenticator.basic("acme-dev+ci", new, None)
    clock.moment += timedelta(hours=2)
    fresh = Authenticator(store, clock, POLICY)  # another process: nothing cached
    with pytest.raises(Unauthorized):
        await fresh.basic("acme-dev+ci", old, None)
    assert await fresh.basic("acme-dev+ci", new, None)


async def test_reset_kills_the_old_secret_at_once_even_when_cached(store: SqlAccessStore, clock: FakeClock) -> None:
    credential, old = await new_credential(store, clock)
    authenticator = Authenticator(store, clock, POLICY)
    assert await authenticator.basic("acme-dev+ci", old, None)
    await store.save_credential(lifecycle.reset(credential, secret_sha256(generate_secret())))
    authenticator.forget("acme-dev+ci")
    with pytest.raises(Unauthorized):
        await authenticator.basic("acme-dev+ci", old, None)


async def test_expired_credential_is_refused_with_the_expiry_and_the_fix(
    store: SqlAccessStore, clock: FakeClock
) -> None:
    _, secret = await new_credential(store, clock)
    clock.moment += timedelta(days=31)
    with pytest.raises(CredentialExpired, match="expired") as refused:
        await Authenticator(store, clock, POLICY).basic("acme-dev+ci", secret, None)
    assert "rotate" in refused.value.message


async def test_revoked_credential_is_refused(store: SqlAccessStore, clock: FakeClock) -> None:
    credential, secret = await new_credential(store, clock)
    await store.save_credential(lifecycle.revoke(credential, clock.now()))
    with pytest.raises(Unauthorized):
        await Authenticator(store, clock, POLICY).basic("acme-dev+ci", secret, None)


async def test_member_password_is_verified_and_wrong_ones_refused(store: SqlAccessStore, clock: FakeClock) -> None:
    await store.add_member(
        Member("alice", "acme", Role.DEVELOPER), hash_password("long-enough-pass-9", CHEAP), clock.now()
    )
    authenticator = Authenticator(store, clock, POLICY)
    assert await authenticator.basic("alice", "long-enough-pass-9", None) == Member("alice", "acme", Role.DEVELOPER)
    with pytest.raises(Unauthorized, match="invalid username or secret"):
        await authenticator.basic("alice", "wrong-password-123", None)
    with pytest.raises(Unauthorized, match="invalid username or secret"):
        await authenticator.basic("nobody", "whatever-password-1", None)


async def test_repeated_failures_lock_the_identity_out_and_are_audited(store: SqlAccessStore, clock: FakeClock) -> None:
    _, secret = await new_credential(store, clock)
    authenticator = Authenticator(store, clock, POLICY)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await authenticator.basic("acme-dev+ci", generate_secret(), "10.1.2.3")
    with pytest.raises(LoginLocked, match="try again"):
        await authenticator.basic("acme-dev+ci", secret, "10.1.2.3")  # even the right secret
    events = await store.audit_events("acme", None, None, 10)  # the account's admins see them
    assert [e.result for e in events][:2] == ["locked", "failure"]
    assert events[1].credential == "acme-dev+ci" and events[1].detail == {"reason": "Unauthorized"}
    clock.moment += POLICY.window + timedelta(seconds=1)
    assert await authenticator.basic("acme-dev+ci", secret, "10.1.2.3")


async def test_bearer_subject_resolves_to_live_principals_only(store: SqlAccessStore, clock: FakeClock) -> None:
    credential, _ = await new_credential(store, clock)
    authenticator = Authenticator(store, clock, POLICY)
    assert await authenticator.principal("acme-dev+ci") is not None
    await store.save_credential(replace(lifecycle.revoke(credential, clock.now())))
    authenticator.forget("acme-dev+ci")
    assert await authenticator.principal("acme-dev+ci") is None
    assert await authenticator.principal("nobody") is None


async def test_parallel_guesses_cannot_outrun_the_lockout(store: SqlAccessStore, clock: FakeClock) -> None:
    await new_credential(store, clock)
    authenticator = Authenticator(store, clock, POLICY)
    outcomes = await asyncio.gather(
        *(authenticator.basic("acme-dev+ci", generate_secret(), "10.1.2.3") for _ in range(8)), return_exceptions=True
    )
    assert sum(isinstance(o, LoginLocked) for o in outcomes) == 8 - POLICY.max_failures_per_identity
    assert all(isinstance(o, Unauthorized | LoginLocked) for o in outcomes)


async def test_parallel_logins_with_the_same_secret_are_checked_and_audited_once(
    store: SqlAccessStore, clock: FakeClock
) -> None:
    # A client sends many requests at once with one Authorization header: the first checks, the rest reuse it.
    _, secret = await new_credential(store, clock)
    authenticator = Authenticator(store, clock, POLICY)
    principals = await asyncio.gather(*(authenticator.basic("acme-dev+ci", secret, "10.1.2.3") for _ in range(16)))
    assert {p.username for p in principals if isinstance(p, Credential)} == {"acme-dev+ci"}
    logins = [e for e in await store.audit_events("acme", None, None, 100) if e.action == "login"]
    assert [e.result for e in logins] == ["success"]


async def test_a_secret_typed_as_the_username_is_never_recorded(store: SqlAccessStore, clock: FakeClock) -> None:
    pasted = generate_secret()
    with pytest.raises(Unauthorized):
        await Authenticator(store, clock, POLICY).basic(pasted, "whatever-password-1", "10.1.2.3")
    events = await store.audit_events(None, None, None, 10)
    assert events and all(pasted not in f"{e.actor} {e.target} {e.detail}" for e in events)


async def test_guessing_from_one_address_never_locks_out_others_behind_it(
    store: SqlAccessStore, clock: FakeClock
) -> None:
    """An office behind one NAT address: someone there sprays wrong passwords at many names (far more failures
    than any one name may have); a colleague at the same address still logs in, and so does the credential."""
    await store.add_member(
        Member("alice", "acme", Role.DEVELOPER), hash_password("alice-long-password", CHEAP), clock.now()
    )
    _, secret = await new_credential(store, clock)
    authenticator = Authenticator(store, clock, POLICY)
    office = "10.1.2.3"
    for n in range(5 * POLICY.max_failures_per_identity):
        with pytest.raises((Unauthorized, LoginLocked)):  # each name guessed at locks after its 3rd failure
            await authenticator.basic(f"guess{n % 4}", "wrong-password-123", office)
    assert await authenticator.basic("alice", "alice-long-password", office)
    assert await authenticator.basic("acme-dev+ci", secret, office)
    with pytest.raises(LoginLocked, match="guess0"):
        await authenticator.basic("guess0", "wrong-password-123", office)  # the names guessed at are locked
