"""First start: an empty server gets account `default` and its owner `admin`."""

from __future__ import annotations

import asyncio
import secrets

from shipshape.auth.passwords import hash_password
from shipshape.domain.access import Account, Member, Role
from shipshape.domain.errors import Conflict
from shipshape.domain.passwords import check_password
from shipshape.ports import AccessStore, Clock

DEFAULT_ACCOUNT = "default"
ADMIN = "admin"


async def bootstrap(store: AccessStore, clock: Clock, admin_password: str | None) -> str | None:
    """Create `default`/`admin` when no account exists yet; return the admin password if it was generated."""
    if await store.list_accounts():
        return None
    generated = admin_password is None
    password = admin_password if admin_password is not None else secrets.token_urlsafe(18)
    check_password(password, ADMIN)
    now = clock.now()
    try:
        await store.create_account(Account(name=DEFAULT_ACCOUNT, created_at=now))
    except Conflict:
        return None  # another process is making the same first start (several processes on one database)
    password_hash = await asyncio.to_thread(hash_password, password)
    await store.add_member(Member(username=ADMIN, account=DEFAULT_ACCOUNT, role=Role.OWNER), password_hash, now)
    return password if generated else None
