"""An epoch (revocations, settings) as a file in the data directory, shared by every server process on the machine.

Reading it is one `stat` (cheap enough for every request); advancing it replaces the file, which changes its
inode and modification time, so readers never miss an advance.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


class FileEpoch:
    def __init__(self, path: Path) -> None:
        self._path = path
        if not path.exists():
            self.advance()

    def current(self) -> int:
        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            return 0
        return hash((status.st_ino, status.st_mtime_ns, status.st_size))

    def advance(self) -> None:
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}.{time.monotonic_ns()}")
        temporary.write_text(f"{time.time_ns()}\n")
        os.replace(temporary, self._path)
