"""Pull tracking: every manifest GET counted per manifest and per puller, off the request path.

A pull only adds to a dictionary in this process; a background task writes what accumulated, one transaction per
batch, every `interval` (and at shutdown). Readers that need the latest counts (showing an image, a retention
run) flush first. A crash loses at most one interval's counts, never a pull.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from shipshape.domain.access import Principal
from shipshape.domain.records import PullTally
from shipshape.ports import Clock, PullLog
from shipshape.services.policies import actor_name

log = logging.getLogger("shipshape.pulls")

FLUSH_INTERVAL = 2.0  # seconds
_Key = tuple[str, str, str]  # repository, digest, puller


class PullRecorder:
    def __init__(self, log_: PullLog, clock: Clock, interval: float = FLUSH_INTERVAL) -> None:
        self._log = log_
        self._clock = clock
        self._interval = interval
        self._pending: dict[_Key, tuple[int, datetime]] = {}
        self._writing = asyncio.Lock()

    def record(self, repository: str, digest: str, principal: Principal | None) -> None:
        """Count one pull (no I/O)."""
        key = (repository, digest, actor_name(principal))
        count, _ = self._pending.get(key, (0, None))
        self._pending[key] = (count + 1, self._clock.now())

    async def flush(self) -> int:
        """Write what accumulated; returns how many (manifest, puller) tallies were written."""
        async with self._writing:
            if not self._pending:
                return 0
            pending, self._pending = self._pending, {}
            tallies = [
                PullTally(repository, digest, puller, count, last)
                for (repository, digest, puller), (count, last) in pending.items()
            ]
            try:
                return await self._log.record_pulls(tallies)
            except BaseException:
                # Put them back for the next flush, added to what arrived meanwhile.
                for tally in tallies:
                    key = (tally.repository, tally.digest, tally.puller)
                    count, last = self._pending.get(key, (0, tally.last_pulled_at))
                    self._pending[key] = (count + tally.count, max(last, tally.last_pulled_at))
                raise

    async def run(self) -> None:
        """Flush every interval until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self._interval)
                try:
                    await self.flush()
                except Exception:
                    log.exception("recording pulls failed; retrying at the next flush")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
