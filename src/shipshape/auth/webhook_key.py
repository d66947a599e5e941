"""The server key that webhook secrets are derived from: 32 random bytes in `webhook-key` in the data dir (0600).

Any server process can sign any webhook's deliveries while the database holds no secret at all. Losing the key
changes every webhook's secret.
"""

from __future__ import annotations

from pathlib import Path

from shipshape.auth.key_files import KEY_BYTES, load_or_create_key

KEY_FILE_NAME = "webhook-key"
__all__ = ["KEY_BYTES", "KEY_FILE_NAME", "load_or_create_webhook_key"]


def load_or_create_webhook_key(directory: Path) -> bytes:
    """The key in `directory`, created if missing."""
    return load_or_create_key(
        directory / KEY_FILE_NAME, "webhook key", "every webhook's secret then changes: recreate the webhooks"
    )
