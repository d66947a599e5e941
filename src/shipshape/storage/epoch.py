"""An epoch (revocations, settings) as a counter in a file of the data directory, shared by every server process
on the machine.

Each process maps the file's first 8 bytes into memory (shared), so reading the epoch is a memory read, cheap
enough for every request: it needs no system call. Advancing it increments the counter under an exclusive
`flock`, so two processes advancing at once both count. The counter only grows, which lets a reader add epochs
together (see `SharedEpoch`).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class FileEpoch:
    def __init__(self, path: Path) -> None:
        self._path = path
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                if os.fstat(descriptor).st_size < _COUNTER.size:
                    os.ftruncate(descriptor, _COUNTER.size)  # a new file (or one cut short) counts from 0
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            self._map = mmap.mmap(descriptor, _COUNTER.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(descriptor)  # the mapping keeps the file; flock() in advance() opens it again

    def current(self) -> int:
        return int(_COUNTER.unpack_from(self._map)[0])

    def advance(self) -> None:
        with open(self._path, "rb") as locked:
            fcntl.flock(locked, fcntl.LOCK_EX)
            _COUNTER.pack_into(self._map, 0, self.current() + 1)
            # Unlocked when the file closes.
