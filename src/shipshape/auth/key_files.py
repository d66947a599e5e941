"""Secret keys kept in files of the data dir (0600): created once, atomically, and checked when read.

Every server process of a deployment shares the data dir, hence its keys.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(path: Path, what: str, if_lost: str) -> bytes:
    """The key in `path`, created (0600, 32 random bytes) if missing; concurrent first starts agree on one.

    `what` names the key in errors (`token signing key`); `if_lost` says what replacing it breaks.
    """
    try:
        return _read_key(path, what, if_lost)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked into place: the file appears complete or not at all, and a
    # process that loses the race to create it reads the winner's key instead of replacing it.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        else:
            _fsync_directory(path.parent)
    finally:
        os.unlink(temporary)
    return _read_key(path, what, if_lost)


def _read_key(path: Path, what: str, if_lost: str) -> bytes:
    """Read the key in `path`, refusing one that others can read or that has the wrong size."""
    with path.open("rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        key = file.read()
    if mode & 0o077:
        raise PermissionError(f"{what} {path} is accessible to other users: run `chmod 600 {path}`")
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"{what} {path} is {len(key)} bytes, not {KEY_BYTES}: restore it from a backup, or delete it and restart"
            f" to create a new one ({if_lost})"
        )
    return key


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
