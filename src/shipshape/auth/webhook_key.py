"""The server key that webhook secrets are derived from: 32 random bytes in `webhook-key` in the data dir (0600).

Every server process of a deployment shares the data dir, hence the key, so any of them can sign any webhook's
deliveries while the database holds no secret at all. Losing the key changes every webhook's secret.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE_NAME = "webhook-key"
KEY_BYTES = 32


def load_or_create_webhook_key(directory: Path) -> bytes:
    """The key in `directory`, created (0600, 32 random bytes) if missing; concurrent first starts agree on one."""
    path = directory / KEY_FILE_NAME
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked into place: the file appears complete or not at all, and a
    # process that loses the race to create it reads the winner's key instead of replacing it.
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{KEY_FILE_NAME}.")  # mode 0600
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
            _fsync_directory(directory)
    finally:
        os.unlink(temporary)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    """Read the key in `path`, refusing one that others can read or that has the wrong size."""
    with path.open("rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        key = file.read()
    if mode & 0o077:
        raise PermissionError(f"webhook key {path} is accessible to other users: run `chmod 600 {path}`")
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"webhook key {path} is {len(key)} bytes, not {KEY_BYTES}: restore it from a backup, or delete it and"
            " restart to create a new one (every webhook's secret then changes: recreate the webhooks)"
        )
    return key


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
