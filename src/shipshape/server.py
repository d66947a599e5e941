"""Running the registry: migrations, the first start, worker processes sharing the port, and TLS."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import gc
import getpass
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from aiohttp import web

from shipshape.api.metrics import share_between_processes
from shipshape.app import SystemClock, build_app, open_blob_store
from shipshape.config import Settings
from shipshape.domain.errors import PasswordRejected
from shipshape.domain.passwords import check_password
from shipshape.logs import AccessLogger, configure_logging
from shipshape.metadata.access_store import open_access_store
from shipshape.services.bootstrap import ADMIN, DEFAULT_ACCOUNT, bootstrap
from shipshape.storage import BlobStoreUnavailable

log = logging.getLogger("shipshape")

ADMIN_PASSWORD_ENV = "SHIPSHAPE_ADMIN_PASSWORD"
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


class StartFailed(Exception):
    """Why the server cannot start, in one line that says what to change."""


def serve(settings: Settings) -> None:
    """Check what can be checked, apply migrations, then serve: this process is the first worker and forks the
    others, sharing the port. Every reason not to start is one line on stderr and exit code 1."""
    configure_logging(settings.log_json, settings.log_level)
    generated: str | None = None
    try:
        generated = _start(settings)
    except StartFailed as failure:
        _fail(str(failure), generated)
    except Exception as error:  # a start-up failure nobody foresaw: still one line, not a traceback
        log.debug("start-up failed", exc_info=True)
        _fail(f"could not start: {type(error).__name__}: {error} (--log-level debug shows where)", generated)


def _fail(reason: str, generated: str | None) -> NoReturn:
    print(f"shipshape: {reason}", file=sys.stderr, flush=True)
    if generated is not None:  # the account exists now: its password must not be lost above the error
        print(f"shipshape: the admin password created at this start is {generated} (not shown again)", flush=True)
    raise SystemExit(1)


def _start(settings: Settings) -> str | None:
    """Everything that can refuse the start comes before the first account is created, so a refused start
    creates nothing whose password would be lost; the generated admin password, if any, is shown after the
    address is bound."""
    admin_password = _admin_password() if settings.auth else None
    tls = _tls_context(settings)
    sockets = _bind(settings)
    _writable_directory(settings.data_dir, "data dir", "--data-dir")
    if settings.blob_dir is not None and settings.blob_dir != settings.data_dir:
        _writable_directory(settings.blob_dir, "blob store directory", "--blob-store file://DIR")
    asyncio.run(_check_blob_store(settings))
    _migrate_in_child(settings.metadata_url, quiet=settings.log_level != "debug")
    generated = asyncio.run(_bootstrap(settings, admin_password)) if settings.auth else None
    scheme = "https" if tls is not None else "http"
    addresses = ", ".join(f"{scheme}://{_address(sock)}" for sock in sockets)
    log.info(
        "listening on %s",
        addresses,
        extra={"listen": settings.address, "auth": settings.auth, "workers": settings.workers},
    )
    if settings.auth:
        first = f"{scheme}://{_address(sockets[0])}" if sockets else addresses
        log.info("web console at %s/ui/ (sign in as a member)", first)
    if generated is not None:
        _show_admin_password(generated)
    if settings.workers == 1:
        _run_worker(settings, sockets, tls)
        return generated
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    share_between_processes(metrics_dir)
    # Fork after the imports and migrations: workers start at once and share this process's pages until they
    # write to them (measured: ~30 MB private per worker). No thread or database connection is open here yet.
    context = multiprocessing.get_context("fork")
    # Objects alive now are never garbage: keep the collector from visiting them, which would write to (and so
    # copy) every page they share with the forked workers.
    gc.collect()
    gc.freeze()
    others = [
        context.Process(target=_run_forked_worker, args=(settings, os.getpid(), sockets, tls), daemon=True)
        for _ in range(settings.workers - 1)
    ]
    for worker in others:
        worker.start()
    try:
        _run_worker(settings, sockets, tls)
    finally:
        for worker in others:
            worker.terminate()
        for worker in others:
            worker.join(timeout=30)
    return generated


def _writable_directory(path: Path, what: str, option: str) -> None:
    """Refuse, in one line, a directory that is a file, cannot be created or cannot be written."""
    if path.exists() and not path.is_dir():
        raise StartFailed(f"the {what} {path} is a file, not a directory: give {option} a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".shipshape-write-test-"):
            pass
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise StartFailed(
            f"the {what} {path} cannot be written ({reason}): give {option} a directory that user"
            f" {getpass.getuser()} may write"
        ) from None


def _bind(settings: Settings) -> list[socket.socket]:
    """Bind the listening sockets now (listening starts with the server), so that a port in use or an unknown
    host refuses the start before anything else is done."""
    try:
        found = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise StartFailed(
            f"cannot listen on {settings.address}: unknown host {settings.host!r} ({error.strerror}): give an"
            f" address of this machine, e.g. --listen 127.0.0.1:{settings.port} or 0.0.0.0:{settings.port}"
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if settings.workers > 1:  # every worker binds its own socket; the kernel spreads connections
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as error:
        for sock in sockets:
            sock.close()
        raise StartFailed(f"cannot listen on {settings.address}: {_bind_failure(settings, error)}") from None
    return sockets


def _bind_failure(settings: Settings, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "address already in use, by another program (another registry?): stop it, or give --listen another port"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{settings.host} is not an address of this machine: give one of its addresses, or 0.0.0.0 for all"
    if error.errno == errno.EACCES:
        return f"port {settings.port} needs privileges this user lacks: give --listen a port from 1024, e.g. 5000"
    return (error.strerror or str(error)).lower()


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


def _migrate_in_child(url: str, *, quiet: bool) -> None:
    """Migrate in a child process that exits, so that no worker carries Alembic's modules (~7 MB) for life."""
    child = multiprocessing.get_context("fork").Process(target=_migrate, args=(url, quiet), name="shipshape-migrate")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(1)  # the child said why


