"""The epochs of a deployment (revocations, settings): the processes of one machine see an advance at once (a
counter in a file of the data dir, mapped into memory), the processes of other machines within `interval` (a
counter in the database, which each process reads in the background).

Processes on several hosts share no data dir; without the shared counter, a login one of them cached would stay
valid there for the login cache's lifetime (10 s) after its secret was revoked, and a registry's policy as it was.
"""

from __future__ import annotations

import asyncio
import logging

from shipshape.ports import Epoch, EpochCounter

log = logging.getLogger("shipshape.epochs")

REFRESH_INTERVAL = 1.0  # seconds


class SharedEpoch:
    """Epoch `name`, in `local` (this machine) and in `counter` (the database)."""

    def __init__(self, name: str, local: Epoch, counter: EpochCounter, interval: float = REFRESH_INTERVAL) -> None:
        self.name = name
        self._local = local
        self._counter = counter
        self._interval = interval
        self._shared = 0
        self._writes: set[asyncio.Task[None]] = set()

    def current(self) -> int:
        # Both counters only grow, so their sum changes whenever either does.
        return self._local.current() + self._shared

    def advance(self) -> None:
        """Advance at once here and on this machine; the database's counter in a task of its own (the caller,
        a revocation or a change of settings, has committed already)."""
        self._local.advance()
        task = asyncio.get_running_loop().create_task(self._counter.advance_epoch(self.name))
        self._writes.add(task)
        task.add_done_callback(self._written)

    async def written(self) -> None:
        """Wait until the database's counter has every advance made here so far."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def refresh(self) -> None:
        """Read the database's counter: an advance by another host's process shows from now on."""
        self._shared = await self._counter.epoch(self.name)

    async def run(self) -> None:
        """Refresh every interval until cancelled; wait for the writes still in flight when cancelled."""
        try:
            while True:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("reading the %s epoch failed; retrying", self.name)
                await asyncio.sleep(self._interval)
        finally:
            await self.written()

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("advancing the %s epoch in the database failed", self.name, exc_info=task.exception())
