"""Benchmark blob data: one random file on disk, streamed to the registries and never held in memory.

Every push must upload content the registry has not seen yet (a registry may skip work for a blob it already
stores), yet generating and hashing a fresh 1 GiB file per push would dominate the run. So the data file is
generated once, the SHA-256 state after its first ``length`` bytes is kept, and each push sends
``file[:length] + nonce``: a unique blob whose digest costs one ``hash.copy().update(nonce)``.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

_WRITE_CHUNK = 8 << 20
NONCE_BYTES = 32


class HashState(Protocol):
    """The part of a ``hashlib`` object this module uses."""

    def copy(self) -> HashState: ...
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True)
class Blob:
    """A blob to upload: ``length`` bytes of ``path`` followed by ``suffix`` (the unique nonce)."""

    path: Path
    length: int
    suffix: bytes
    digest: str

    @property
    def size(self) -> int:
        return self.length + len(self.suffix)

    def send(self, sock: socket.socket, start: int = 0, end: int | None = None) -> None:
        """Send bytes ``[start, end)`` of the blob on ``sock``: the file part with sendfile(2), zero-copy."""
        end = self.size if end is None else end
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"range {start}-{end} outside blob of {self.size} bytes")
        file_end = min(end, self.length)
        if start < file_end:
            with self.path.open("rb") as f:
                sent = sock.sendfile(f, offset=start, count=file_end - start)
            if sent != file_end - start:
                raise OSError(f"sendfile sent {sent} of {file_end - start} bytes")
        suffix_start = max(start, self.length) - self.length
        suffix_end = end - self.length
        if suffix_end > suffix_start:
            sock.sendall(self.suffix[suffix_start:suffix_end])


@dataclass
class DataFile:
    """A random file plus the SHA-256 state after each of a few prefix lengths."""

    path: Path
    size: int
    prefix_states: dict[int, HashState] = field(default_factory=dict)

    def unique_blob(self, length: int) -> Blob:
        """A blob never pushed before: the first ``length`` bytes of the file and a random nonce."""
        state = self.prefix_states[length].copy()
        suffix = os.urandom(NONCE_BYTES // 2).hex().encode()
        state.update(suffix)
        return Blob(self.path, length, suffix, "sha256:" + state.hexdigest())


def generate(path: Path, size: int, prefix_lengths: list[int]) -> DataFile:
    """Write ``size`` random bytes to ``path`` in bounded chunks, hashing as it goes."""
    checkpoints = sorted({n for n in prefix_lengths if 0 < n <= size} | {size})
    state: HashState = hashlib.sha256()
    data = DataFile(path, size)
    written = 0
    with path.open("wb") as f:
        for checkpoint in checkpoints:
            while written < checkpoint:
                chunk = os.urandom(min(_WRITE_CHUNK, checkpoint - written))
                f.write(chunk)
                state.update(chunk)
                written += len(chunk)
            data.prefix_states[checkpoint] = state.copy()
        f.flush()
        os.fsync(f.fileno())
    return data
