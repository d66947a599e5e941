"""The first start's admin, and an offline reset of a lost password, on a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipshape.app import SystemClock
from shipshape.auth.passwords import verify_password
from shipshape.domain.access import Account
from shipshape.domain.errors import NameUnknown, PasswordRejected
from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.metadata.migrate import migrate
from shipshape.services.bootstrap import ADMIN, DEFAULT_ACCOUNT, OFFLINE_ACTOR, bootstrap, reset_password


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlAccessStore]:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    migrate(url)
    opened = open_access_store(url, threads=1)
    yield opened
    await opened.close()


async def test_the_first_start_creates_the_admin_and_returns_the_generated_password(store: SqlAccessStore) -> None:
    generated = await bootstrap(store, SystemClock(), None)
    assert generated is not None
    found = await store.get_member(ADMIN)
    assert found is not None and found[1].startswith("$argon2id$") and verify_password(found[1], generated)
    assert await bootstrap(store, SystemClock(), None) is None  # once only


async def test_a_first_start_cut_short_after_the_account_is_finished_by_the_next(store: SqlAccessStore) -> None:
    await store.create_account(Account(name=DEFAULT_ACCOUNT, created_at=datetime.now(UTC)))  # then it crashed
    generated = await bootstrap(store, SystemClock(), None)
    assert generated is not None and await store.get_member(ADMIN) is not None


async def test_a_refused_admin_password_creates_nothing(store: SqlAccessStore) -> None:
    with pytest.raises(PasswordRejected):
        await bootstrap(store, SystemClock(), "short")
    assert await store.list_accounts() == []


async def test_a_reset_stores_only_the_hash_of_a_new_password_and_is_audited(store: SqlAccessStore) -> None:
    old = await bootstrap(store, SystemClock(), None)
    assert old is not None
    epoch = await store.epoch("revocations")
    member, generated = await reset_password(store, store, SystemClock(), ADMIN, None)
    assert member.username == ADMIN and generated is not None and generated != old
    found = await store.get_member(ADMIN)
    assert found is not None and found[1].startswith("$argon2id$") and generated not in found[1]
    assert verify_password(found[1], generated) and not verify_password(found[1], old)
    assert await store.epoch("revocations") == epoch + 1  # every process drops logins cached with the old one
    events = await store.audit_events(DEFAULT_ACCOUNT, None, None, 10)
    assert (events[0].actor, events[0].action, events[0].target) == (OFFLINE_ACTOR, "member.password", ADMIN)


async def test_a_reset_to_a_chosen_password_returns_nothing_to_show(store: SqlAccessStore) -> None:
    await bootstrap(store, SystemClock(), None)
    _, shown = await reset_password(store, store, SystemClock(), ADMIN, "correct horse battery staple")
    found = await store.get_member(ADMIN)
    assert shown is None and found is not None and verify_password(found[1], "correct horse battery staple")
    with pytest.raises(PasswordRejected):
        await reset_password(store, store, SystemClock(), ADMIN, "short")


async def test_a_reset_of_nobody_is_refused(store: SqlAccessStore) -> None:
    with pytest.raises(NameUnknown):
        await reset_password(store, store, SystemClock(), "bob", None)
