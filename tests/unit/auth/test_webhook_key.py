"""The webhook key file: created once, 0600, refused when others can read it or it is the wrong size."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shipshape.auth.webhook_key import KEY_BYTES, KEY_FILE_NAME, load_or_create_webhook_key


def test_the_key_is_created_private_once_and_read_back(tmp_path: Path) -> None:
    key = load_or_create_webhook_key(tmp_path / "data")

    path = tmp_path / "data" / KEY_FILE_NAME
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_webhook_key(tmp_path / "data") == key
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    load_or_create_webhook_key(tmp_path)
    os.chmod(tmp_path / KEY_FILE_NAME, 0o644)

    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_webhook_key(tmp_path)


def test_a_key_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_bytes(b"short")
    path.chmod(0o600)

    with pytest.raises(ValueError, match="5 bytes, not 32"):
        load_or_create_webhook_key(tmp_path)
