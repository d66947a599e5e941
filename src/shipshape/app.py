"""The composition root: the only module that knows which store and driver implement each port."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web

from shipshape.api.errors import oci_errors
from shipshape.api.health import healthz
from shipshape.api.metrics import RegistryMetrics, share_between_processes
from shipshape.api.manage.context import MANAGE, ManageServices
from shipshape.api.manage.routes import add_manage_routes
from shipshape.api.oci.access import ACCESS, AccessControl, oci_access, token_endpoint
from shipshape.api.oci.context import SERVICES, OciServices
from shipshape.api.oci.routes import add_routes
from shipshape.auth.tokens import TokenIssuer
from shipshape.config import Settings
from shipshape.logs import AccessLogger, configure_logging
from shipshape.metadata import open_metadata_store
from shipshape.metadata.access_store import open_access_store
from shipshape.ports import Clock
from shipshape.services.administration import Administration
from shipshape.services.authentication import Authenticator
from shipshape.services.authorization import Authorizer
from shipshape.services.blobs import BlobService
from shipshape.services.bootstrap import ADMIN, DEFAULT_ACCOUNT, bootstrap
from shipshape.services.manifests import ManifestService
from shipshape.services.uploads import UploadService
from shipshape.storage.filesystem import FilesystemBlobStore

log = logging.getLogger("shipshape")

ADMIN_PASSWORD_ENV = "SHIPSHAPE_ADMIN_PASSWORD"
FAILED_LOGIN_MEMORY = timedelta(days=1)  # longer than any lockout window
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def build_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    """The aiohttp application for `settings`, with every service wired to its store and driver."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metadata = open_metadata_store(settings.metadata_url, clock=clock)
    blob_store = FilesystemBlobStore(settings.data_dir)
    metrics = RegistryMetrics()
    oci = OciServices(
        uploads=UploadService(blob_store, metadata, metadata, clock),
        blobs=BlobService(blob_store, metadata),
        manifests=ManifestService(metadata, clock),
        metrics=metrics,
    )
    app = web.Application(middlewares=[oci_errors, oci_access])
    app[SERVICES] = oci
    add_routes(app)
    if settings.auth:
        access_store = open_access_store(settings.metadata_url)
        authenticator, authorizer = Authenticator(access_store, clock), Authorizer(access_store, clock)
        app[ACCESS] = AccessControl(
            authenticator=authenticator,
            authorizer=authorizer,
            tokens=TokenIssuer(settings.data_dir),
            store=access_store,
            clock=clock,
            public_url=settings.public_url,
        )
        app[MANAGE] = ManageServices(
            administration=Administration(access_store, clock, authenticator, authorizer),
            clock=clock,
            public_url=settings.public_url,
        )
        add_manage_routes(app)
        app.router.add_get("/auth/token", token_endpoint, name="token")
        app.cleanup_ctx.append(
            _every(
                3600,
                "forgot old failed logins",
                lambda: access_store.forget_login_failures_before(clock.now() - FAILED_LOGIN_MEMORY),
            )
        )
        app.cleanup_ctx.append(_close_on_exit(access_store))
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics.handle, name="metrics")

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/v2"):
            response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        metrics.observe(request, response)

    app.on_response_prepare.append(on_prepare)
    purge_interval = max(1.0, min(settings.upload_max_idle.total_seconds() / 4, 600.0))
    app.cleanup_ctx.append(
        _every(purge_interval, "purged abandoned uploads", lambda: oci.uploads.purge_idle(settings.upload_max_idle))
    )
    app.cleanup_ctx.append(_close_on_exit(metadata))
    return app


def _every(seconds: float, what: str, job: Callable[[], Awaitable[int]]):  # type: ignore[no-untyped-def]
    """A background task running `job` every `seconds` while the app runs; `job` returns how much it did."""

    async def loop() -> None:
        while True:
            try:
                done = await job()
                if done:
                    log.info(what, extra={"count": done})
            except Exception:
                log.exception("%s failed", what)
            await asyncio.sleep(seconds)

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


class _Closable(Protocol):
    async def close(self) -> None: ...


def _close_on_exit(store: _Closable):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        await store.close()

    return context


def serve(settings: Settings) -> None:
    """Apply migrations, then serve: this process is the first worker and forks the others, sharing the port."""
    from shipshape.metadata.migrate import migrate  # only here: workers need not load Alembic

    configure_logging(settings.log_json, settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.metadata_url)
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


async def _bootstrap(settings: Settings) -> None:
    store = open_access_store(settings.metadata_url)
    try:
        generated = await bootstrap(store, SystemClock(), os.environ.get(ADMIN_PASSWORD_ENV) or None)
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
