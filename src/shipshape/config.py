"""Typed settings of `shipshape serve`, merged from defaults, a TOML file, the environment and the command line."""

from __future__ import annotations

import difflib
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipshape.domain.durations import parse_duration

LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsInvalid(Exception):
    """Settings that cannot be used: one line per problem, each naming its setting and the fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings(BaseModel):
    """Every setting; TOML keys are the field names (e.g. `data_dir = "/var/lib/shipshape"`)."""

    model_config = ConfigDict(extra="forbid")

    # HOST:PORT, [IPv6]:PORT, :PORT (every interface, as in Distribution's `addr: :5000`) or PORT (the default
    # host); default: 0.0.0.0:5000 with authentication, 127.0.0.1:5000 without.
    listen: str | None = None
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
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # a TOML number: no unit, refused like a bare number on the command line (but 0)
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
        host, _, port = value.strip().rpartition(":")
        if not port.isdigit() or not 1 <= int(port) <= 65535 or (host.startswith("[") != host.endswith("]")):
            raise ValueError(
                f"{value!r} is not HOST:PORT: give e.g. 127.0.0.1:5000, 0.0.0.0:5000, [::]:5000, :5000"
                " (every interface) or 5000 (the default host), with a port from 1 to 65535"
            )
        return value.strip()

    @field_validator("public_url", "s3_endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError(f"{value!r} is not a URL: give e.g. https://registry.example.com")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
        return value.lower()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None:
            from shipshape.metadata.engine import database_url

            database_url(value)  # its ValueError says which URLs are accepted, and never echoes a password
        return value

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            what = "is a directory" if value.is_dir() else "does not exist"
            raise ValueError(f"{str(value)!r} {what}: give a PEM file")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("cert", "key") if self.tls_key is None else ("key", "cert")
            raise ValueError(
                f"tls_{given} (--tls-{given}) is set without tls_{missing} (--tls-{missing}): HTTPS needs both"
            )
        return self

    @field_validator("blob_store")
    @classmethod
    def _blob_store(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("file", "s3") or not rest.strip("/"):
            raise ValueError(f"give file://DIR or s3://BUCKET[/PREFIX], not {value!r}")
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
        given = self.address.rpartition(":")[0]
        if not given:  # ":5000" is every interface, "5000" the default host
            return "0.0.0.0" if ":" in self.address or self.auth else "127.0.0.1"
        return given.strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'metadata.db').resolve()}"


def load_settings(config_file: Path | None, overrides: dict[str, Any]) -> Settings:
    """Settings from `config_file` (if any) with `overrides` (command line and environment) on top.

    Raises `SettingsInvalid`, whose lines name each setting at fault (never pydantic's raw text)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            with config_file.open("rb") as file:
                values.update(tomllib.load(file))
        except OSError as error:
            raise SettingsInvalid([f"cannot read the config file {str(config_file)!r}: {error.strerror}"]) from None
        except tomllib.TOMLDecodeError as error:
            raise SettingsInvalid([f"the config file {str(config_file)!r} is not valid TOML: {error}"]) from None
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsInvalid(describe(error, config_file)) from None


def describe(error: ValidationError, config_file: Path | None = None) -> list[str]:
    """One readable line per problem in `error`, naming the setting (its TOML key and its option)."""
    problems = []
    for problem in error.errors(include_url=False):
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            where = f" in {config_file}" if config_file is not None else ""
            close = difflib.get_close_matches(key, Settings.model_fields, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "the keys are the options' names with underscores"
            problems.append(f"{key}{where} is not a setting: {hint}")
            continue
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] != "value_error":  # pydantic's own wording: say what was given
            message = f"{message[:1].lower()}{message[1:]}, not {problem['input']!r}"
        problems.append(f"{key} (--{key.replace('_', '-')}): {message}" if key else message)
    return problems