def _migrate(url: str, quiet: bool) -> None:
    from shipshape.metadata.migrate import migrate

    if quiet:  # Alembic's plugin and revision chatter is not news to an operator
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        migrate(url)
    except Exception as error:  # whatever stops the migration, say it in one line
        log.debug("migrating the metadata database failed", exc_info=True)
        print(f"shipshape: {database_failure(url, error)}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def database_failure(url: str, error: Exception) -> str:
    """One line on a database that cannot be used: where it is (without its password) and the driver's reason."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    reason = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
    where = make_url(url).render_as_string(hide_password=True)
    return f"cannot use the metadata database {where}: {reason} (check --database-url and that the database runs)"


async def _check_blob_store(settings: Settings) -> None:
    """Refuse to start, in one line, on a blob store that cannot be used (before any worker is forked)."""
    try:
        store = open_blob_store(settings)
    except OSError as error:
        raise StartFailed(f"cannot open the blob store: {error}") from None
    try:
        await store.open()
    except BlobStoreUnavailable as error:
        raise StartFailed(str(error)) from None
    finally:
        await store.close()


def _admin_password() -> str | None:
    """The first admin's password from the environment, checked before anything is made."""
    password = os.environ.get(ADMIN_PASSWORD_ENV) or None
    if password is not None:
        try:
            check_password(password, ADMIN)
        except PasswordRejected as error:
            raise StartFailed(f"{ADMIN_PASSWORD_ENV} is not accepted: {error.message}") from None
    return password


async def _bootstrap(settings: Settings, password: str | None) -> str | None:
    store = open_access_store(settings.metadata_url)
    try:
        return await bootstrap(store, SystemClock(), password)
    except Exception as error:  # the database went away since it was migrated
        raise StartFailed(database_failure(settings.metadata_url, error)) from None
    finally:
        await store.close()


def _show_admin_password(password: str) -> None:
    # Shown once, on the terminal only: never logged, and stored only as an Argon2id hash. Printed after the
    # address is bound and the log says where the server listens, so that nothing of the start-up follows it.
    print(
        f"\nCreated account {DEFAULT_ACCOUNT!r} and its owner {ADMIN!r}. The admin password, shown only this once:\n"
        f"\n    {password}\n\n"
        f"Log in with `shipshape login --username {ADMIN}` and keep the password safe. Lost it? On this machine,"
        f" `shipshape admin reset-password` sets a new one.\n",
        flush=True,
    )


def _run_forked_worker(
    settings: Settings, parent: int, inherited: list[socket.socket], tls: ssl.SSLContext | None
) -> None:
    # Linux: the kernel sends this worker SIGTERM when the first worker dies, even by SIGKILL, so no worker
    # outlives the process that owns it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    for sock in inherited:  # the first worker's: this one binds its own, so the kernel spreads connections
        sock.close()
    try:
        sockets = _bind(settings)
    except StartFailed as failure:
        print(f"shipshape: a worker {failure}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    _run_worker(settings, sockets, tls)


def _run_worker(settings: Settings, sockets: list[socket.socket], tls: ssl.SSLContext | None) -> None:
    configure_logging(settings.log_json, settings.log_level)
    # The default asyncio loop, not uvloop: aiohttp's FileResponse uses sendfile only there.
    web.run_app(build_app(settings), sock=sockets, ssl_context=tls, access_log_class=AccessLogger, print=None)


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The HTTPS context, or None for plain HTTP (the settings hold both files or neither)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except OSError as error:  # ssl.SSLError included
        reason = "not a certificate chain and its key" if isinstance(error, ssl.SSLError) else error.strerror
        raise StartFailed(
            f"cannot serve HTTPS with --tls-cert {settings.tls_cert} and --tls-key {settings.tls_key} ({reason}):"
            " give a PEM certificate chain and the PEM private key that goes with it"
        ) from None
    return context
