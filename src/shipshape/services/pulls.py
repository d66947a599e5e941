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
from shipshape.services.policies import ANONYMOUS

log = logging.getLogger("shipshape.pulls")

FLUSH_INTERVAL = 2.0  # seconds
_Key = tuple[str, str, str]  # repository, digest, puller


class _Pending:
    """One (manifest, puller)'s pulls since the last flush, updated in place."""

    __slots__ = ("count", "last")

    def __init__(self, count: int, last: datetime) -> None:
        self.count = count
        self.last = last


class PullRecorder:
    def __init__(self, log_: PullLog, clock: Clock, interval: float = FLUSH_INTERVAL) -> None:
        self._log = log_
        self._clock = clock
        self._interval = interval
        self._pending: dict[_Key, _Pending] = {}
        self._writing = asyncio.Lock()

    def record(self, repository: str, digest: str, principal: Principal | None) -> None:
        """Count one pull (no I/O). On every manifest GET: kept to a dictionary lookup and a clock reading."""
        key = (repository, digest, getattr(principal, "username", ANONYMOUS))  # actor_name, inlined
        tally = self._pending.get(key)
        if tally is None:
            self._pending[key] = _Pending(1, self._clock.now())
        else:
            tally.count += 1
            tally.last = self._clock.now()

    async def flush(self) -> int:
        """Write what accumulated; returns how many (manifest, puller) tallies were written."""
        async with self._writing:
            if not self._pending:
                return 0
            pending, self._pending = self._pending, {}
            tallies = [
                PullTally(repository, digest, puller, tally.count, tally.last)
                for (repository, digest, puller), tally in pending.items()
            ]
            try:
                return await self._log.record_pulls(tallies)
            except BaseException:
                # Put them back for the next flush, added to what arrived meanwhile.
                for tally in tallies:
                    key = (tally.repository, tally.digest, tally.puller)
                    arrived = self._pending.get(key)
                    if arrived is None:
                        self._pending[key] = _Pending(tally.count, tally.last_pulled_at)
                    else:
                        arrived.count += tally.count
                        arrived.last = max(arrived.last, tally.last_pulled_at)
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
