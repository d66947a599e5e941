"""`shipshape`: run the registry (`serve`) and act on its data directly, on its machine (`admin`); the management
commands (`shipshape.cli.manage`) call its API."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer._click.core import Context  # typer carries its own click: its contexts and usage errors are these
from typer._click.exceptions import UsageError
from typer.core import TyperCommand

from shipshape import __version__
from shipshape.cli.manage import register

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Shipshape, a container registry that keeps your image rules.",
)


class StartCommand(TyperCommand):
    """A command that starts (or acts on) the server: a wrong option is one line on stderr and exit code 1, like
    every other reason the start fails, not click's usage box."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            if error.ctx is None or "--help" in args:
                raise
            print(f"shipshape: {error.format_message()} (see `{ctx.command_path} --help`)", file=sys.stderr)
            raise SystemExit(1) from None


@app.command(cls=StartCommand)
def serve(
    listen: Annotated[
        str | None,
        typer.Option(
            envvar="SHIPSHAPE_LISTEN",
            help="HOST:PORT to listen on; :PORT is every interface, PORT alone the default host"
            " [default: 0.0.0.0:5000, 127.0.0.1:5000 with --no-auth]",
        ),
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
        str | None,  # checked with every other setting, so that a wrong value reads the same from anywhere
        typer.Option(envvar="SHIPSHAPE_WORKERS", metavar="N", help="Server processes sharing the port [default: 1]"),
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
        str | None,
        typer.Option(
            envvar="SHIPSHAPE_LOCKOUT_FAILURES",
            metavar="N",
            help="Failed logins of one identity before it is locked out (10)",
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
        str | None,
        typer.Option(
            envvar="SHIPSHAPE_WEBHOOK_RETRY_DELAY",
            metavar="SECONDS",
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
            help="Where blobs live: file://DIR or s3://BUCKET\\[/PREFIX] [default: the data dir]",
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
    from shipshape.config import SettingsInvalid, load_settings
    from shipshape.server import serve as run

    overrides: dict[str, Any] = {
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
    except SettingsInvalid as error:
        for problem in error.problems:
            typer.echo(f"shipshape: {problem}", err=True)
        raise typer.Exit(1) from None
    run(settings)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


admin = typer.Typer(
    no_args_is_help=True,
    help="On the server's machine, without the API: act on its data dir and database directly.",
)


@admin.command("reset-password", cls=StartCommand)
def reset_password(
    username: Annotated[str, typer.Argument(help="The member whose password is lost")] = "admin",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin instead of generating one")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="SHIPSHAPE_DATA_DIR", help="The server's data dir, as for serve")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(envvar="SHIPSHAPE_DATABASE_URL", help="The server's database, as for serve")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(envvar="SHIPSHAPE_CONFIG", exists=True, dir_okay=False, help="The server's TOML file"),
    ] = None,
) -> None:
    """Set a new password for a member (the admin by default) whose password is lost: printed once, stored only
    as its Argon2id hash. Works whether the server runs or not; its cached logins with the old password end."""
    from shipshape.cli.options import read_secret
    from shipshape.config import SettingsInvalid, load_settings

    try:
        settings = load_settings(config, {"data_dir": data_dir, "database_url": database_url})
    except SettingsInvalid as error:
        for problem in error.problems:
            typer.echo(f"shipshape: {problem}", err=True)
        raise typer.Exit(1) from None
    if settings.database_url is None and not (settings.data_dir / "metadata.db").is_file():
        _refuse(
            f"no database in the data dir {settings.data_dir}: run this on the server's machine with its"
            " --data-dir (or --database-url, or --config)"
        )
    chosen = read_secret("new password") if password_stdin else None
    reason, generated = asyncio.run(_reset(settings.metadata_url, settings.data_dir, username, chosen))
    if reason is not None:
        _refuse(reason)
    if generated is None:
        typer.echo(f"Password of {username} changed")
        return
    typer.echo(
        f"New password of {username}, shown only this once (stored only as its Argon2id hash):\n\n"
        f"    {generated}\n\nLog in with `shipshape login --username {username}`."
    )


def _refuse(reason: str) -> NoReturn:
    typer.echo(f"shipshape: {reason}", err=True)
    raise typer.Exit(1)


async def _reset(url: str, data_dir: Path, username: str, password: str | None) -> tuple[str | None, str | None]:
    """(why not, None) or (None, the generated password if any)."""
    from shipshape.app import SystemClock
    from shipshape.domain.errors import NameUnknown, PasswordRejected
    from shipshape.metadata.access_store import open_access_store
    from shipshape.metadata.migrate import migrate
    from shipshape.server import database_failure
    from shipshape.services.bootstrap import reset_password as reset
    from shipshape.storage.epoch import FileEpoch

    try:
        await asyncio.to_thread(migrate, url)  # a no-op on the running server's database, which is at head
        store = open_access_store(url, threads=1)
    except Exception as error:  # any reason the database cannot be used: one line
        return database_failure(url, error), None
    try:
        _, generated = await reset(store, store, SystemClock(), username, password)
    except NameUnknown:
        return f"there is no member {username!r}: give the username of an owner (`reset-password USERNAME`)", None
    except PasswordRejected as error:
        return f"the new password is not accepted: {error.message}", None
    except Exception as error:
        return database_failure(url, error), None
    finally:
        await store.close()
    epoch = data_dir / "revocation-epoch"
    if epoch.is_file():  # this machine's server processes drop cached logins at once, not within a second
        FileEpoch(epoch).advance()
    return None, generated


app.add_typer(admin, name="admin")
register(app)
