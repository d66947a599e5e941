"""Members of an account: adding, listing and removing them, and setting their passwords."""

from __future__ import annotations

import asyncio
import re

from shipshape.auth.passwords import hash_password
from shipshape.domain.access import Member, Role
from shipshape.domain.errors import NameInvalid, NameUnknown
from shipshape.domain.passwords import check_password
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.accounts import known_account
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.authentication import Authenticator

_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
MAX_NAME = 64
NAME_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*$"


RESERVED_NAMES = frozenset({"anonymous"})


def validate_name(name: str, what: str) -> str:
    """A member's username or a credential's name: one lowercase word, like a registry name."""
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise NameInvalid(
            f"invalid {what} {name!r}: up to {MAX_NAME} lowercase letters and digits,"
            " with single '.', '_' or '-' between them, e.g. ci-builder"
        )
    if name in RESERVED_NAMES:
        raise NameInvalid(f"{name!r} is reserved (it names callers who send no credentials): choose another {what}")
    return name


async def known_member(store: AccessStore, username: str, seen_by: Member | None = None) -> Member:
    """The member called `username`; `NameUnknown` if there is none, or if it is another account's than that of
    member `seen_by` (the same answer, so that nobody learns who is in other accounts)."""
    found = await store.get_member(username)
    if found is None or not rights.may_see(seen_by, found[0].account):
        raise NameUnknown(f"member {username!r} does not exist: see `shipshape member list`")
    return found[0]


class Members:
    """The member use cases; `authenticator` is told to forget a member who is removed or given a new password."""

    def __init__(self, store: AccessStore, clock: Clock, audit: AuditLog, authenticator: Authenticator) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._authenticator = authenticator

    async def add_member(
        self, actor: Actor, username: str, role: Role, password: str, account: str | None = None
    ) -> Member:
        owner = account or actor.member.account
        async with self._audit.failures(actor, "member.add", username, account=owner):
            refusal = rights.may_grant(actor.member, owner, role)
            await self._audit.enforce(actor, refusal, "member.add", username, owner)
            validate_name(username, "username")
            await known_account(self._store, owner)
            check_password(password, username)
            password_hash = await asyncio.to_thread(hash_password, password)
            member = Member(username=username, account=owner, role=role)
            await self._store.add_member(member, password_hash, self._clock.now())
        await self._audit.record(actor, "member.add", username, account=owner, detail={"role": str(role)})
        return member

    async def list_members(self, actor: Actor, account: str | None = None) -> list[Member]:
        owner = account or actor.member.account
        refusal = rights.may_manage(actor.member, owner, "members")
        await self._audit.enforce(actor, refusal, "member.list", owner, owner)
        return await self._store.list_members(owner)

    async def remove_member(self, actor: Actor, username: str) -> None:
        async with self._audit.failures(actor, "member.remove", username, account=None):
            target = await known_member(self._store, username, actor.member)
            owners = [m for m in await self._store.list_members(target.account) if m.role is Role.OWNER]
            left = len([m for m in owners if m.username != username])
            refusal = rights.may_remove(actor.member, target, left)
            await self._audit.enforce(actor, refusal, "member.remove", username, target.account)
            await self._store.remove_member(target.account, username)
        self._authenticator.forget(username)
        await self._audit.record(
            actor, "member.remove", username, account=target.account, detail={"role": str(target.role)}
        )

    async def set_password(self, actor: Actor, username: str, password: str) -> None:
        async with self._audit.failures(actor, "member.password", username, account=None):
            target = await known_member(self._store, username, actor.member)
            refusal = rights.may_set_password(actor.member, target)
            await self._audit.enforce(actor, refusal, "member.password", username, target.account)
            check_password(password, username)
            password_hash = await asyncio.to_thread(hash_password, password)
            await self._store.set_member_password(username, password_hash)
        self._authenticator.forget(username)
        await self._audit.record(actor, "member.password", username, account=target.account)
