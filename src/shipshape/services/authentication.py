"""Who is calling: Basic credentials (members' passwords, machine secrets) and bearer tokens, with lockout.

Verifying a member's password costs an Argon2id hash, and a machine secret a database lookup; neither belongs on
every request. A verified login is remembered briefly (keyed by a hash of what was sent, never the secret itself);
a reset or revoke in this process forgets it at once, other processes within `cache_ttl`.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shipshape.auth.passwords import verify_password, verify_unknown_user
from shipshape.domain import credentials as lifecycle
from shipshape.domain.access import AuditEvent, Credential, Member, Principal
from shipshape.domain.credentials import INVALID_LOGIN
from shipshape.domain.errors import LoginLocked, Unauthorized
from shipshape.domain.secrets import is_well_formed, secret_sha256
from shipshape.ports import AccessStore, Clock, Epoch

MAX_IDENTITY = 255
PASSWORD_ID_LENGTH = 16  # hex characters: enough to tell a member's passwords apart


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How failed logins are slowed and then locked out.

    Only a login name is ever locked out (after `max_failures_per_identity` failures within `window`), so one
    client guessing behind a shared address (an office's NAT) cannot lock out everyone else there. Failures from
    one address only slow down that address's further failures: each failure is answered after a wait that
    doubles with the recent failures of its login name or of its address, whichever is more, up to
    `slowdown_cap`. A correct login is never slowed."""

    max_failures_per_identity: int = 10
    window: timedelta = timedelta(minutes=15)
    slowdown_step: float = 0.05  # seconds, doubled with every recent failure
    slowdown_cap: float = 2.0
    cache_ttl: timedelta = timedelta(seconds=10)
    last_used_resolution: timedelta = timedelta(minutes=1)


@dataclass(slots=True)
class _Verified:
    principal: Member | Credential
    until: datetime


