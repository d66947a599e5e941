"""Jobs that run in one process at a time (garbage collection, each registry's retention): who holds a job's lease,
and taking over the lease of a process that crashed on this machine instead of waiting for it to run out."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime
from typing import Protocol

log = logging.getLogger("shipshape.jobs")


class LeaseStore(Protocol):
    async def acquire_lease(self, job: str, holder: str, now: datetime, until: datetime) -> bool: ...

    async def lease_holder(self, job: str, now: datetime) -> tuple[str, datetime] | None: ...

    async def take_over_lease(self, job: str, old_holder: str, holder: str, now: datetime, until: datetime) -> bool: ...


def process_identity() -> str:
    """Who holds a lease: host, PID namespace, process and a random part (a PID can be reused after a crash)."""
    return f"{socket.gethostname()}:{_pid_namespace()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire_lease(store: LeaseStore, job: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take `job`'s lease if it is free, expired, or held by a process of this machine that no longer runs (a
    server killed in the middle of a run leaves its lease behind; its restart need not wait for it to expire)."""
    if await store.acquire_lease(job, holder, now, until):
        return True
    current = await store.lease_holder(job, now)
    if current is None or not holder_is_gone(current[0]):
        return False
    log.warning("taking over the lease of %s from %s, which no longer runs", job, current[0])
    return await store.take_over_lease(job, current[0], holder, now, until)


def holder_is_gone(holder: str) -> bool:
    """True only when `holder` names a process on this host, in this PID namespace, that does not exist. Anything
    else (another host, another container, a PID in use) counts as alive: the lease then runs out by itself."""
    host, namespace, pid = [*holder.split(":"), "", "", ""][:3]
    if host != socket.gethostname() or namespace != _pid_namespace() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:
        return "unknown"
