"""`shipshape`: run the registry (`serve`); the management commands (`shipshape.cli.manage`) call its API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from shipshape import __version__
from shipshape.cli.manage import register

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Shipshape, a container registry that keeps your image rules.",
)


@app.command()
def serve(
    listen: Annotated[
        str | None,
        typer.Option(envvar="SHIPSHAPE_LISTEN", help="HOST:PORT to listen on [default: 127.0.0.1:5000]"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="SHIPSHAPE_DATA_DIR",
            help="Blobs, uploads and the SQLite database [default: ./shipshape-data]",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="SHIPSHAPE_DATABASE_URL",
            help="SQLAlchemy URL; default SQLite in the data dir; postgresql://… accepted",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            envvar="SHIPSHAPE_CONFIG",
            exists=True,
            dir_okay=False,
            help="TOML file whose keys are these options' names with underscores",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(envvar="SHIPSHAPE_TLS_CERT", help="PEM certificate chain for HTTPS")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(envvar="SHIPSHAPE_TLS_KEY", help="PEM private key for HTTPS")] = None,
    log_json: Annotated[
        bool | None,
        typer.Option("--log-json/--log-text", envvar="SHIPSHAPE_LOG_JSON", help="One JSON object per log line"),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(envvar="SHIPSHAPE_LOG_LEVEL", help="debug, info, warning or error")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(envvar="SHIPSHAPE_WORKERS", help="Server processes sharing the port [default: 1]"),
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth", envvar="SHIPSHAPE_AUTH", help="Require authentication [default: on]"),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(envvar="SHIPSHAPE_PUBLIC_URL", help="URL clients use, e.g. https://registry.example.com"),
    ] = None,
    lockout_failures: Annotated[
        int | None,
        typer.Option(
            envvar="SHIPSHAPE_LOCKOUT_FAILURES", help="Failed logins of one identity before it is locked out (10)"
        ),
    ] = None,
    lockout_duration: Annotated[
        str | None,
        typer.Option(envvar="SHIPSHAPE_LOCKOUT_DURATION", help="How long a lockout lasts, e.g. 15m (15m)"),
    ] = None,
    upload_max_idle: Annotated[
        str | None,
        typer.Option(envvar="SHIPSHAPE_UPLOAD_MAX_IDLE", help="Purge uploads idle this long, e.g. 24h"),
    ] = None,
    webhook_retry_delay: Annotated[
        float | None,
        typer.Option(
            envvar="SHIPSHAPE_WEBHOOK_RETRY_DELAY",
            help="Seconds before a failed webhook delivery is retried, doubled each time (10)",
        ),
    ] = None,
    webhook_allow_private: Annotated[
        bool | None,
        typer.Option(
            "--webhook-allow-private/--webhook-public-only",
            envvar="SHIPSHAPE_WEBHOOK_ALLOW_PRIVATE",
            help="Deliver webhooks to loopback and private addresses too [default: public only]",
        ),
    ] = None,
    gc_interval: Annotated[
        str | None, typer.Option(envvar="SHIPSHAPE_GC_INTERVAL", help="Run garbage collection this often (1h)")
    ] = None,
    gc_grace: Annotated[
        str | None,
        typer.Option(envvar="SHIPSHAPE_GC_GRACE", help="Keep unreferenced blobs and uploads this long (1h)"),
    ] = None,
    retention_interval: Annotated[
        str | None,
        typer.Option(
            envvar="SHIPSHAPE_RETENTION_INTERVAL", help="Apply the registries' retention rules this often (24h)"
        ),
    ] = None,
    pull_tracking: Annotated[
        bool | None,
        typer.Option(
            "--pull-tracking/--no-pull-tracking",
            envvar="SHIPSHAPE_PULL_TRACKING",
            help="Record who pulled each manifest and when [default: on]",
        ),
    ] = None,
    quotas: Annotated[
        bool | None,
        typer.Option(
            "--quotas/--no-quotas",
            envvar="SHIPSHAPE_QUOTAS",
            help="Refuse pushes past an account's storage quota [default: on]",
        ),
    ] = None,
    blob_store: Annotated[
        str | None,
        typer.Option(
            envvar="SHIPSHAPE_BLOB_STORE",
            help="Where blobs live: file://DIR or s3://BUCKET[/PREFIX] [default: the data dir]",
        ),
    ] = None,
    s3_endpoint_url: Annotated[
        str | None,
        typer.Option(envvar="SHIPSHAPE_S3_ENDPOINT_URL", help="S3 endpoint for stores other than AWS"),
    ] = None,
    s3_region: Annotated[str | None, typer.Option(envvar="SHIPSHAPE_S3_REGION", help="S3 region")] = None,
    s3_redirect: Annotated[
        bool | None,
        typer.Option(
            "--s3-redirect/--no-s3-redirect",
            envvar="SHIPSHAPE_S3_REDIRECT",
            help="Redirect blob GETs to short-lived presigned S3 URLs [default: off]",
        ),
    ] = None,
) -> None:
    """Run the registry."""
    from shipshape.config import load_settings
    from shipshape.server import serve as run

    overrides = {
        "listen": listen, "data_dir": data_dir, "database_url": database_url, "tls_cert": tls_cert,
        "tls_key": tls_key, "log_json": log_json, "log_level": log_level, "workers": workers,
        "upload_max_idle": upload_max_idle,
        "auth": auth,
        "public_url": public_url,
        "lockout_failures": lockout_failures,
        "lockout_duration": lockout_duration,
        "webhook_retry_delay": webhook_retry_delay,
        "webhook_allow_private": webhook_allow_private,
        "gc_interval": gc_interval,
        "gc_grace": gc_grace,
        "retention_interval": retention_interval,
        "pull_tracking": pull_tracking,
        "quotas": quotas,
        "blob_store": blob_store,
        "s3_endpoint_url": s3_endpoint_url,
        "s3_region": s3_region,
        "s3_redirect": s3_redirect,
    }  # fmt: skip
    try:
        settings = load_settings(config, overrides)
    except (ValidationError, OSError, ValueError) as error:
        typer.echo(f"shipshape: invalid settings: {error}", err=True)
        raise typer.Exit(2) from None
    run(settings)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


register(app)