class Authenticator:
    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        policy: LoginPolicy | None = None,
        epoch: Epoch | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy or LoginPolicy()
        self._epoch = epoch
        self._seen_epoch = epoch.current() if epoch else 0
        self._cache: dict[str, _Verified] = {}  # by a hash of username and secret
        self._subjects: dict[str, _Verified] = {}  # by username, for bearer tokens
        self._login_locks: dict[str, asyncio.Lock] = {}

    async def basic(self, username: str, secret: str, remote: str | None) -> Member | Credential:
        """The member or credential that `username`/`secret` prove; raises `Unauthorized` or `LoginLocked`."""
        now = self._clock.now()
        self._drop_caches_after_revocations()
        key = _cache_key(username, secret)
        cached = self._cache.get(key)
        if cached is not None and cached.until > now:
            return cached.principal
        identity = _identity(username)
        epoch = self._seen_epoch
        # One check at a time per identity: parallel guesses must each see the failures recorded before them.
        lock = self._login_locks.setdefault(identity, asyncio.Lock())
        try:
            async with lock:
                # Clients send requests in parallel with the same header: the first one checks, the others
                # waiting here take its result instead of each checking (and auditing a login) again.
                self._drop_caches_after_revocations()
                cached = self._cache.get(key)
                if cached is not None and cached.until > now:
                    return cached.principal
                principal = await self._check(identity, username, secret, remote, now)
        finally:
            if not lock.locked():
                self._login_locks.pop(identity, None)
        if self._epoch is None or self._epoch.current() == epoch:  # nothing was revoked while we checked
            self._cache[key] = _Verified(principal, now + self._policy.cache_ttl)
        return principal

    async def _check(
        self, identity: str, username: str, secret: str, remote: str | None, now: datetime
    ) -> Member | Credential:
        await self._refuse_if_locked(identity, remote, now)
        try:
            principal = await self._verify(username, secret, now)
        except Unauthorized as error:
            await self._failed(identity, remote, now, error)
            raise
        await self._store.clear_login_failures(identity)
        await self._store.record_audit(
            AuditEvent(now, principal.account, identity, "login", identity, "success", remote,
                       credential=identity if isinstance(principal, Credential) else None)
        )  # fmt: skip
        return principal

    async def principal(self, username: str) -> Member | Credential | None:
        """The member or live credential named `username` (a bearer token's subject), or None."""
        now = self._clock.now()
        self._drop_caches_after_revocations()
        cached = self._subjects.get(username)
        if cached is not None and cached.until > now:
            return cached.principal
        credential = await self._store.get_credential(username)
        principal: Member | Credential | None
        if credential is not None:
            alive = credential.revoked_at is None and credential.expires_at > now
            principal = credential if alive else None
        else:
            found = await self._store.get_member(username)
            principal = _with_password_id(*found) if found else None
        if principal is not None:
            self._subjects[username] = _Verified(principal, now + self._policy.cache_ttl)
        return principal

    def forget(self, username: str) -> None:
        """Drop cached logins of `username` (after a reset, revoke or password change), in every process."""
        if self._epoch is not None:
            self._epoch.advance()
        for key in [k for k, v in self._cache.items() if _username(v.principal) == username]:
            del self._cache[key]
        self._subjects.pop(username, None)

    def forget_everyone(self) -> None:
        """Drop every cached login, in every process (after a registry's deletion ended the scopes on it)."""
        if self._epoch is not None:
            self._epoch.advance()
        self._cache.clear()
        self._subjects.clear()

    def _drop_caches_after_revocations(self) -> None:
        if self._epoch is None:
            return
        epoch = self._epoch.current()
        if epoch != self._seen_epoch:  # another process revoked something: trust nothing cached before
            self._cache.clear()
            self._subjects.clear()
            self._seen_epoch = epoch

    async def _verify(self, username: str, secret: str, now: datetime) -> Member | Credential:
        if is_well_formed(secret):
            credential = await self._store.get_credential(username)
            if credential is None:
                raise Unauthorized(INVALID_LOGIN)
            lifecycle.verify(credential, secret_sha256(secret), now)
            if credential.last_used_at is None or now - credential.last_used_at >= self._policy.last_used_resolution:
                await self._store.record_credential_use(username, now)
                credential = replace(credential, last_used_at=now)
            return credential
        found = await self._store.get_member(username)
        if found is None:
            # Spend what a real check costs, so response times do not reveal which usernames exist.
            await asyncio.to_thread(verify_unknown_user, secret)
            raise Unauthorized(INVALID_LOGIN)
        member, password_hash = found
        if not await asyncio.to_thread(verify_password, password_hash, secret):
            raise Unauthorized(INVALID_LOGIN)
        return _with_password_id(member, password_hash)

    async def _owner_of(self, username: str) -> tuple[str | None, str | None]:
        """The account of a known login name (so its admins see failures against it), and whether it is a
        credential."""
        credential = await self._store.get_credential(username)
        if credential is not None:
            return credential.account, username
        member = await self._store.get_member(username)
        return (member[0].account if member else None), None

    async def _refuse_if_locked(self, username: str, remote: str | None, now: datetime) -> None:
        by_identity, _ = await self._store.login_failures_since(username, remote, now - self._policy.window)
        if by_identity >= self._policy.max_failures_per_identity:
            account, credential = await self._owner_of(username)
            await self._store.record_audit(
                AuditEvent(now, account, username, "login", username, "locked", remote, credential)
            )
            minutes = int(self._policy.window.total_seconds() // 60)
            await asyncio.sleep(self._policy.slowdown_cap)  # hammering a locked door is slow too
            raise LoginLocked(
                f"too many failed logins for {username!r}: try again in {minutes} minutes, or ask an"
                " administrator to reset the credential or the member's password"
            )

    async def _failed(self, username: str, remote: str | None, now: datetime, error: Unauthorized) -> None:
        await self._store.record_login_failure(username, remote, now)
        account, credential = await self._owner_of(username)
        # The reason is the error's kind (wrong secret, expired, revoked), never anything the caller sent.
        detail = {"reason": type(error).__name__}
        await self._store.record_audit(
            AuditEvent(now, account, username, "login", username, "failure", remote, credential, detail=detail)
        )
        by_identity, by_address = await self._store.login_failures_since(username, remote, now - self._policy.window)
        # Slow down guessing, of one name or of many names from one address: each recent failure doubles the wait
        # before the refusal is sent.
        recent = max(by_identity, by_address)
        await asyncio.sleep(min(self._policy.slowdown_step * 2 ** max(recent - 1, 0), self._policy.slowdown_cap))


def _identity(username: str) -> str:
    """The login name as it may be recorded: a secret pasted into the username field is never stored or echoed,
    and junk is cut to a sane length."""
    if is_well_formed(username):
        return f"<a secret, sha256 {secret_sha256(username)[:12]}>"
    return username[:MAX_IDENTITY]


def _cache_key(username: str, secret: str) -> str:
    return hashlib.sha256(f"{username}\0{secret}".encode()).hexdigest()


def _with_password_id(member: Member, password_hash: str) -> Member:
    return replace(member, password_id=secret_sha256(password_hash)[:PASSWORD_ID_LENGTH])


def _username(principal: Principal) -> str | None:
    return getattr(principal, "username", None)
