"""The revocation epoch of a deployment: the processes of one machine see an advance at once (a file in the data
dir, one `stat` a request), the processes of other machines within `interval` (a counter in the database, which
each process reads in the background).

Processes on several hosts share no data dir; without the shared counter, a login one of them cached would stay
valid there for the login cache's lifetime (10 s) after its secret was revoked.
"""

from __future__ import annotations

import asyncio
import logging

from shipshape.ports import RevocationCounter, RevocationEpoch

log = logging.getLogger("shipshape.revocations")

REFRESH_INTERVAL = 1.0  # seconds


class SharedRevocationEpoch:
    def __init__(self, local: RevocationEpoch, counter: RevocationCounter, interval: float = REFRESH_INTERVAL) -> None:
        self._local = local
        self._counter = counter
        self._interval = interval
        self._shared = 0
        self._writes: set[asyncio.Task[None]] = set()

    def current(self) -> int:
        return hash((self._local.current(), self._shared))

    def advance(self) -> None:
        """Advance at once here and on this machine; the database's counter in a task of its own (the caller,
        a revocation, has committed already)."""
        self._local.advance()
        task = asyncio.get_running_loop().create_task(self._counter.advance_revocation_epoch())
        self._writes.add(task)
        task.add_done_callback(self._written)

    async def refresh(self) -> None:
        """Read the database's counter: an advance by another host's process shows from now on."""
        self._shared = await self._counter.revocation_epoch()

    async def run(self) -> None:
        """Refresh every interval until cancelled; wait for the writes still in flight when cancelled."""
        try:
            while True:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("reading the revocation epoch failed; retrying")
                await asyncio.sleep(self._interval)
        finally:
            if self._writes:
                await asyncio.gather(*self._writes, return_exceptions=True)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("advancing the revocation epoch in the database failed", exc_info=task.exception())
