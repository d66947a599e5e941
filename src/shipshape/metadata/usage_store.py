"""`SqlUsageStore`: storage usage, its daily snapshots and alert levels, on the metadata store's connections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from shipshape.domain.usage import Usage, UsageSnapshot
from shipshape.metadata import usage
from shipshape.metadata.store import SqlMetadataStore


class SqlUsageStore:
    def __init__(self, database: SqlMetadataStore) -> None:
        self._database = database

    async def usage(self, registries: Sequence[str]) -> Usage:
        return await self._database.read(lambda c: usage.usage(c, list(registries)))

    async def blob_counted(self, registries: Sequence[str], digest: str) -> bool:
        return await self._database.read(lambda c: usage.blob_counted(c, list(registries), digest))

    async def manifest_counted(self, registries: Sequence[str], digest: str) -> bool:
        return await self._database.read(lambda c: usage.manifest_counted(c, list(registries), digest))

    async def linked_blobs(self, registries: Sequence[str]) -> list[tuple[str, str, int]]:
        return await self._database.read(lambda c: usage.linked_blobs(c, list(registries)))

    async def manifest_sizes(self, registries: Sequence[str]) -> list[tuple[str, str, int]]:
        return await self._database.read(lambda c: usage.manifest_sizes(c, list(registries)))

    async def record_snapshots(self, account: str, day: date, totals: Mapping[str, int]) -> None:
        await self._database.write(lambda c: usage.record_snapshots(c, account, day, dict(totals)))

    async def snapshots(self, account: str, registry: str, since: date) -> list[UsageSnapshot]:
        return await self._database.read(lambda c: usage.snapshots(c, account, registry, since))

    async def raise_alert_level(self, account: str, level: int) -> bool:
        return await self._database.write(lambda c: usage.raise_alert_level(c, account, level))

    async def lower_alert_level(self, account: str, level: int) -> None:
        await self._database.write(lambda c: usage.lower_alert_level(c, account, level))
