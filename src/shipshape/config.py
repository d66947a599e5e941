"""Typed settings of `shipshape serve`, merged from defaults, a TOML file, the environment and the command line."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shipshape.domain.durations import parse_duration


class Settings(BaseModel):
    """Every setting; TOML keys are the field names (e.g. `data_dir = "/var/lib/shipshape"`)."""

    model_config = ConfigDict(extra="forbid")

    listen: str | None = None  # default: 0.0.0.0:5000 with authentication, 127.0.0.1:5000 without
    auth: bool = True
    public_url: str | None = None  # how clients reach the server (token realm, pull secrets); default: request Host
    data_dir: Path = Path("shipshape-data")
    database_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_json: bool = False
    log_level: str = "info"
    workers: int = Field(default=1, ge=1, le=64)
    upload_max_idle: timedelta = timedelta(hours=24)
    lockout_failures: int = Field(default=10, ge=1, le=1000)  # failed logins of one identity before a lockout
    lockout_duration: timedelta = timedelta(minutes=15)  # how long failures count, and so how long a lockout lasts
    # Seconds before a failed webhook delivery's first retry; doubled after each further failure (capped at 1 h).
    webhook_retry_delay: float = Field(default=10.0, gt=0, le=3600)
    # Deliver webhooks to loopback, link-local and private addresses too (off: they could probe the server's network).
    webhook_allow_private: bool = False
    # Garbage collection: how often it runs, and how long something unreferenced is kept (a push in progress uploads
    # its blobs before its manifest references them).
    gc_interval: timedelta = timedelta(hours=1)
    gc_grace: timedelta = timedelta(hours=1)
    # How often the registries' retention rules run.
    retention_interval: timedelta = timedelta(hours=24)
    # Count pulls per manifest and per credential (last pulled, how often): what retention protects and `image show`
    # tells. Batched off the request path.
    pull_tracking: bool = True
    # Refuse pushes that would take an account past its storage quota (off: usage is still measured and reported,
    # alerts included, but nothing is refused; for a server whose disk is someone else's concern).
    quotas: bool = True
    # Where blob bytes live: file://DIR (default: the data dir) or s3://BUCKET[/PREFIX], an S3-compatible store.
    # S3 credentials come the usual way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role).
    blob_store: str | None = None
    s3_endpoint_url: str | None = None  # for stores other than AWS, e.g. http://seaweedfs:8333
    s3_region: str | None = None
    # Answer blob GETs on S3 with a 307 to a short-lived presigned URL, so that the bytes bypass the registry.
    s3_redirect: bool = False

    @field_validator(
        "upload_max_idle", "lockout_duration", "gc_interval", "gc_grace", "retention_interval", mode="before"
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("gc_interval", "retention_interval")
    @classmethod
    def _interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("an interval must be at least 1s, such as 1h or 24h")
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen must be HOST:PORT such as 127.0.0.1:5000, not {value!r}")
        return value

    @field_validator("blob_store")
    @classmethod
    def _blob_store(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("file", "s3") or not rest.strip("/"):
            raise ValueError(f"blob_store must be file://DIR or s3://BUCKET[/PREFIX], not {value!r}")
        return value

    @property
    def blob_dir(self) -> Path | None:
        """The directory of a filesystem blob store (None for S3)."""
        if self.blob_store is None:
            return self.data_dir
        scheme, _, rest = self.blob_store.partition("://")
        return Path(rest) if scheme == "file" else None

    @property
    def address(self) -> str:
        """Where to listen: everywhere once authentication protects the server, else only on loopback."""
        return self.listen or ("0.0.0.0:5000" if self.auth else "127.0.0.1:5000")

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'metadata.db').resolve()}"


def load_settings(config_file: Path | None, overrides: dict[str, Any]) -> Settings:
    """Settings from `config_file` (if any) with `overrides` (command line and environment) on top."""
    values: dict[str, Any] = {}
    if config_file is not None:
        with config_file.open("rb") as file:
            values.update(tomllib.load(file))
    values.update({key: value for key, value in overrides.items() if value is not None})
    return Settings.model_validate(values)
