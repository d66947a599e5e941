"""Running the registry: migrations, the first start, worker processes sharing the port, and TLS."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import ssl
import sys

from aiohttp import web

from shipshape.api.metrics import share_between_processes
from shipshape.app import SystemClock, build_app, open_blob_store
from shipshape.config import Settings
from shipshape.domain.errors import PasswordRejected
from shipshape.logs import AccessLogger, configure_logging
from shipshape.metadata.access_store import open_access_store
from shipshape.services.bootstrap import ADMIN, DEFAULT_ACCOUNT, bootstrap
from shipshape.storage import BlobStoreUnavailable

log = logging.getLogger("shipshape")

ADMIN_PASSWORD_ENV = "SHIPSHAPE_ADMIN_PASSWORD"
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def serve(settings: Settings) -> None:
    """Apply migrations, then serve: this process is the first worker and forks the others, sharing the port."""
    configure_logging(settings.log_json, settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_check_blob_store(settings))
    _migrate_in_child(settings.metadata_url)
    if settings.auth:
        asyncio.run(_bootstrap(settings))
    log.info("serving", extra={"listen": settings.address, "auth": settings.auth, "workers": settings.workers})
    if settings.workers == 1:
        _run_worker(settings)
        return
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
        context.Process(target=_run_forked_worker, args=(settings, os.getpid()), daemon=True)
        for _ in range(settings.workers - 1)
    ]
    for worker in others:
        worker.start()
    try:
        _run_worker(settings)
    finally:
        for worker in others:
            worker.terminate()
        for worker in others:
            worker.join(timeout=30)


def _migrate_in_child(url: str) -> None:
    """Migrate in a child process that exits, so that no worker carries Alembic's modules (~7 MB) for life."""
    from shipshape.metadata.migrate import migrate

    child = multiprocessing.get_context("fork").Process(target=migrate, args=(url,), name="shipshape-migrate")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(1)


async def _check_blob_store(settings: Settings) -> None:
    """Refuse to start, in one line, on a blob store that cannot be used (before any worker is forked)."""
    store = open_blob_store(settings)
    try:
        await store.open()
    except BlobStoreUnavailable as error:
        print(f"shipshape: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        await store.close()


async def _bootstrap(settings: Settings) -> None:
    store = open_access_store(settings.metadata_url)
    try:
        generated = await bootstrap(store, SystemClock(), os.environ.get(ADMIN_PASSWORD_ENV) or None)
    except PasswordRejected as error:
        print(f"shipshape: {ADMIN_PASSWORD_ENV} is not accepted: {error.message}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    finally:
        await store.close()
    if generated is not None:
        # Shown once, on the terminal only: never logged, and stored only as an Argon2id hash.
        print(
            f"Created account {DEFAULT_ACCOUNT!r} and its owner {ADMIN!r} with password: {generated}\n"
            f"Log in with `shipshape login --username {ADMIN}` and keep the password safe; it is not shown again.",
            flush=True,
        )


def _run_forked_worker(settings: Settings, parent: int) -> None:
    # Linux: the kernel sends this worker SIGTERM when the first worker dies, even by SIGKILL, so no worker
    # outlives the process that owns it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    _run_worker(settings)


def _run_worker(settings: Settings) -> None:
    configure_logging(settings.log_json, settings.log_level)
    # The default asyncio loop, not uvloop: aiohttp's FileResponse uses sendfile only there.
    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_context=_tls_context(settings),
        access_log_class=AccessLogger,
        reuse_port=settings.workers > 1,
        print=None,
    )


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context
