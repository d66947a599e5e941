"""Storage quotas: each account's usage kept in memory, so that admitting a push costs an index lookup, and
measured again in full when a push comes near the quota (deletions and GC only lower it) or the measure is old.

A blob counts once per account: storing one that a repository of the account links already costs nothing (looked
up only when a push would cross a limit; elsewhere the estimate may run high until the next measure). A push
that would exceed the quota is refused (`quota` rule, DENIED) before anything is stored. Concurrent pushes that are
admitted together may pass the quota by what they add; the next one is refused. Crossing 80% and 90% is audited and
published as a `usage-alert` event, once per crossing across processes (the level raised is kept in the database).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from shipshape.domain.access import Account, AuditEvent, Registry
from shipshape.domain.errors import PolicyRefused
from shipshape.domain.events import EventKind
from shipshape.domain.usage import Usage, alert_level, percent_of, quota_refusal
from shipshape.ports import AccessStore, Clock
from shipshape.services.policies import RegistryRules

log = logging.getLogger("shipshape.quotas")

MEASURE_AGAIN = timedelta(seconds=30)  # a measure older than this is refreshed in the background
ACCOUNT_FRESH = timedelta(seconds=5)  # how long an account's quota and registries are reused without a lookup


class UsageReader(Protocol):
    async def usage(self, registries: Sequence[str]) -> Usage: ...

    async def blob_counted(self, registries: Sequence[str], digest: str) -> bool: ...

    async def manifest_counted(self, registries: Sequence[str], digest: str) -> bool: ...

    async def raise_alert_level(self, account: str, level: int) -> bool: ...

    async def lower_alert_level(self, account: str, level: int) -> None: ...


@dataclass
class _Meter:
    account: Account
    registries: tuple[str, ...]
    looked_up_at: datetime
    used: int | None = None
    measured_at: datetime | None = None
    refreshing: asyncio.Task[None] | None = None


class Quotas:
    def __init__(self, usage: UsageReader, access: AccessStore, rules: RegistryRules, clock: Clock) -> None:
        self._usage = usage
        self._access = access
        self._rules = rules
        self._clock = clock
        self._meters: dict[str, _Meter] = {}

    async def admit_blob(self, repository: str, digest: str, size: int) -> None:
        """Refuse (PolicyRefused, rule `quota`) storing blob `digest` of `size` bytes in `repository` when it would
        take the account past its quota."""
        registry = await self._rules.registry_of(repository)
        if registry is None:
            return
        try:
            await self._admit(registry, repository, size, lambda names: self._usage.blob_counted(names, digest))
        except PolicyRefused as refusal:
            await self._rules.refused(refusal, registry, repository, None, digest=digest)
            raise

    async def admit_manifest(self, registry: Registry, repository: str, digest: str, size: int) -> None:
        """The same for a manifest document (the caller publishes the refusal, as for its other policies)."""
        await self._admit(registry, repository, size, lambda names: self._usage.manifest_counted(names, digest))

    async def measure(self, account: str) -> int:
        """The account's usage now, measured in full (and remembered)."""
        meter = await self._meter(account)
        return await self._measure(meter)

    def forget(self, account: str) -> None:
        """The account's quota or registries changed: look them up again at the next push."""
        self._meters.pop(account, None)

    async def _admit(
        self, registry: Registry, repository: str, size: int, counted: Callable[[Sequence[str]], Awaitable[bool]]
    ) -> None:
        meter = await self._meter(registry.account)
        used = meter.used if meter.used is not None else await self._measure(meter)
        quota = meter.account.quota_bytes
        if used + size > quota or alert_level(used + size, quota) > alert_level(used, quota):
            # Only near a limit does it matter whether the bytes are new: elsewhere a re-push only makes the
            # estimate high until the next measure, and saves every push a lookup.
            if await counted(meter.registries):
                return
            used = await self._measure(meter)  # exact, and deletions and GC may have made room since
            refusal = quota_refusal(meter.account.name, used, size, quota)
            if refusal is not None:
                raise refusal
        meter.used = used + size
        await self._alert_if_crossed(meter, registry, repository, used, used + size)
        self._refresh_if_old(meter)

    async def _meter(self, account: str) -> _Meter:
        now = self._clock.now()
        meter = self._meters.get(account)
        if meter is None or now - meter.looked_up_at > ACCOUNT_FRESH:
            found = await self._access.get_account(account)
            if found is None:
                raise LookupError(f"account {account} not found")
            registries = tuple(registry.name for registry in await self._access.list_registries(account))
            if meter is None or meter.registries != registries:
                meter = _Meter(found, registries, now)  # a new registry: measure again
            else:
                meter.account, meter.looked_up_at = found, now
            self._meters[account] = meter
        return meter

    async def _measure(self, meter: _Meter) -> int:
        used = (await self._usage.usage(meter.registries)).bytes
        meter.used, meter.measured_at = used, self._clock.now()
        level = alert_level(used, meter.account.quota_bytes)
        await self._usage.lower_alert_level(meter.account.name, level)
        return used

    def _refresh_if_old(self, meter: _Meter) -> None:
        measured = meter.measured_at
        if measured is not None and self._clock.now() - measured <= MEASURE_AGAIN:
            return
        if meter.refreshing is not None and not meter.refreshing.done():
            return

        async def refresh() -> None:
            try:
                await self._measure(meter)
            except Exception:
                log.exception("could not measure the usage of account %s", meter.account.name)

        meter.refreshing = asyncio.get_running_loop().create_task(refresh())

    async def _alert_if_crossed(
        self, meter: _Meter, registry: Registry, repository: str, before: int, after: int
    ) -> None:
        quota = meter.account.quota_bytes
        level = alert_level(after, quota)
        if level <= alert_level(before, quota) or not await self._usage.raise_alert_level(meter.account.name, level):
            return
        percent = percent_of(after, quota)
        detail = {"level": str(level), "percent": str(percent), "used": str(after), "limit": str(quota)}
        await self._access.record_audit(
            AuditEvent(
                time=self._clock.now(),
                account=meter.account.name,
                registry=registry.name,
                actor="quota",
                action="usage.alert",
                target=meter.account.name,
                result="success",
                detail=detail,
            )
        )
        await self._rules.publish(EventKind.USAGE_ALERT, registry, repository, None, detail=detail)
