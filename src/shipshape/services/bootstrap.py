"""First start: an empty server gets account `default` and its owner `admin`; and, on the server's machine, a new
password for a member whose password is lost (`shipshape admin reset-password`)."""

from __future__ import annotations

import asyncio
import secrets

from shipshape.auth.passwords import hash_password
from shipshape.domain.access import Account, AuditEvent, Member, Role
from shipshape.domain.errors import Conflict, NameUnknown
from shipshape.domain.passwords import check_password
from shipshape.ports import AccessStore, Clock, EpochCounter

DEFAULT_ACCOUNT = "default"
ADMIN = "admin"


def new_password() -> str:
    """A generated password: 24 URL-safe characters (144 random bits)."""
    return secrets.token_urlsafe(18)


async def bootstrap(store: AccessStore, clock: Clock, admin_password: str | None) -> str | None:
    """Create `default`/`admin` when no account exists yet; return the admin password if it was generated.

    A first start cut short after creating the account (nothing else exists: `default` alone, without a member)
    is finished by the next start, so the server never lacks the admin whose password nobody saw."""
    accounts = await store.list_accounts()
    unfinished = [a.name for a in accounts] == [DEFAULT_ACCOUNT] and not await store.list_members(DEFAULT_ACCOUNT)
    if accounts and not unfinished:
        return None
    generated = admin_password is None
    password = admin_password if admin_password is not None else new_password()
    check_password(password, ADMIN)
    # Hashed before anything is created: nothing after the account's creation can fail but the database.
    password_hash = await asyncio.to_thread(hash_password, password)
    now = clock.now()
    try:
        if not unfinished:
            await store.create_account(Account(name=DEFAULT_ACCOUNT, created_at=now))
        await store.add_member(Member(username=ADMIN, account=DEFAULT_ACCOUNT, role=Role.OWNER), password_hash, now)
    except Conflict:
        return None  # another process is making the same first start (several processes on one database)
    return password if generated else None


OFFLINE_ACTOR = "shipshape admin reset-password"  # in the audit trail; never a username (it has spaces)


async def reset_password(
    store: AccessStore, epochs: EpochCounter, clock: Clock, username: str, password: str | None
) -> tuple[Member, str | None]:
    """Give member `username` a new password (generated when `password` is None, which is then returned), stored
    only as its Argon2id hash; logins cached with the old one end in every server process, and the audit trail
    records the reset.

    Raises `NameUnknown` if there is no such member, `PasswordRejected` for a password not accepted."""
    found = await store.get_member(username)
    if found is None:
        raise NameUnknown(f"there is no member {username!r}")
    member = found[0]
    chosen = password if password is not None else new_password()
    check_password(chosen, username)
    await store.set_member_password(username, await asyncio.to_thread(hash_password, chosen))
    await epochs.advance_epoch("revocations")
    await store.record_audit(
        AuditEvent(
            time=clock.now(), account=member.account, actor=OFFLINE_ACTOR, action="member.password",
            target=username, result="success", detail={"via": "the server's database"},
        )
    )  # fmt: skip
    return member, (None if password is not None else chosen)
