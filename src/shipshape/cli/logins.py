"""The login `shipshape login` keeps: server, username and password in `$XDG_CONFIG_HOME/shipshape/login.json`
(or `~/.config/shipshape/login.json`), readable only by its owner."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


@dataclass(frozen=True, slots=True)
class StoredLogin:
    server: str
    username: str
    password: str


def login_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "shipshape" / "login.json"


def load() -> StoredLogin | None:
    path = login_file()
    try:
        data = json.loads(path.read_text())
        return StoredLogin(server=str(data["server"]), username=str(data["username"]), password=str(data["password"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not a login saved by `shipshape login`: delete it and log in again") from None


def save(login: StoredLogin) -> Path:
    """Write `login` so that only its owner can read it, replacing any earlier one atomically."""
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), FILE_MODE)  # whatever the umask, and even if the file existed
        json.dump(asdict(login), file)
        file.write("\n")
    os.replace(temporary, path)
    return path


def forget() -> bool:
    """Delete the stored login; whether there was one."""
    try:
        login_file().unlink()
    except FileNotFoundError:
        return False
    return True
